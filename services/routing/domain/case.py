"""The routing case: assignment, its lifecycle, clocks, warnings and escalation. Pure.

Every operation takes the stored case (a dict), works on a copy and returns a `Change`: the new
case, the events it causes, and what else must be stored with it (summons, dated warnings and
escalations). The service writes all of it in one transaction, conditional on the version it read.

Lifecycle: assigned → accepted (签收) → resolved (办结); a case still `assigned` may be returned
(退回, re-routed to the suggested unit); an open case may be dispatched (派单) or, once signed for,
transferred (转办) elsewhere, or re-tiered when a dispatcher marks what intake could not know;
escalation moves it up the ladder; mediation and court outcomes end it; intake may close it or merge
it into another.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from services.routing.domain import Reference, clocks
from services.routing.domain.decide import (
    CaseFacts,
    Decision,
    choose_level,
    choose_tier,
    involved_departments,
    level_text,
)
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
                  referral_deadline: datetime | None) -> None:
    calendars = ref.rules.calendars
    for spec in ref.rules.clocks.values():
        if spec.only_if and not matches(spec.only_if, facts_for_rules):
            continue
        if spec.starts == "referral" and referral_deadline is not None:
            # The court's period ran from its referral, before intake registered the case: count back from
            # its deadline (a period longer than the rules' own runs from registration to that deadline).
            referred_at = min(start_at, referral_deadline - timedelta(seconds=spec.seconds))
            case["clocks"].append(clocks.start(spec, referred_at, calendars, deadline=referral_deadline))
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
        "colour": "none", "peak_colour": "none", "escalated": [], "clocks": [], "next_check_at": None,
        "requested": False, "summoned": [], "marks": [], "returns": 0, "return_log": [], "tags": [],
        "leader": None, "rating": None, "presuit_extensions": [],
        "followups": [], "history": [], "version": 1,
    }
    _start_clocks(case, facts.rule_facts(), start_at, ref, facts.referral_deadline)
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


def _summoned(case: dict, ref: Reference) -> list[str]:
    """The departments summoned so far (for a case stored before routing kept this list: all of its
    departments if it had been summoned)."""
    if "summoned" not in case:
        summoned = case["requested"] and case["tier"] in ref.rules.summons_tiers
        case["summoned"] = list(case["departments"]) if summoned else []
    return case["summoned"]


def _request_handling(change: Change, now: datetime, ref: Reference) -> None:
    """General and complex cases go to mediation (once per case); complex ones summon each of their
    departments once. Only when someone owns the case (a triage case waits for its dispatch)."""
    case = change.case
    if case["triage"] or case["tier"] == "simple":
        return
    if not case["requested"]:
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
    summoned = _summoned(case, ref)
    units = [ref.directory.units[unit_id] for unit_id in case["departments"]
             if unit_id in ref.directory.units and unit_id not in summoned]
    if not units:
        return
    summons = summon(units, now, ref.rules.calendars.working, ref.rules.summons_on_site_minutes)
    summoned.extend(item["department"] for item in summons)
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


def _reassign(case: dict, now: datetime, unit_id: str, rule: dict, actor: str, ref: Reference, change: Change,
              field_name: str) -> None:
    """Re-route the case to `unit_id` (return, dispatch, transfer, re-tier): the new unit must sign for it
    afresh — its own clocks restart, escalation starts again from its rung — while the citizen's other
    clocks keep running. `rule` is what is stored as the decision (rule_id, reason, level_rule_id, level_reason)."""
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
    elif case["lead_department"] is None and category is not None:
        # Out of triage: now that the case is placed, the category's lead in its county leads it.
        lead = ref.directory.department(county, category.lead_department)
        if lead is not None:
            case["lead_department"] = lead.unit_id
            case["departments"] = involved_departments(case["tier"], category, county, lead.unit_id,
                                                       tuple(flags_of(case)), ref.directory, ref.rules)
    if case["committee"] is None and category is not None:
        committee = ref.directory.committee(county, category.committee)
        case["committee"] = committee.unit_id if committee else None
    previous, previous_state = case["unit"], case["state"]
    case.update(unit=unit_id, level=level, triage=False, supervision=None, state="assigned",
                accepted_at=None, accepted_by=None, escalated=[])
    case["escalation"] = {**start_position(level, unit_id, ref.rules.ladder),
                          "steps": case["escalation"]["steps"]}
    case["rule"] = {**case["rule"], **rule}
    for spec in ref.rules.clocks.values():
        instances = [clock for clock in case["clocks"] if clock["name"] == spec.name]
        if not spec.restart_on_reassign or not instances:
            continue
        for clock in instances:
            clocks.stop(clock, now, "reassigned", met=False, calendars=ref.rules.calendars)
        case["clocks"].append(clocks.start(spec, now, ref.rules.calendars,
                                           clock_id=f"{spec.name}#{len(instances) + 1}"))
    _history(case, now, "reassigned", actor, from_unit=previous, to_unit=unit_id, rule_id=rule["rule_id"],
             from_state=previous_state)
    _emit_assigned(change, rule["rule_id"], rule["reason"])
    _request_handling(change, now, ref)


def _manual(rule_id: str, reason: str) -> dict:
    return {"rule_id": rule_id, "reason": reason, "level_rule_id": rule_id, "level_reason": reason}


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
    _reassign(case, now, suggested_unit, _manual("manual.return", text), actor, ref, change, "suggested_unit")
    refresh(case)
    return change


def dispatch(case: dict, now: datetime, actor: str, unit_id: str, reason: str, ref: Reference) -> Change:
    """派单 / 转办: the centre sends a case to a unit — out of its triage queue, or elsewhere before it is
    signed for (派单), or on from the unit that signed for it (转办). The new unit signs afresh; a transfer
    is not a return and does not count against routing quality."""
    _require_state(case, "dispatch", OPEN_STATES)
    case = copy.deepcopy(case)
    change = Change(case=case)
    target = ref.directory.unit_name(unit_id) or unit_id
    if case["state"] == "accepted":
        holder = ref.directory.unit_name(case["unit"]) or case["unit"]
        rule = _manual("manual.transfer", f"综治中心将案件由{holder}转办至{target}：{reason}")
    else:
        rule = _manual("manual.dispatch", f"综治中心派单至{target}：{reason}")
    _reassign(case, now, unit_id, rule, actor, ref, change, "unit")
    refresh(case)
    return change


def flags_of(case: dict) -> list[str]:
    """intake's risk flags and the ones a dispatcher marked (re-tier)."""
    return [*case["risk_flags"], *(flag for flag in case.get("marks", ()) if flag not in case["risk_flags"])]


