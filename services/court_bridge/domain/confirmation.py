"""Judicial confirmation (司法确认) of a mediation agreement, and enforcement after it.

  not_requested  an agreement without the parties' request (they may still apply by hand)
  requested      to be sent to the court; the 30-day window runs and is warned about
  applied        the court has the application; it should accept within 3 days
  accepted       the court accepted it (立案受理)
  granted        ruling issued (裁定书编号): the agreement is enforceable
  rejected       the court refused to confirm, with reasons
  failed         the court's system refused the application as sent; a person must act
"""

from __future__ import annotations

from datetime import datetime, timedelta

from services.court_bridge.domain.calendar import days_after
from services.court_bridge.domain.model import ConfirmationRules
from services.court_bridge.domain.referrals import RuleViolation

NOT_REQUESTED, REQUESTED, APPLIED, ACCEPTED = "not_requested", "requested", "applied", "accepted"
GRANTED, REJECTED, FAILED = "granted", "rejected", "failed"
AWAITING_COURT = (APPLIED, ACCEPTED)
DUE_SOON, OVERDUE = "due_soon", "overdue"


def apply_by(agreed_at: datetime, rules: ConfirmationRules) -> datetime:
    return days_after(agreed_at, rules.apply_within_days)


def new_confirmation(agreement: dict, agreed_at: datetime, rules: ConfirmationRules,
                     court_id: str | None) -> dict:
    deadline = apply_by(agreed_at, rules)
    requested = bool(agreement.get("confirmation_requested"))
    return {
        "state": REQUESTED if requested and court_id else NOT_REQUESTED,
        "agreement_id": agreement["agreement_id"],
        "court_id": court_id,
        "apply_by": deadline,
        "warn_at": (deadline - timedelta(days=rules.warn_days_before)) if requested else None,
        "warning": None,
        "requested_by_parties": requested,
    }


def check_manual_application(confirmation: dict | None, now: datetime) -> None:
    """Applying by hand: for an agreement not yet sent, or one the court's system refused."""
    if confirmation is None:
        raise RuleViolation("no mediation agreement is recorded for this case")
    if confirmation["state"] not in (NOT_REQUESTED, FAILED):
        raise RuleViolation(f"judicial confirmation is already {confirmation['state']}")
    if now >= confirmation["apply_by"]:
        raise RuleViolation("the 30-day window to apply for judicial confirmation has closed")


def warning_level(confirmation: dict, now: datetime) -> str | None:
    """How urgent the application is while it has not reached the court."""
    if confirmation["state"] not in (REQUESTED, FAILED) or confirmation.get("warn_at") is None:
        return None
    if now >= confirmation["apply_by"]:
        return OVERDUE
    if now >= confirmation["warn_at"]:
        return DUE_SOON
    return None


def acceptance_due(applied_at: datetime, rules: ConfirmationRules) -> datetime:
    return days_after(applied_at, rules.court_acceptance_days)


def court_decision(confirmation: dict, status: dict, now: datetime) -> dict:
    """The fields that change when the court reports `status`; empty when nothing does.

    The court may jump straight to its ruling; acceptance is then recorded with it.
    """
    state = confirmation["state"]
    if state not in AWAITING_COURT:
        return {}
    remote = status.get("status")
    changes: dict = {}
    if remote in ("accepted", "granted", "rejected") and state == APPLIED:
        accepted_at = status.get("accepted_at") or now
        changes.update(state=ACCEPTED, accepted_at=accepted_at,
                       accepted_late=accepted_at > confirmation["acceptance_due"])
    if remote == "granted":
        if not status.get("ruling_number"):
            raise ValueError("the court reported a grant without a ruling number")
        changes.update(state=GRANTED, ruling_number=status["ruling_number"], decided_at=now)
    elif remote == "rejected":
        reasons = [str(reason) for reason in status.get("reasons") or []] or ["法院未说明理由"]
        changes.update(state=REJECTED, reasons=reasons, decided_at=now)
    return changes


def check_enforcement(confirmation: dict | None) -> None:
    if confirmation is None or confirmation["state"] != GRANTED:
        raise RuleViolation("enforcement needs an agreement the court has confirmed (a ruling)")
