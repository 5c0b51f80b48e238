"""The life of an outbox entry: pending (leased to whoever publishes it) → sent.

Pure functions building the documents and updates; the relay applies them atomically.
"""

from __future__ import annotations

from datetime import datetime, timedelta

PENDING = "pending"
SENT = "sent"
MAX_BROKER_BACKOFF_SECONDS = 10.0
MAX_UNROUTABLE_BACKOFF_SECONDS = 60.0


def new_entry(envelope: dict, now: datetime, writer_lease_seconds: float) -> dict:
    """A fresh entry is leased to its writer, which publishes it right after commit;
    the sweeper takes it only if that lease runs out."""
    return {
        "_id": envelope["event_id"],
        "event_type": envelope["event_type"],
        "envelope": envelope,
        "status": PENDING,
        "created_at": now,
        "lease_until": now + timedelta(seconds=writer_lease_seconds),
        "attempts": 0,
    }


def claimable(now: datetime) -> dict:
    return {"status": PENDING, "lease_until": {"$lte": now}}


def claim(now: datetime, lease_seconds: float) -> dict:
    return {"$set": {"lease_until": now + timedelta(seconds=lease_seconds)}, "$inc": {"attempts": 1}}


def mark_sent(now: datetime) -> dict:
    return {"$set": {"status": SENT, "sent_at": now}, "$unset": {"lease_until": ""}}


def postpone(now: datetime, reason: str, seconds: float) -> dict:
    return {"$set": {"lease_until": now + timedelta(seconds=seconds), "last_error": reason}}


def unroutable_backoff(attempts: int) -> float:
    """A subscribed event whose consumer queue is missing (the consumer has not started yet,
    or its queue was deleted) stays pending: 1 s, 2 s, 4 s ... then every minute, until the
    queue is there. It is never given up: the backlog alert tells the operator."""
    return min(MAX_UNROUTABLE_BACKOFF_SECONDS, 2.0 ** max(attempts - 1, 0))


def broker_backoff(attempts: int) -> float:
    """0.5 s, 1 s, 2 s ... capped, so a returning broker is used within seconds."""
    return min(MAX_BROKER_BACKOFF_SECONDS, 0.5 * 2 ** max(attempts, 0))
