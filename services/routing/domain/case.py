"""The routing case: assignment, its lifecycle, clocks, warnings and escalation. Pure.

Every operation takes the stored case (a dict), works on a copy and returns a `Change`: the new
case, the events it causes, and what else must be stored with it (summons, dated warnings and
escalations). The service writes all of it in one transaction, conditional on the version it read.

Lifecycle: assigned → accepted (签收) → resolved (办结); a case still `assigned` may be returned
(退回, re-routed to the suggested unit) or dispatched (派单) elsewhere; escalation moves it up the
ladder; mediation and court outcomes end it; intake may close it or merge it into another.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import UTC, datetime

from services.routing.domain import Reference, clocks
from services.routing.domain.decide import CaseFacts, Decision
from services.routing.domain.escalation import next_step, start_position
from services.routing.domain.reference import Location, scope_keys
from services.routing.domain.rules import COLOUR_RANK, matches
from services.routing.domain.summons import summon

OPEN_STATES = ("assigned", "accepted")
COLOUR_NAMES = {"blue": "蓝色预警", "yellow": "黄色交办", "red": "红色督办"}
OUTCOMES = ("agreement", "failed", "withdrawn", "filed")
# Whichever way mediation or the court ends a case, everything its unit still owed is settled.
ENDING_SIGNALS = ("handling", "feedback", "resolved", "presuit_ended")
CRITICAL_CLOCK = "critical_risk"


class TransitionNotAllowed(Exception):
    """The case's state does not allow this action (HTTP 422)."""


class InvalidInput(ValueError):
    """An action's input does not fit the reference data (HTTP 400); `field` names it."""

    def __init__(self, field_name: str, message: str):
        super().__init__(message)
        self.field = field_name


@dataclass
class Change:
    case: dict
    events: list[tuple[str, dict]] = field(default_factory=list)
    summons: list[dict] = field(default_factory=list)
    records: list[dict] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    escalations: int = 0
    assignments: list[tuple[str, str]] = field(default_factory=list)
    returned: bool = False

    def emit(self, event_type: str, data: dict) -> None:
        self.events.append((event_type, data))


def iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def local_text(moment: datetime | None, ref: Reference) -> str:
    if moment is None:
        return "—"
    return moment.astimezone(ref.rules.calendars.working.tz).strftime("%Y-%m-%d %H:%M")


def _history(case: dict, at: datetime, action: str, actor: str, **details) -> None:
    case["history"].append({"at": at, "action": action, "actor": actor,
                            "details": {k: v for k, v in details.items() if v is not None}})


def _require_state(case: dict, action: str, states: tuple[str, ...]) -> None:
    if case["state"] not in states:
        raise TransitionNotAllowed(f"cannot {action} a case that is {case['state']} (allowed: {', '.join(states)})")


def location_of(case: dict) -> Location:
    return Location.from_dict(case["location"])


def deadlines(case: dict) -> dict[str, str]:
    """The current deadline of each running clock, by clock name (the latest instance wins)."""
    return {clock["name"]: iso(clock["deadline"]) for clock in case["clocks"]
            if clock["status"] == "running" and clock["name"] != CRITICAL_CLOCK}


def refresh(case: dict) -> None:
    """Derived fields: the colour (highest raised on an active clock), when to look again, open or not."""
    colours = [clocks.colour(clock) for clock in case["clocks"]]
    case["colour"] = max(colours, key=COLOUR_RANK.__getitem__, default="none")
    dues = [due for due in (clocks.next_due(clock) for clock in case["clocks"]) if due is not None]
    case["next_check_at"] = min(dues) if dues else None
    case["open"] = case["state"] in OPEN_STATES


def attention(case: dict) -> tuple[str, str, str]:
    """The rung, level and unit watching the case now: its supervisor, or its handling unit."""
    supervision = case.get("supervision")
    if supervision:
        return supervision["rung"], supervision["level"], supervision["unit"]
    return case["escalation"]["rung"], case["level"], case["unit"]


