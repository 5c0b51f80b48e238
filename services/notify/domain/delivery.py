"""The life of one message: queued → sending → sent, or back to queued with a retry time,
or failed for good; skipped when there is no address, cancelled when a later event
replaced it. Pure: it builds the documents and updates the store applies atomically."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from services.notify.domain.scheduling import QuietHours, RetryPolicy

QUEUED, SENDING, SENT, FAILED, SKIPPED, CANCELLED = "queued", "sending", "sent", "failed", "skipped", "cancelled"
STATUSES = (QUEUED, SENDING, SENT, FAILED, SKIPPED, CANCELLED)
OPEN = (QUEUED, SENDING)
SENT_EVENT, FAILED_EVENT = "notification_sent", "notification_failed"


def dedupe_key(event_id: str, kind: str, item_key: str | None, recipient_kind: str, recipient_id: str,
               channel: str) -> str:
    """One message per event, kind, item, recipient and channel — whatever redelivers the event."""
    return "|".join((event_id, kind, item_key or "-", recipient_kind, recipient_id, channel))


@dataclass(frozen=True)
class AttemptResult:
    ok: bool
    answer: str | None = None         # what the gateway said, redacted
    error: str | None = None
    permanent: bool = False           # retrying cannot help (refused address, no address)


@dataclass(frozen=True)
class Next:
    status: str
    next_attempt_at: datetime | None = None
    deferred: bool = False
    outcome_event: str | None = None  # the notify event this step emits
    retry: bool = False


def after_attempt(attempts: int, result: AttemptResult, now: datetime, retry: RetryPolicy,
                  quiet: QuietHours, channel: str, urgent: bool) -> Next:
    if result.ok:
        return Next(SENT, outcome_event=SENT_EVENT)
    if result.permanent:
        return Next(FAILED, outcome_event=FAILED_EVENT)
    retry_at = retry.next_attempt(attempts, now)
    if retry_at is None:
        return Next(FAILED, outcome_event=FAILED_EVENT)
    at, deferred = quiet.earliest(retry_at, channel, urgent)
    return Next(QUEUED, next_attempt_at=at, deferred=deferred, retry=True)


# -- documents --------------------------------------------------------------------------------
def new_notification(*, notification_id: str, key: str, event: dict, occurred_at: datetime, kind: str,
                     channel: str, urgent: bool,
                     topic: str | None, item_key: str | None, recipient: dict, title: str, body: str,
                     link: str | None, segments: int | None, status: str, now: datetime,
                     next_attempt_at: datetime | None = None, deferred: bool = False,
                     error: str | None = None) -> dict:
    history = [{"at": now, "status": status, "attempt": 0, "error": error}]
    if deferred:
        history.append({"at": now, "status": "deferred", "attempt": 0, "until": next_attempt_at,
                        "error": "quiet_hours"})
    return {
        "_id": notification_id,
        "dedupe_key": key,
        "event_id": event["event_id"],
        "source": event["source"],
        "event_type": event["event_type"],
        "occurred_at": occurred_at,
        "case_id": event["case_id"],
        "case_code": event["case_code"],
        "jurisdiction": event["jurisdiction"],
        "category": event["category"],
        "kind": kind,
        "channel": channel,
        "urgent": urgent,
        "topic": topic,
        "item_key": item_key,
        "recipient": recipient,
        "title": title,
        "body": body,
        "link": link,
        "segments": segments,
        "status": status,
        "attempts": 0,
        "next_attempt_at": next_attempt_at,
        "lease_until": now,
        "deferred_until": next_attempt_at if deferred else None,
        "created_at": now,
        "updated_at": now,
        "sent_at": None,
        "failed_at": now if status == FAILED else None,
        "error": error,
        "history": history,
    }


def claim_filter(channel: str, now: datetime) -> dict:
    """Due messages of one channel no replica holds (a crashed sender's lease runs out)."""
    return {"channel": channel, "status": {"$in": list(OPEN)}, "next_attempt_at": {"$lte": now},
            "lease_until": {"$lte": now}}


def claim_update(now: datetime, lease_seconds: float) -> dict:
    return {"$set": {"status": SENDING, "lease_until": now + timedelta(seconds=lease_seconds), "updated_at": now},
            "$inc": {"attempts": 1}}


def held_by(notification: dict) -> dict:
    """Only the claim that made this attempt may record its result."""
    return {"_id": notification["_id"], "status": SENDING, "attempts": notification["attempts"]}


def finish_update(step: Next, result: AttemptResult, attempt: int, now: datetime,
                  address: str | None = None) -> dict:
    entry = {"at": now, "status": "sent" if result.ok else "error", "attempt": attempt,
             "answer": result.answer, "error": result.error}
    fields = {"status": step.status, "updated_at": now, "lease_until": now, "error": result.error}
    if address is not None:
        fields["recipient.address"] = address
    history = [entry]
    if step.status == SENT:
        fields.update({"sent_at": now, "next_attempt_at": None, "deferred_until": None})
    elif step.status == FAILED:
        fields.update({"failed_at": now, "next_attempt_at": None})
        history.append({"at": now, "status": FAILED, "attempt": attempt, "error": result.error})
    else:
        fields.update({"next_attempt_at": step.next_attempt_at,
                       "deferred_until": step.next_attempt_at if step.deferred else None})
        if step.deferred:
            history.append({"at": now, "status": "deferred", "attempt": attempt, "until": step.next_attempt_at,
                            "error": "quiet_hours"})
    return {"$set": fields, "$push": {"history": {"$each": history}}}


def cancel_update(now: datetime, by_event: str) -> dict:
    return {"$set": {"status": CANCELLED, "updated_at": now, "next_attempt_at": None,
                     "error": f"replaced by event {by_event}"},
            "$push": {"history": {"at": now, "status": CANCELLED, "attempt": 0, "error": "replaced"}}}
