"""Pre-suit referral (诉前委派): screening a court's batch, the mediation period and its
extension, and what the court is told at the end.

A referral is recorded once intake has registered its case: open (within its period) →
concluded (an outcome, or the period ran out). Items that were refused are not recorded: a
resend tries them again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from services.court_bridge.domain.calendar import days_after
from services.court_bridge.domain.model import Court, Reference

OPEN, CONCLUDED = "open", "concluded"
ACCEPTED, DUPLICATE = "accepted", "duplicate"

AGREEMENT, FAILED, WITHDRAWN, DEADLINE_PASSED = "agreement", "failed", "withdrawn", "deadline_passed"
# a court's referral time a few minutes ahead of ours is its clock, not a referral from the future
REFERRED_AT_CLOCK_SKEW = timedelta(minutes=10)
OUTCOMES = (AGREEMENT, FAILED, WITHDRAWN, DEADLINE_PASSED)


class RuleViolation(ValueError):
    """A request the rules do not allow in the referral's present state."""


def referral_key(court_id: str, referral_id: str) -> str:
    return f"{court_id}|{referral_id}"


@dataclass(frozen=True)
class Screened:
    """One item of a batch after the business checks: a candidate for intake, or refused."""

    index: int
    channel_ref: str | None
    reason: str | None = None
    detail: str | None = None
    repeated: bool = False

    @property
    def candidate(self) -> bool:
        return self.reason is None and not self.repeated


def screen_item(index: int, item: dict, court: Court, reference: Reference,
                in_scope: Callable[[str], bool], now: datetime) -> Screened:
    """Business checks on one schema-valid item (the schema has checked its shape)."""
    ref = item.get("channel_ref")

    def refuse(reason: str, detail: str) -> Screened:
        return Screened(index, ref, reason, detail)

    if item["channel"] != "court_referral":
        return refuse("not_a_court_referral", "items of a referral batch have channel court_referral")
    category = item["category"]
    cause_key = item.get("cause")
    if cause_key is not None:
        cause = reference.causes.get(cause_key)
        if cause is None:
            return refuse("cause_not_suitable", f"cause {cause_key!r} is not one suitable for pre-suit mediation")
        if cause.category != category:
            return refuse("cause_category_mismatch", f"cause {cause_key!r} belongs to category {cause.category!r}")
    if category not in reference.suitable_categories:
        return refuse("category_not_suitable", f"category {category!r} is not suitable for pre-suit mediation")
    if category not in court.categories:
        return refuse("category_not_referred", f"{court.court_id} does not refer category {category!r}")
    if not court.covers(item["jurisdiction"]):
        return refuse("outside_court_jurisdiction", f"{item['jurisdiction']} is outside {court.court_id}'s area")
    if not in_scope(item["jurisdiction"]):
        return refuse("jurisdiction_forbidden", f"{item['jurisdiction']} is outside this token's scope")
    referred_at = item.get("referred_at")
    if referred_at is not None:
        if referred_at > now + REFERRED_AT_CLOCK_SKEW:
            return refuse("referred_in_future", "referred_at is later than now")
        if referral_deadline(referred_at, court) <= now:
            return refuse("period_over", "the pre-suit mediation period ended before the centre received it")
    return Screened(index, ref)


def mark_repeats(screened: list[Screened]) -> list[Screened]:
    """A referral id sent twice in one batch is handled once; the later copies are duplicates."""
    seen: set[str] = set()
    marked = []
    for entry in screened:
        if entry.candidate and entry.channel_ref in seen:
            entry = Screened(entry.index, entry.channel_ref, repeated=True,
                             detail="the same referral id appears earlier in this batch")
        elif entry.candidate:
            seen.add(entry.channel_ref)
        marked.append(entry)
    return marked


def referral_deadline(referred_at: datetime, court: Court) -> datetime:
    """The end of the pre-suit mediation period: the court's referral days from when it
    referred the case (its own referred_at), or from when the centre received it."""
    return days_after(referred_at, court.referral_days)


@dataclass(frozen=True)
class Extension:
    days: int
    deadline: datetime
    total_days: int


def extend_deadline(referral: dict, days: int, reference: Reference, now: datetime) -> Extension:
    """An extension agreed by every party, within the rules, while the period is running."""
    rules = reference.rules.referral.extension
    if referral["state"] != OPEN:
        raise RuleViolation(f"the referral is {referral['state']}; only an open referral can be extended")
    if now >= referral["deadline"]:
        raise RuleViolation("the mediation period has already ended")
    if not 1 <= days <= rules.max_days_per_request:
        raise RuleViolation(f"an extension is 1 to {rules.max_days_per_request} days")
    total = referral.get("extended_days", 0) + days
    if total > rules.max_total_days:
        raise RuleViolation(
            f"extensions may add {rules.max_total_days} days in all; {referral.get('extended_days', 0)} used")
    return Extension(days, referral["deadline"] + timedelta(days=days), total)


def extension_reason(days: int) -> str:
    """Why the deadline moved, as the case file and the people told of it read it."""
    return f"经各方当事人同意，诉前调解期限延长{days}日"


def feedback(referral: dict, outcome: str, details: dict, concluded_at: datetime) -> dict:
    """What the court is told about one referral (JSON-ready values)."""
    if outcome not in OUTCOMES:
        raise ValueError(f"unknown outcome {outcome!r}")
    return {
        "referral_id": referral["referral_id"],
        "case_code": referral["case_code"],
        "merged_into": referral.get("merged_into"),
        "outcome": outcome,
        "concluded_at": concluded_at,
        "deadline": referral["deadline"],
        "extended_days": referral.get("extended_days", 0),
        **details,
    }


def agreement_details(data: dict, agreed_at: datetime) -> dict:
    """What the court is told of an agreement, and what its confirmation needs: the terms as
    the document states them, so that the court can read them and check them against the hash.
    An older mediation sends no terms: `terms` is then empty and the court sees that."""
    return {
        "agreement_id": data["agreement_id"],
        "agreement_hash": data["agreement_hash"],
        "terms": [str(term) for term in data.get("terms") or []],
        "partial": data.get("partial", False),
        "amount": data.get("amount"),
        "performance_deadline": data.get("performance_deadline"),
        "confirmation_requested": data.get("confirmation_requested", False),
        "mediator_id": data.get("mediator_id"),
        "agreed_at": agreed_at,
    }


def failure_details(data: dict, referral: dict, record: dict) -> dict:
    """The failure as the referring court hears of it: the mediation record (with when the
    court referred the case) and the facts nobody disputes."""
    return {
        "reason": data["reason"],
        "undisputed_facts": data.get("undisputed_facts"),
        "wants_litigation": data.get("wants_litigation", False),
        "mediation_record": {**record, "referred_at": referral["received_at"]},
    }