# -- assignment --------------------------------------------------------------------------------
def _start_clocks(case: dict, facts_for_rules: dict, start_at: datetime, ref: Reference,
                  referral_at: datetime, referral_deadline: datetime | None) -> None:
    calendars = ref.rules.calendars
    for spec in ref.rules.clocks.values():
        if spec.only_if and not matches(spec.only_if, facts_for_rules):
            continue
        if spec.starts == "referral":
            case["clocks"].append(clocks.start(spec, referral_at, calendars, deadline=referral_deadline))
        else:
            case["clocks"].append(clocks.start(spec, start_at, calendars))


def _critical_clock(at: datetime, label: str) -> dict:
    return {
        "id": CRITICAL_CLOCK, "name": CRITICAL_CLOCK, "label": label, "calendar": "natural", "status": "running",
        "started_at": at, "total": 0.0, "elapsed": 0.0, "segment_start": at, "deadline": None, "due": {},
        "raised": {"red": {"due": at, "at": at}}, "ended_at": None, "end_reason": None, "on_time": None,
        "paused_at": None, "pause_reason": None, "pauses": [],
    }


def assign_new(facts: CaseFacts, decision: Decision, now: datetime, ref: Reference) -> Change:
    """Routing's first decision on a registered case, with its clocks, requests and summons."""
    start_at = min(facts.registered_at, now)
    case = {
        "_id": facts.case_id, "case_code": facts.case_code, "jurisdiction": facts.jurisdiction,
        "category": facts.category, "scope": scope_keys(facts.jurisdiction),
        "county": decision.location.county, "channel": facts.channel, "severity": facts.severity,
        "risk_flags": list(facts.risk_flags), "immediate_red": facts.immediate_red,
        "people_involved": facts.people_involved, "amount": facts.amount, "grid": facts.grid,
        "court_referred": facts.court_referred, "court_referral": facts.referral,
        "registered_at": facts.registered_at, "received_at": now,
        "state": "assigned", "open": True, "outcome": None, "mediation_outcome": None, "filed": None,
        "accepted_at": None, "accepted_by": None, "resolved_at": None, "ended_at": None, "closed_at": None,
        "merged_into": None,
        "tier": decision.tier, "level": decision.level, "unit": decision.unit,
        "lead_department": decision.lead_department, "departments": list(decision.departments),
        "committee": decision.committee, "mediation_type": decision.mediation_type, "triage": decision.triage,
        "rule": decision.rule(), "location": decision.location.as_dict(),
        "escalation": start_position(decision.level, decision.unit, ref.rules.ladder), "supervision": None,
        "colour": "none", "peak_colour": "none", "clocks": [], "next_check_at": None,
        "requested": False, "returns": 0, "return_log": [], "tags": [], "leader": None, "rating": None,
        "followups": [], "history": [], "version": 1,
    }
    _start_clocks(case, facts.rule_facts(), start_at, ref, facts.registered_at, facts.referral_deadline)
    change = Change(case=case)
    _history(case, now, "assigned", "event:intake.case_registered", tier=decision.tier, level=decision.level,
             unit=decision.unit, rule_id=decision.rule_id, triage=decision.triage)
    _emit_assigned(change, decision.rule_id, decision.reason)
    _request_handling(change, now, ref)
    if facts.immediate_red:
        _raise_critical(change, now, ref)
    refresh(case)
    return change


def _emit_assigned(change: Change, rule_id: str, reason: str) -> None:
    case = change.case
    change.assignments.append((case["tier"], case["level"]))
    change.emit("case_assigned", {
        "tier": case["tier"], "level": case["level"], "unit": case["unit"],
        "lead_department": case["lead_department"], "departments": list(case["departments"]),
        "deadlines": deadlines(case), "rule": {"rule_id": rule_id, "reason": reason}, "triage": case["triage"],
    })


