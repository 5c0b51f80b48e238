"""The life of an outbox entry: pending (leased to whoever publishes it) → sent.

Pure functions building the documents and updates; the relay applies them atomically.
"""

from __future__ import annotations

from datetime import datetime, timedelta

PENDING = "pending"
SENT = "sent"
# Published, but no queue was bound to receive it: no consumer of this event type has
# ever started in this deployment. Kept for the record and counted, not retried forever.
UNROUTED = "unrouted"
MAX_BROKER_BACKOFF_SECONDS = 10.0
UNROUTABLE_BACKOFF_SECONDS = 30.0


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


def mark_unrouted(now: datetime) -> dict:
    return {"$set": {"status": UNROUTED, "unrouted_at": now, "sent_at": now}, "$unset": {"lease_until": ""}}


def still_in_grace(entry: dict, now: datetime, grace_seconds: float) -> bool:
    """Consumers declare their queues when they start; during a deployment's first minutes
    an unroutable event is retried, since its consumer may simply not be up yet."""
    return (now - entry["created_at"]).total_seconds() < grace_seconds


def unroutable_backoff(entry: dict, now: datetime, grace_seconds: float) -> float:
    """Try again within the grace period, and once more right at its end."""
    remaining = grace_seconds - (now - entry["created_at"]).total_seconds()
    return max(0.5, min(UNROUTABLE_BACKOFF_SECONDS, remaining))


def broker_backoff(attempts: int) -> float:
    """0.5 s, 1 s, 2 s ... capped, so a returning broker is used within seconds."""
    return min(MAX_BROKER_BACKOFF_SECONDS, 0.5 * 2 ** max(attempts, 0))
