"""Filing with the court after mediation fails (调解不成 → 优先立案 / 速裁), and the court's
on-site acts when it sits in the centre (就地立、就地审、就地执).

  requested  to be sent to the court
  submitted  the court has the filing (filing_requested)
  filed      docket number issued (case_filed)
  refused    the court declined to file it, with reasons
  failed     the court's system refused the request as sent; a person must act
"""

from __future__ import annotations

from dataclasses import dataclass

from services.court_bridge.domain.model import FastTrackRules
from services.court_bridge.domain.referrals import RuleViolation

PRIORITY, FAST_TRACK = "priority", "fast_track"
REQUESTED, SUBMITTED, FILED, REFUSED, FAILED = "requested", "submitted", "filed", "refused", "failed"
OPEN_STATES = (REQUESTED, SUBMITTED, FILED)
ONSITE_KINDS = ("filing", "hearing", "enforcement")


@dataclass(frozen=True)
class TrackDecision:
    track: str
    reasons: tuple[str, ...]  # why it is not fast-track; empty when it is


def decide_track(category: str, facts: dict | None, undisputed_facts: str | None,
                 rules: FastTrackRules) -> TrackDecision:
    """Fast-track when every rule holds; otherwise priority, with the rules that failed."""
    reasons = []
    if category not in rules.categories:
        reasons.append(f"category {category} is not handled fast-track")
    if facts is None:
        reasons.append("the case's facts (amount, people involved) are unknown")
    else:
        amount = facts.get("amount")
        if amount is None:
            # 速裁 is for small, clear claims: a court cannot tell a claim is small when nobody
            # stated its amount, so an unknown amount rules fast-track out (0 is a stated amount).
            reasons.append(f"the amount in dispute is unknown (fast-track needs one ≤ {rules.max_amount:g})")
        elif amount > rules.max_amount:
            reasons.append(f"amount {amount:g} is over {rules.max_amount:g}")
        people = facts.get("people_involved")
        if people is not None and people > rules.max_people_involved:
            reasons.append(f"{people} people involved, over {rules.max_people_involved}")
        severity = facts.get("severity")
        if severity is not None and severity not in rules.severities:
            reasons.append(f"severity {severity}")
        if facts.get("risk_flags") and not rules.allow_risk_flags:
            reasons.append("risk flags: " + ", ".join(facts["risk_flags"]))
    if rules.require_undisputed_facts and not (undisputed_facts or "").strip():
        reasons.append("no undisputed facts were recorded")
    return TrackDecision(PRIORITY if reasons else FAST_TRACK, tuple(reasons))


def check_new_filing(existing: dict | None) -> None:
    if existing is not None and existing["state"] in OPEN_STATES:
        raise RuleViolation(f"the case already has a filing ({existing['state']})")


def filed_from_status(filing: dict, status: dict) -> dict:
    """The fields that change when the court reports on a submitted filing."""
    if filing["state"] != SUBMITTED:
        return {}
    remote = status.get("status")
    if remote == "filed":
        if not status.get("docket_number"):
            raise ValueError("the court reported a filing without a docket number")
        return {"state": FILED, "docket_number": status["docket_number"],
                "filed_at": status.get("filed_at")}
    if remote == "refused":
        return {"state": REFUSED, "reasons": [str(r) for r in status.get("reasons") or []] or ["法院未说明理由"]}
    return {}


def check_onsite(kind: str, court_sits_in_centre: bool, filing: dict | None,
                 enforcements: list[dict]) -> None:
    """On-site acts are recorded only for a court sitting in the centre, in their order."""
    if kind not in ONSITE_KINDS:
        raise RuleViolation(f"kind is one of {', '.join(ONSITE_KINDS)}")
    if not court_sits_in_centre:
        raise RuleViolation("this case's court does not sit in the centre")
    if kind == "filing" and (filing is None or filing["state"] not in (SUBMITTED, FILED)):
        raise RuleViolation("on-site filing needs a filing the court has received")
    if kind == "hearing" and (filing is None or filing["state"] != FILED):
        raise RuleViolation("an on-site hearing needs a filed case (a docket number)")
    if kind == "enforcement" and not any(entry["state"] == "applied" for entry in enforcements):
        raise RuleViolation("on-site enforcement needs an enforcement application the court has")