def _request_handling(change: Change, now: datetime, ref: Reference) -> None:
    """General and complex cases go to mediation; complex ones summon their departments. Once per case,
    and only when someone owns it (a triage case waits for its dispatch)."""
    case = change.case
    if case["requested"] or case["triage"] or case["tier"] == "simple":
        return
    case["requested"] = True
    by_name = {clock["name"]: clock for clock in case["clocks"] if clock["status"] == "running"}
    deadline_clock = by_name.get("presuit") if case["court_referred"] else None
    deadline_clock = deadline_clock or by_name.get("resolve")
    change.emit("mediation_requested", {
        "tier": case["tier"], "mediation_type": case["mediation_type"], "committee": case["committee"],
        "departments": list(case["departments"]),
        "deadline": iso(deadline_clock["deadline"]) if deadline_clock else None,
        "court_referred": case["court_referred"],
    })
    if case["tier"] not in ref.rules.summons_tiers:
        return
    units = [ref.directory.units[unit_id] for unit_id in case["departments"] if unit_id in ref.directory.units]
    summons = summon(units, now, ref.rules.calendars.working, ref.rules.summons_on_site_minutes)
    for item in summons:
        item.update(case_id=case["_id"], case_code=case["case_code"], jurisdiction=case["jurisdiction"],
                    category=case["category"], scope=case["scope"])
    change.summons.extend(summons)
    change.emit("departments_summoned", {"summons": [
        {"summons_id": s["summons_id"], "department": s["department"], "report_by": iso(s["report_by"]),
         "on_site": s["on_site"]} for s in summons
    ]})
    _history(case, now, "summoned", "system:routing", departments=[s["department"] for s in summons])


def _raise_critical(change: Change, now: datetime, ref: Reference) -> None:
    case = change.case
    case["clocks"].append(_critical_clock(now, ref.rules.critical_label))
    case["colour"] = case["peak_colour"] = "red"
    rung, level, unit = attention(case)
    reason = f"{ref.rules.critical_label}：{case['rule']['reason']}"
    change.warnings.append("red")
    change.records.append(_warning_record(case, CRITICAL_CLOCK, "red", now, now, None, rung, unit, reason))
    change.emit("sla_warning", {"colour": "red", "clock": CRITICAL_CLOCK, "deadline": None, "level": level,
                                "unit": unit, "reason": reason, "rung": rung})
    _history(case, now, "warning", "system:routing", colour="red", clock=CRITICAL_CLOCK, unit=unit)


# -- signals: what stops clocks ---------------------------------------------------------------
def _signal(case: dict, signals: tuple[str, ...], now: datetime, reason: str, ref: Reference) -> list[str]:
    met = []
    for clock in case["clocks"]:
        if clock["name"] == CRITICAL_CLOCK:
            stops_on = ref.rules.critical_stops_on
        else:
            spec = ref.rules.clocks.get(clock["name"])
            stops_on = spec.stops_on if spec else frozenset()
        if stops_on & set(signals) and clocks.stop(clock, now, reason, met=True, calendars=ref.rules.calendars):
            met.append(clock["id"])
    return met


def _stop_all(case: dict, now: datetime, reason: str, ref: Reference) -> list[str]:
    return [clock["id"] for clock in case["clocks"]
            if clocks.stop(clock, now, reason, met=False, calendars=ref.rules.calendars)]


# -- actions by units, dispatchers and leaders ---------------------------------------------------
def accept(case: dict, now: datetime, actor: str, note: str | None, ref: Reference) -> Change:
    _require_state(case, "accept", ("assigned",))
    case = copy.deepcopy(case)
    case.update(state="accepted", accepted_at=now, accepted_by=actor)
    met = _signal(case, ("accepted",), now, "accepted", ref)
    _history(case, now, "accepted", actor, unit=case["unit"], clocks_met=met)
    change = Change(case=case)
    change.emit("case_accepted", {"unit": case["unit"], "actor": actor, "reason": note, "suggested_unit": None})
    refresh(case)
    return change