def rule_facts_of(case: dict) -> dict:
    return {"severity": case["severity"], "immediate_red": case["immediate_red"], "risk_flags": flags_of(case),
            "people": case["people_involved"], "amount": case["amount"], "court_referred": case["court_referred"],
            "channel": case["channel"], "category": case["category"], "tier": case["tier"]}


def _handling_rank(unit_id: str, level: str, ref: Reference) -> float:
    """How high on the ladder a unit handles cases; a department sits just below its county centre."""
    unit = ref.directory.unit(unit_id)
    return ref.rules.rung_index(level) - (0.5 if unit is not None and unit.kind == "department" else 0)


def retier(case: dict, now: datetime, actor: str, add: list[str], remove: list[str], reason: str,
           ref: Reference) -> Change:
    """A dispatcher marks what intake cannot know — the case spans departments or regions — or takes the
    mark off: tier, departments and summons are decided again by the rules; a case whose new tier needs
    a higher level (the county centre, the city centre for cross-region) moves up to it."""
    known = ref.rules.routing_flags
    for field_name, flags in (("add", add), ("remove", remove)):
        unknown = sorted(set(flags) - set(known))
        if unknown:
            raise InvalidInput(field_name, f"unknown marks {unknown}; a dispatcher may mark {list(known)}")
    _require_state(case, "re-tier", OPEN_STATES)
    case = copy.deepcopy(case)
    before = list(case.get("marks", ()))
    marks = [flag for flag in before if flag not in remove] + [flag for flag in add
                                                                if flag not in before and flag not in remove]
    if set(marks) == set(before):
        raise InvalidInput("add", f"the case is already marked {before or 'with nothing'}")
    case["marks"] = marks
    change = Change(case=case)
    facts = rule_facts_of(case)
    tier_rule, tier_reason = choose_tier(facts, ref.directory, ref.rules)
    previous_tier, previous_departments = case["tier"], list(case["departments"])
    case["tier"] = facts["tier"] = tier_rule.tier
    category = ref.directory.categories.get(case["category"])
    if case["lead_department"] and category is not None and case["county"]:
        involved = involved_departments(tier_rule.tier, category, case["county"], case["lead_department"],
                                        tuple(facts["risk_flags"]), ref.directory, ref.rules)
        # Departments already summoned stay on the case: their summons stand.
        case["departments"] = involved + [d for d in _summoned(case, ref) if d not in involved]
    level_rule = choose_level(facts, ref.rules)
    target = _retier_target(case, level_rule.level, ref)
    text = f"{tier_reason}（{reason}）"
    _history(case, now, "retiered", actor, marks=marks, from_tier=previous_tier, to_tier=tier_rule.tier,
             rule_id=tier_rule.rule_id)
    if target is not None:
        level, _ = _unit_placement(target, ref)
        rule = {"rule_id": tier_rule.rule_id, "reason": text, "level_rule_id": level_rule.rule_id,
                "level_reason": level_text(level_rule, case["lead_department"], target, ref.directory)}
        _reassign(case, now, target, rule, actor, ref, change, "add")
    else:
        case["rule"] = {**case["rule"], "rule_id": tier_rule.rule_id, "reason": text}
        if case["tier"] != previous_tier or case["departments"] != previous_departments:
            _emit_assigned(change, tier_rule.rule_id, text)
        _request_handling(change, now, ref)
    refresh(case)
    return change


