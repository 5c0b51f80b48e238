"""Messages to a court go through an outbound queue: tried at once, then again after each
back-off delay (the last delay repeats for as long as it takes), and shown on the "stuck"
list once they have failed often enough that a person should look.

A court that refuses a message outright (a 4xx: it will never accept it as it is) does not
get it again; the message is `refused` and stays on the stuck list until someone acts.
"""

from __future__ import annotations

from datetime import datetime, timedelta

PENDING, DELIVERED, REFUSED = "pending", "delivered", "refused"

FEEDBACK = "feedback"
EXTENSION = "extension"
CONFIRMATION = "confirmation"
FILING = "filing"
ENFORCEMENT = "enforcement"
OPERATIONS = (FEEDBACK, EXTENSION, CONFIRMATION, FILING, ENFORCEMENT)


def retry_delay(failures: int, delays: list[float]) -> float:
    """Seconds to wait after the `failures`-th failure in a row (1-based)."""
    if failures < 1:
        raise ValueError("failures counts from 1")
    return float(delays[min(failures, len(delays)) - 1])


def next_attempt(now: datetime, failures: int, delays: list[float]) -> datetime:
    return now + timedelta(seconds=retry_delay(failures, delays))


def is_stuck(failures: int, stuck_after: int) -> bool:
    return failures >= stuck_after