def _may_take(case: dict, unit_jurisdiction: str) -> bool:
    """A unit of the case's county, or of its city; any unit when routing could not place the case."""
    county, city = case["county"], case["location"].get("city")
    if county:
        return unit_jurisdiction.startswith(county) or unit_jurisdiction == city
    if city:
        return unit_jurisdiction.startswith(city[:4])
    return True


def _unit_placement(unit_id: str, ref: Reference) -> tuple[str, bool]:
    """The level a unit handles at, and whether it is a department (which then leads)."""
    unit = ref.directory.units[unit_id]
    return unit.level, unit.kind == "department"


def _reassign(case: dict, now: datetime, unit_id: str, rule_id: str, reason: str, actor: str,
              ref: Reference, change: Change, field_name: str) -> None:
    unit = ref.directory.unit(unit_id)
    if unit is None:
        raise InvalidInput(field_name, f"{unit_id} is not a unit of the directory")
    if unit.kind == "committee":
        raise InvalidInput(field_name, f"{unit_id} is a mediation committee: it mediates, it does not own cases")
    if not _may_take(case, unit.jurisdiction):
        raise InvalidInput(field_name, f"{unit_id} is not responsible for {case['jurisdiction']}")
    if unit_id == case["unit"]:
        raise InvalidInput(field_name, f"the case is already with {unit_id}")
    level, is_department = _unit_placement(unit_id, ref)
    if unit.kind in ("grid", "community", "township") or location_of(case).problem:
        # A person has placed the case: where it is follows the unit chosen for it.
        place = ref.directory.locate(unit.jurisdiction[:12], unit_id[5:] if unit.kind == "grid" else None)
        case["location"] = place.as_dict()
        case["county"] = place.county
    county = case["county"] or unit.jurisdiction[:6]
    category = ref.directory.categories.get(case["category"])
    if is_department:
        departments = [d for d in case["departments"] if d != case["lead_department"]]
        case["lead_department"] = unit_id
        case["departments"] = [unit_id, *departments]
    if case["committee"] is None and category is not None:
        committee = ref.directory.committee(county, category.committee)
        case["committee"] = committee.unit_id if committee else None
    previous = case["unit"]
    case.update(unit=unit_id, level=level, triage=False, supervision=None)
    case["escalation"] = {**start_position(level, unit_id, ref.rules.ladder),
                          "steps": case["escalation"]["steps"]}
    case["rule"] = {**case["rule"], "rule_id": rule_id, "reason": reason, "level_rule_id": rule_id,
                    "level_reason": reason}
    for clock in list(case["clocks"]):
        spec = ref.rules.clocks.get(clock["name"])
        if spec and spec.restart_on_reassign and clock["status"] in clocks.ACTIVE:
            clocks.stop(clock, now, "reassigned", met=False, calendars=ref.rules.calendars)
            instance = sum(1 for c in case["clocks"] if c["name"] == spec.name) + 1
            case["clocks"].append(clocks.start(spec, now, ref.rules.calendars, clock_id=f"{spec.name}#{instance}"))
    _history(case, now, "reassigned", actor, from_unit=previous, to_unit=unit_id, rule_id=rule_id)
    _emit_assigned(change, rule_id, reason)
    _request_handling(change, now, ref)


def return_case(case: dict, now: datetime, actor: str, reason: str, suggested_unit: str,
                ref: Reference) -> Change:
    """退回: the unit says the case is not its own; it is re-routed to the suggested unit."""
    _require_state(case, "return", ("assigned",))
    case = copy.deepcopy(case)
    change = Change(case=case, returned=True)
    returning = case["unit"]
    case["returns"] += 1
    case["return_log"].append({"at": now, "unit": returning, "reason": reason, "suggested_unit": suggested_unit})
    change.emit("case_returned", {"unit": returning, "actor": actor, "reason": reason,
                                  "suggested_unit": suggested_unit})
    target = ref.directory.unit_name(suggested_unit) or suggested_unit
    text = f"{ref.directory.unit_name(returning) or returning}退回（{reason}），改派{target}"
    _reassign(case, now, suggested_unit, "manual.return", text, actor, ref, change, "suggested_unit")
    refresh(case)
    return change