def _retier_target(case: dict, level: str, ref: Reference) -> str | None:
    """The centre a re-tiered case must move up to, if any: never down, never out of triage (the
    dispatcher places a triage case first)."""
    location = location_of(case)
    if case["triage"] or level not in ("county", "city"):
        return None
    target = f"{location.city}:centre" if level == "city" and location.city else f"{case['county']}:centre"
    unit = ref.directory.unit(target)
    if unit is None or target == case["unit"]:
        return None
    if _handling_rank(target, unit.level, ref) <= _handling_rank(case["unit"], case["level"], ref):
        return None
    return target


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
               and clocks.resume(clock, now, ref.rules.colours_for(clock["name"]), ref.rules.calendars)]
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


class ReferralMismatch(ValueError):
    """A court's message about a referral that is not this case's."""


def referral_extended(case: dict, now: datetime, extension: dict, source: str, ref: Reference) -> Change | None:
    """The court granted the parties more time (court_bridge.referral_extended): the pre-suit clock now
    ends on the court's new deadline. The same extension told twice changes nothing (None) the second time."""
    referral = case.get("court_referral") or {}
    if not case["court_referred"] or referral.get("referral_id") not in (None, extension["referral_id"]):
        raise ReferralMismatch(f"{case['case_code']} is not held for referral {extension['referral_id']}")
    if any(entry["referral_id"] == extension["referral_id"] and entry["deadline"] == extension["deadline"]
           for entry in case.get("presuit_extensions", ())):
        return None
    case = copy.deepcopy(case)
    extensions = case.setdefault("presuit_extensions", [])
    presuit = [clock for clock in case["clocks"] if clock["name"] == "presuit"]
    clock = presuit[-1] if presuit else None
    moved = clock is not None and clock["status"] in clocks.ACTIVE
    if moved:
        clocks.move_deadline(clock, extension["deadline"], extension["previous_deadline"],
                             ref.rules.colours_for("presuit"), ref.rules.calendars)
    extensions.append({"at": now, "referral_id": extension["referral_id"], "court_id": extension["court_id"],
                       "previous_deadline": extension["previous_deadline"], "deadline": extension["deadline"],
                       "reason": extension["reason"], "clock": clock["id"] if moved else None})
    _history(case, now, "presuit_extended", source, deadline=iso(extension["deadline"]),
             previous_deadline=iso(extension["previous_deadline"]), reason=extension["reason"],
             clock=clock["id"] if moved else None)
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
    due; each clock's blue, yellow and red each climb the ladder once, up to its top."""
    case = copy.deepcopy(case)
    change = Change(case=case)
    escalated = case.setdefault("escalated", [])  # "<clock id>:<colour>" that have climbed a rung
    due = sorted(((at, COLOUR_RANK[colour], colour, clock) for clock in case["clocks"]
                  for colour, at in clocks.due_warnings(clock, now)), key=lambda item: item[:2])
    for due_at, _, colour, clock in due:
        clocks.raise_warning(clock, colour, due_at, now)
        refresh(case)
        if COLOUR_RANK[colour] > COLOUR_RANK[case["peak_colour"]]:
            case["peak_colour"] = colour
        reason = _warning_reason(clock, colour, ref)
        # Per clock, not per case: a case that was red once still escalates when a later clock runs out.
        step = f"{clock['id']}:{colour}"
        if case["state"] in OPEN_STATES and step not in escalated:
            escalated.append(step)
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
