"""The life of one message: queued → sending → sent, or back to queued with a retry time,
or failed for good; skipped when there is no address, cancelled when a later event
replaced it. Pure: it builds the documents and updates the store applies atomically.

`claimable_at` is when a dispatcher may take a message: its next attempt while queued, the
end of the lease while one dispatcher holds it (so a crashed sender's messages are taken
over), none once settled. Claims happen in batches under a fresh `claim_token`; only the
claim that holds a message may record its attempt or give it back.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from services.notify.domain.scheduling import QuietHours, RetryPolicy

QUEUED, SENDING, SENT, FAILED, SKIPPED, CANCELLED = "queued", "sending", "sent", "failed", "skipped", "cancelled"
STATUSES = (QUEUED, SENDING, SENT, FAILED, SKIPPED, CANCELLED)
OPEN = (QUEUED, SENDING)
SENT_EVENT, FAILED_EVENT = "notification_sent", "notification_failed"
# The lower bound of the claim's range: settled messages (claimable_at null) stay outside the scan.
NEVER_BEFORE = datetime(1970, 1, 1, tzinfo=UTC)


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
        "claimable_at": next_attempt_at if status == QUEUED else None,
        "claim_token": None,
        "deferred_until": next_attempt_at if deferred else None,
        "created_at": now,
        "updated_at": now,
        "sent_at": None,
        "failed_at": now if status == FAILED else None,
        "error": error,
        "history": history,
    }


def claimable(channel: str, now: datetime) -> dict:
    """Messages of one channel a dispatcher may take now: queued and due, or held by a claim whose
    lease ran out. One bounded range of the (channel, claimable_at) index."""
    return {"channel": channel, "claimable_at": {"$gte": NEVER_BEFORE, "$lte": now}}


def still_claimable(notification_ids: Iterable[str], now: datetime) -> dict:
    """The claim's condition: those messages, if no other dispatcher took them in the meantime."""
    return {"_id": {"$in": list(notification_ids)}, "claimable_at": {"$gte": NEVER_BEFORE, "$lte": now}}


def claim_update(token: str, now: datetime, lease_seconds: float) -> dict:
    return {"$set": {"status": SENDING, "claim_token": token, "claimable_at": now + timedelta(seconds=lease_seconds),
                     "updated_at": now}}


def held_by(notification_id: str, token: str) -> dict:
    """Only the claim that made an attempt may record it (a claim whose lease ran out no longer does)."""
    return {"_id": notification_id, "claim_token": token, "status": SENDING}


def held_by_claim(notification_ids: Iterable[str], token: str) -> dict:
    return {"_id": {"$in": list(notification_ids)}, "claim_token": token, "status": SENDING}


def release_update(now: datetime) -> dict:
    """Claimed but not attempted (the gateway went away, the lease was running out): due again at once,
    with no attempt counted."""
    return {"$set": {"status": QUEUED, "claimable_at": now, "updated_at": now}}


def finish_update(step: Next, result: AttemptResult, attempt: int, now: datetime,
                  address: str | None = None) -> dict:
    """Record attempt number `attempt` (the claim holds the message, so the count is set, not added)."""
    entry = {"at": now, "status": "sent" if result.ok else "error", "attempt": attempt,
             "answer": result.answer, "error": result.error}
    fields = {"status": step.status, "attempts": attempt, "updated_at": now, "error": result.error,
              "claimable_at": step.next_attempt_at if step.status == QUEUED else None}
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
    return {"$set": {"status": CANCELLED, "updated_at": now, "next_attempt_at": None, "claimable_at": None,
                     "error": f"replaced by event {by_event}"},
            "$push": {"history": {"at": now, "status": CANCELLED, "attempt": 0, "error": "replaced"}}}
