"""What the route modules share: roles, ids, scope, loading a file, answer shapes, metrics."""

from __future__ import annotations

import uuid
from datetime import datetime

from services.common.auth import Principal
from services.common.case_codes import InvalidCaseCode, canonical_case_code
from services.common.errors import NotFound, ValidationFailed
from services.common.metrics import ServiceMetrics
from services.mediation.domain.codes import area_prefix
from services.mediation.domain.followup import visits_ahead
from services.mediation.domain.rules import Rules, WorkingWindow, parse_working_hours
from services.mediation.domain.scheduling import SchedulingError, Slot, check_slot

READ_ROLES = ("dispatcher", "mediator", "leader", "department", "court")
MANAGE_ROLES = ("dispatcher",)
SCHEDULE_ROLES = ("dispatcher", "mediator")
OUTCOME_ROLES = ("dispatcher", "mediator")
VISIT_ROLES = ("dispatcher", "mediator", "department")

TIME_TO_FIRST_SESSION_BUCKETS = (
    600, 1800, 3600, 4 * 3600, 12 * 3600, 86400, 2 * 86400, 3 * 86400, 7 * 86400, 14 * 86400, 30 * 86400,
)


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:16]}"


def case_ref(doc: dict) -> dict:
    return {key: doc[key] for key in ("case_id", "case_code", "jurisdiction", "category")}


def scope(principal: Principal, jurisdiction: str | None) -> list[str]:
    """The areas a listing may show: the token's, or the one asked for if the token covers it."""
    if jurisdiction:
        principal.require_jurisdiction(jurisdiction)
        return [area_prefix(jurisdiction)]
    return principal.scope_prefixes()


def canonical_code(code: str) -> str:
    try:
        return canonical_case_code(code)
    except InvalidCaseCode as exc:
        raise ValidationFailed(str(exc), {"code": [str(exc)]}, code="invalid_case_code") from exc


def sees_any(principal: Principal, codes: list[str]) -> bool:
    return any(principal.covers(code) for code in codes)


def require_file(store, principal: Principal, code: str) -> dict:
    """The mediation file of a case the caller may see; 404 otherwise (its existence stays hidden)."""
    canonical = canonical_code(code)
    found = store.find_file(canonical)
    if found is None or not principal.covers(found["jurisdiction"]):
        raise NotFound(f"no mediation file for case {canonical}")
    return found


def checked_slot(starts_at: datetime, ends_at: datetime, now: datetime, rules: Rules) -> Slot:
    try:
        return check_slot(starts_at, ends_at, now, rules)
    except SchedulingError as exc:
        raise ValidationFailed(exc.message, {exc.field: [exc.message]}) from exc


def working_hours(mediator: dict, rules: Rules) -> tuple[WorkingWindow, ...]:
    """The mediator's own week, or the default one from the rules."""
    given = mediator.get("working_hours")
    return parse_working_hours(given) if given else rules.default_working_hours


def page(items: list, limit: int, offset: int) -> dict:
    return {"items": items, "count": len(items), "limit": limit, "offset": offset}


def room_out(doc: dict) -> dict:
    out = {key: value for key, value in doc.items() if key != "_id"}
    return {"room_id": doc["_id"], **out}


def mediator_out(doc: dict) -> dict:
    out = {key: value for key, value in doc.items() if key != "_id"}
    return {"mediator_id": doc["_id"], **out}


def session_out(doc: dict) -> dict:
    hidden = {"_id", "file_id", "case_id", "next_reminder_at", "version"}
    return {"session_id": doc["_id"], **{key: value for key, value in doc.items() if key not in hidden}}


def followup_out(doc: dict, rules: Rules) -> dict:
    """A follow-up with its schedule: the visits made (when each was due, when made, what it
    found) and the visits still planned before it can turn green, each with its due day."""
    made = [{"visit_number": visit["visit_number"], "status": "made", "due": visit.get("due_at"),
             "visited_at": visit["visited_at"], "state": visit["state"]} for visit in doc["visits"]]
    ahead = visits_ahead(visits_made=doc["visit_count"], stable_streak=doc.get("stable_streak", 0),
                         planned_visits=doc["planned_visits"], next_visit_due=doc["next_visit_due"],
                         interval_working_days=doc["interval_working_days"], rules=rules)
    planned = [{"visit_number": visit.visit_number, "status": "next" if index == 0 else "planned", "due": visit.due,
                "visited_at": None, "state": None} for index, visit in enumerate(ahead)]
    out = {key: value for key, value in doc.items() if key != "_id"}
    return {"followup_id": doc["_id"], **out, "schedule": made + planned}


def agreement_out(doc: dict) -> dict:
    return {
        "agreement_id": doc["_id"],
        "agreement_no": doc["agreement_no"],
        "partial": doc["partial"],
        "sha256": doc["sha256"],
        "size": doc["size"],
        "created_at": doc["created_at"],
        "url": f"/api/v1/mediations/{doc['case_code']}/agreement",
    }


def file_out(doc: dict, sessions: list[dict], agreement: dict | None, followup: dict | None, rules: Rules) -> dict:
    out = {key: value for key, value in doc.items() if key != "_id"}
    held = [s for s in sessions if s["status"] == "held"]
    out.update({
        "file_id": doc["_id"],
        "sessions": [session_out(s) for s in sessions],
        # legal aid and counselling are sessions too; this is what the file has received of each
        "services": {purpose: sum(1 for s in held if s["purpose"] == purpose)
                     for purpose in ("mediation", "legal_aid", "counselling")},
        "agreement": agreement_out(agreement) if agreement else None,
        "followup": followup_out(followup, rules) if followup else None,
    })
    return out


class MediationMetrics:
    """The service's business metrics (labels: kinds, outcomes, categories — never people)."""

    def __init__(self, metrics: ServiceMetrics):
        self.sessions = metrics.counter(
            "onestop_mediation_sessions_total", "Sessions booked, by kind (on_site, video)", ["kind"])
        self.outcomes = metrics.counter(
            "onestop_mediation_outcomes_total",
            "Mediations concluded, by outcome (agreement, partial, failed, withdrawn) and category",
            ["outcome", "category"])
        self.time_to_first_session = metrics.histogram(
            "onestop_mediation_time_to_first_session_seconds",
            "From routing's mediation request to the start of the first mediation session held",
            buckets=TIME_TO_FIRST_SESSION_BUCKETS)
        self.conflicts = metrics.counter(
            "onestop_mediation_booking_conflicts_total",
            "Bookings refused because the room or mediator was taken (race: lost a concurrent booking)",
            ["resource"])
        self.reminders = metrics.counter(
            "onestop_mediation_reminders_total", "Session reminders handed to notify", ["reminder"])
        self.visits = metrics.counter(
            "onestop_mediation_followup_visits_total", "Follow-up visits recorded, by the state found", ["state"])