def dispatch(case: dict, now: datetime, actor: str, unit_id: str, reason: str, ref: Reference) -> Change:
    """派单: the centre sends a case (typically from its triage queue) to a unit."""
    _require_state(case, "dispatch", ("assigned",))
    case = copy.deepcopy(case)
    change = Change(case=case)
    target = ref.directory.unit_name(unit_id) or unit_id
    _reassign(case, now, unit_id, "manual.dispatch", f"综治中心派单至{target}：{reason}", actor, ref, change, "unit")
    refresh(case)
    return change


def resolve(case: dict, now: datetime, actor: str, note: str | None, ref: Reference) -> Change:
    _require_state(case, "resolve", ("accepted",))
    case = copy.deepcopy(case)
    case.update(state="resolved", outcome="resolved", resolved_at=now, ended_at=now)
    met = _signal(case, ("handling", "feedback", "resolved"), now, "resolved", ref)
    _history(case, now, "resolved", actor, unit=case["unit"], clocks_met=met)
    change = Change(case=case)
    change.emit("case_resolved", {"unit": case["unit"], "actor": actor, "reason": note, "suggested_unit": None})
    refresh(case)
    return change


def record_feedback(case: dict, now: datetime, actor: str, note: str | None, ref: Reference) -> Change:
    _require_state(case, "record feedback on", OPEN_STATES)
    case = copy.deepcopy(case)
    met = _signal(case, ("handling", "feedback"), now, "feedback", ref)
    _history(case, now, "feedback", actor, note_given=bool(note), clocks_met=met)
    refresh(case)
    return Change(case=case)


def _step_up(change: Change, now: datetime, reason: str, actor: str, ref: Reference) -> bool:
    case = change.case
    step = next_step(case["escalation"], location_of(case), ref.rules.ladder, ref.directory)
    if step is None:
        return False
    from_rung, from_level, from_unit = attention(case)
    if step.takes_over:
        case.update(level=step.level, unit=step.unit, supervision=None)
    else:
        case["supervision"] = {"rung": step.rung, "level": step.level, "unit": step.unit, "since": now}
    steps = case["escalation"]["steps"] + 1
    case["escalation"] = {"rung": step.rung, "index": step.index, "level": step.level, "unit": step.unit,
                          "steps": steps}
    change.escalations += 1
    change.records.append({
        "_id": f"{case['_id']}:escalation:{steps}", "kind": "escalation", "case_id": case["_id"],
        "case_code": case["case_code"], "jurisdiction": case["jurisdiction"], "scope": case["scope"], "at": now,
        "from_rung": from_rung, "to_rung": step.rung, "from_level": from_level, "to_level": step.level,
        "from_unit": from_unit, "to_unit": step.unit, "takes_over": step.takes_over, "reason": reason,
        "actor": actor,
    })
    change.emit("case_escalated", {"from_level": from_level, "to_level": step.level, "from_unit": from_unit,
                                   "to_unit": step.unit, "reason": reason, "from_rung": from_rung,
                                   "to_rung": step.rung, "takes_over": step.takes_over})
    _history(case, now, "escalated", actor, from_unit=from_unit, to_unit=step.unit, to_rung=step.rung,
             takes_over=step.takes_over)
    return True


def escalate(case: dict, now: datetime, actor: str, reason: str, ref: Reference) -> Change:
    _require_state(case, "escalate", OPEN_STATES)
    case = copy.deepcopy(case)
    change = Change(case=case)
    if not _step_up(change, now, f"人工升级：{reason}", actor, ref):
        raise TransitionNotAllowed("the case is at the top of the escalation ladder")
    refresh(case)
    return change


def leader_assign(case: dict, now: datetime, actor: str, leader: str, instruction: str | None,
                  ref: Reference) -> Change:
    """领导批办 / 包案: a leader takes personal charge and may instruct the units."""
    _require_state(case, "put a leader on", OPEN_STATES)
    case = copy.deepcopy(case)
    case["leader"] = {"leader": leader, "instruction": instruction, "by": actor, "at": now}
    _history(case, now, "leader_assigned", actor, leader=leader)
    change = Change(case=case)
    change.emit("leader_assigned", {"leader": leader, "instruction": instruction})
    refresh(case)
    return change


def set_tags(case: dict, now: datetime, actor: str, add: list[str], remove: list[str], ref: Reference) -> Change:
    """标签特办: tags that single a case out for special handling."""
    unknown = sorted(set(add) - set(ref.rules.tags))
    if unknown:
        raise InvalidInput("add", f"unknown tags {unknown}; known: {list(ref.rules.tags)}")
    if case["state"] == "merged":
        raise TransitionNotAllowed("a merged case takes no tags; tag the case it was merged into")
    case = copy.deepcopy(case)
    tags = [tag for tag in case["tags"] if tag not in remove]
    tags += [tag for tag in add if tag not in tags]
    case["tags"] = tags
    _history(case, now, "tagged", actor, added=add or None, removed=remove or None)
    refresh(case)
    return Change(case=case)


def pause(case: dict, now: datetime, actor: str, reason: str, names: list[str] | None, ref: Reference) -> Change:
    """The case waits on something outside the unit's control: its clocks stop counting."""
    _require_state(case, "pause the clocks of", OPEN_STATES)
    case = copy.deepcopy(case)
    paused = [clock["id"] for clock in case["clocks"]
              if clock["name"] != CRITICAL_CLOCK and (not names or clock["name"] in names)
              and clocks.pause(clock, now, reason, ref.rules.calendars)]
    if not paused:
        raise TransitionNotAllowed("no running clock to pause")
    _history(case, now, "paused", actor, clocks=paused, reason=reason)
    refresh(case)
    return Change(case=case)


def resume(case: dict, now: datetime, actor: str, ref: Reference) -> Change:
    _require_state(case, "resume the clocks of", OPEN_STATES)
    case = copy.deepcopy(case)
    resumed = [clock["id"] for clock in case["clocks"]
               if clock["status"] == "paused"
               and clocks.resume(clock, now, ref.rules.clocks[clock["name"]], ref.rules.calendars)]
    if not resumed:
        raise TransitionNotAllowed("no paused clock to resume")
    _history(case, now, "resumed", actor, clocks=resumed)
    refresh(case)
    return Change(case=case)


# -- what other services tell us --------------------------------------------------------------
def outcome(case: dict, now: datetime, result: str, source: str, ref: Reference, **details) -> Change:
    """Mediation ended (agreement / failed / withdrawn) or the court filed the case."""
    if result not in OUTCOMES:
        raise ValueError(f"outcome is one of {OUTCOMES}")
    case = copy.deepcopy(case)
    if result == "filed":
        case["filed"] = {"at": now, **details}
    else:
        case["mediation_outcome"] = result
    if case["state"] in OPEN_STATES:
        case["state"] = "ended"
    if case["outcome"] in (None, "failed", "withdrawn") or result == "agreement":
        case["outcome"] = result
    if result == "agreement" and case["resolved_at"] is None:
        case["resolved_at"] = now
    case["ended_at"] = case["ended_at"] or now
    met = _signal(case, ENDING_SIGNALS, now, result, ref)
    _history(case, now, result, source, clocks_met=met)
    refresh(case)
    return Change(case=case)


def session_scheduled(case: dict, now: datetime, ref: Reference) -> Change:
    case = copy.deepcopy(case)
    met = _signal(case, ("handling", "feedback"), now, "session_scheduled", ref)
    _history(case, now, "session_scheduled", "event:mediation.session_scheduled", clocks_met=met)
    refresh(case)
    return Change(case=case)


def followup_recorded(case: dict, now: datetime, visit: dict, ref: Reference) -> Change:
    case = copy.deepcopy(case)
    case["followups"].append({"at": now, **visit})
    met = _signal(case, ("followup",), now, "followup_recorded", ref)
    _history(case, now, "followup_recorded", "event:mediation.followup_recorded", clocks_met=met)
    refresh(case)
    return Change(case=case)


def rated(case: dict, now: datetime, score: int) -> Change:
    case = copy.deepcopy(case)
    case["rating"] = {"score": score, "at": now}
    _history(case, now, "rated", "event:intake.rating_submitted", score=score)
    refresh(case)
    return Change(case=case)


def closed(case: dict, now: datetime, final_status: str, ref: Reference) -> Change:
    case = copy.deepcopy(case)
    stopped = _stop_all(case, now, "closed", ref)
    case.update(state="closed", closed_at=now)
    case["ended_at"] = case["ended_at"] or now
    _history(case, now, "closed", "event:intake.case_closed", final_status=final_status, clocks_stopped=stopped)
    refresh(case)
    return Change(case=case)


def merged(case: dict, now: datetime, into_code: str, ref: Reference) -> Change:
    """A duplicate: its clocks stop, it leaves the board and the reports."""
    case = copy.deepcopy(case)
    stopped = _stop_all(case, now, "merged", ref)
    case.update(state="merged", merged_into=into_code, outcome="merged")
    _history(case, now, "merged", "event:intake.case_merged", into=into_code, clocks_stopped=stopped)
    refresh(case)
    return Change(case=case)


# -- the sweeper -------------------------------------------------------------------------------
def _warning_reason(clock: dict, colour: str, ref: Reference) -> str:
    """The warning's text; its colour travels beside it, so the text does not repeat it."""
    deadline = local_text(clock["deadline"], ref)
    if colour == "blue":
        return f"{clock['label']}将于{deadline}到期"
    if colour == "yellow":
        return f"{clock['label']}已于{deadline}超期"
    return f"{clock['label']}严重超期（期限{deadline}）"


def _warning_record(case, clock_id, colour, due_at, now, deadline, rung, unit, reason) -> dict:
    return {"_id": f"{case['_id']}:{clock_id}:{colour}", "kind": "warning", "case_id": case["_id"],
            "case_code": case["case_code"], "jurisdiction": case["jurisdiction"], "scope": case["scope"],
            "clock": clock_id, "colour": colour, "due_at": due_at, "at": now, "deadline": deadline,
            "rung": rung, "unit": unit, "reason": reason}


def sweep(case: dict, now: datetime, ref: Reference) -> Change:
    """Raise every warning that has fallen due (late ones too, after downtime), in the order they fell
    due; each time the case's colour rises above its highest so far, it climbs the ladder."""
    case = copy.deepcopy(case)
    change = Change(case=case)
    due = sorted(((at, COLOUR_RANK[colour], colour, clock) for clock in case["clocks"]
                  for colour, at in clocks.due_warnings(clock, now)), key=lambda item: item[:2])
    for due_at, _, colour, clock in due:
        clocks.raise_warning(clock, colour, due_at, now)
        refresh(case)
        reason = _warning_reason(clock, colour, ref)
        if case["state"] in OPEN_STATES and COLOUR_RANK[case["colour"]] > COLOUR_RANK[case["peak_colour"]]:
            case["peak_colour"] = case["colour"]
            for _ in range(ref.rules.rungs_per_step):
                if not _step_up(change, now, f"{COLOUR_NAMES[colour]}：{reason}", "system:sla-sweeper", ref):
                    break
        rung, level, unit = attention(case)
        change.warnings.append(colour)
        change.records.append(_warning_record(case, clock["id"], colour, due_at, now, clock["deadline"], rung,
                                              unit, reason))
        change.emit("sla_warning", {"colour": colour, "clock": clock["name"], "deadline": iso(clock["deadline"]),
                                    "level": level, "unit": unit, "reason": reason, "rung": rung})
        _history(case, now, "warning", "system:sla-sweeper", colour=colour, clock=clock["id"], unit=unit)
    refresh(case)
    return change
