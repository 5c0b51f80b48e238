"""Routing rules, clocks, colours and the escalation ladder, parsed from the rules YAML. Pure."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from services.routing.domain.calendar import DAY_SECONDS, Calendars, WorkingCalendar
from services.routing.domain.reference import ReferenceDataError

TIERS = ("simple", "general", "complex")
COLOURS = ("none", "blue", "yellow", "red")
COLOUR_RANK = {colour: rank for rank, colour in enumerate(COLOURS)}
WARNING_COLOURS = ("blue", "yellow", "red")
SIGNALS = ("accepted", "handling", "feedback", "resolved", "followup", "presuit_ended")
RULE_LEVELS = ("grid", "community", "township", "county", "city", "locality")
CONDITION_KEYS = frozenset({
    "severity", "severity_in", "immediate_red", "risk_flags_any", "people_at_least", "amount_at_least",
    "court_referred", "channel_in", "category_in", "tier", "tier_in", "any", "all",
})
DEFAULT_COLOURS = {"blue": 0.8, "yellow": 1.0, "red": 1.5}
DURATION_UNITS = {"minutes": (60.0, "natural"), "hours": (3600.0, "natural"), "days": (DAY_SECONDS, "natural"),
                  "working_days": (DAY_SECONDS, "working")}


def check_condition(condition: dict, where: str) -> None:
    if not isinstance(condition, dict):
        raise ReferenceDataError(f"{where}: a condition is a mapping")
    unknown = set(condition) - CONDITION_KEYS
    if unknown:
        raise ReferenceDataError(f"{where}: unknown condition keys {sorted(unknown)}")
    for key in ("any", "all"):
        for inner in condition.get(key, ()):
            check_condition(inner, where)


def matches(condition: dict, facts: dict) -> bool:
    """Every key of the condition holds for the facts (an empty condition always holds)."""
    checks = {
        "severity": lambda v: facts.get("severity") == v,
        "severity_in": lambda v: facts.get("severity") in v,
        "immediate_red": lambda v: bool(facts.get("immediate_red")) == bool(v),
        "risk_flags_any": lambda v: bool(set(v) & set(facts.get("risk_flags") or ())),
        "people_at_least": lambda v: (facts.get("people") or 0) >= v,
        "amount_at_least": lambda v: (facts.get("amount") or 0) >= v,
        "court_referred": lambda v: bool(facts.get("court_referred")) == bool(v),
        "channel_in": lambda v: facts.get("channel") in v,
        "category_in": lambda v: facts.get("category") in v,
        "tier": lambda v: facts.get("tier") == v,
        "tier_in": lambda v: facts.get("tier") in v,
        "any": lambda v: any(matches(inner, facts) for inner in v),
        "all": lambda v: all(matches(inner, facts) for inner in v),
    }
    return all(checks[key](value) for key, value in condition.items())


@dataclass(frozen=True)
class Rule:
    rule_id: str
    when: dict
    reason: str
    tier: str | None = None
    level: str | None = None


@dataclass(frozen=True)
class ClockSpec:
    name: str
    label: str
    seconds: float
    calendar: str
    starts: str
    stops_on: frozenset[str]
    colours: dict[str, float]
    restart_on_reassign: bool = False
    only_if: dict | None = None


@dataclass(frozen=True)
class Rung:
    rung: str
    level: str
    unit: str
    takes_over: bool


@dataclass
class RoutingRules:
    tiers: list[Rule]
    levels: list[Rule]
    clocks: dict[str, ClockSpec]
    ladder: list[Rung]
    calendars: Calendars
    flag_departments: dict[str, list[str]] = field(default_factory=dict)
    triage_reasons: dict[str, str] = field(default_factory=dict)
    triage_fallback_unit: str | None = None
    summons_on_site_minutes: int = 10
    summons_tiers: frozenset[str] = frozenset({"complex"})
    court_referral_mediation_type: str = "judicial"
    rungs_per_step: int = 1
    critical_label: str = "重大风险红色督办"
    critical_stops_on: frozenset[str] = frozenset({"resolved"})
    tags: tuple[str, ...] = ()
    # Flags intake cannot know (cross-department, cross-region): a dispatcher marks them (re-tier).
    routing_flags: tuple[str, ...] = ()
    flag_labels: dict[str, str] = field(default_factory=dict)
    default_colours: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_COLOURS))

    @classmethod
    def from_data(cls, data: dict) -> RoutingRules:
        if not isinstance(data, dict) or data.get("version") != 1:
            raise ReferenceDataError("rules: expected a mapping with version: 1")
        default_colours = _colours(data.get("colour_thresholds") or {}, "colour_thresholds", DEFAULT_COLOURS)
        calendar = data.get("calendar") or {}
        working = WorkingCalendar(
            timezone=calendar.get("timezone", "Asia/Shanghai"),
            extra_holidays=[_day(value, "calendar.extra_holidays") for value in calendar.get("extra_holidays") or ()],
            extra_workdays=[_day(value, "calendar.extra_workdays") for value in calendar.get("extra_workdays") or ()],
        )
        summons = data.get("summons") or {}
        escalation = data.get("escalation") or {}
        critical = data.get("critical_risk") or {}
        triage = data.get("triage") or {}
        rules = cls(
            tiers=[_rule(entry, "tiers") for entry in data.get("tiers") or ()],
            levels=[_rule(entry, "levels") for entry in data.get("levels") or ()],
            clocks={name: _clock(name, entry, default_colours) for name, entry in (data.get("clocks") or {}).items()},
            ladder=[_rung(entry) for entry in escalation.get("ladder") or ()],
            calendars=Calendars(working),
            flag_departments={flag: list(keys) for flag, keys in (data.get("flag_departments") or {}).items()},
            triage_reasons={key: triage[key] for key in ("ambiguous_location", "no_owner") if key in triage},
            triage_fallback_unit=triage.get("fallback_unit"),
            summons_on_site_minutes=int(summons.get("on_site_minutes", 10)),
            summons_tiers=frozenset(summons.get("tiers") or ("complex",)),
            court_referral_mediation_type=data.get("court_referral_mediation_type", "judicial"),
            rungs_per_step=int(escalation.get("rungs_per_step", 1)),
            critical_label=critical.get("label", "重大风险红色督办"),
            critical_stops_on=frozenset(critical.get("stops_on") or ("resolved",)),
            tags=tuple(data.get("tags") or ()),
            routing_flags=tuple(data.get("routing_flags") or ()),
            flag_labels={str(flag): str(label) for flag, label in (data.get("flag_labels") or {}).items()},
            default_colours=default_colours,
        )
        rules._check()
        return rules

    def _check(self) -> None:
        if not self.tiers or self.tiers[-1].when:
            raise ReferenceDataError("tiers: the last rule must match every case (when: {})")
        if not self.levels:
            raise ReferenceDataError("levels: at least one rule is required")
        for tier in TIERS:
            if not any(rule.level and matches(rule.when, {"tier": tier, "risk_flags": ()}) for rule in self.levels):
                raise ReferenceDataError(f"levels: no rule places a {tier} case")
        if not self.ladder:
            raise ReferenceDataError("escalation.ladder: at least one rung is required")
        if set(self.triage_reasons) != {"ambiguous_location", "no_owner"}:
            raise ReferenceDataError("triage: both ambiguous_location and no_owner reasons are required")
        for clock in self.clocks.values():
            unknown = clock.stops_on - set(SIGNALS)
            if unknown:
                raise ReferenceDataError(f"clock {clock.name}: unknown signals {sorted(unknown)}")
        if self.critical_stops_on - set(SIGNALS):
            raise ReferenceDataError("critical_risk.stops_on: unknown signals")
        if self.rungs_per_step < 1:
            raise ReferenceDataError("escalation.rungs_per_step must be at least 1")
        malformed = [flag for flag in self.routing_flags if not flag.replace("_", "").isalnum()]
        if malformed:
            raise ReferenceDataError(f"routing_flags: not identifiers {malformed}")

    def colours_for(self, clock_name: str) -> dict[str, float]:
        """A clock's colour thresholds; the defaults for a clock the rules no longer name (a stored
        clock outlives a rules file that dropped it)."""
        spec = self.clocks.get(clock_name)
        return spec.colours if spec else self.default_colours

    def rung_index(self, level: str) -> int:
        for index, rung in enumerate(self.ladder):
            if rung.level == level:
                return index
        return len(self.ladder) - 1


def _day(value, where: str) -> date:
    try:
        return value if isinstance(value, date) else date.fromisoformat(str(value))
    except ValueError as exc:
        raise ReferenceDataError(f"{where}: {value!r} is not an ISO date") from exc


def _rule(entry: dict, section: str) -> Rule:
    rule_id = entry.get("id")
    where = f"{section} rule {rule_id}"
    if not rule_id or "reason" not in entry:
        raise ReferenceDataError(f"{section}: every rule needs an id and a reason")
    check_condition(entry.get("when") or {}, where)
    tier = entry.get("tier")
    level = entry.get("level")
    if section == "tiers" and tier not in TIERS:
        raise ReferenceDataError(f"{where}: tier must be one of {TIERS}")
    if section == "levels" and level not in RULE_LEVELS:
        raise ReferenceDataError(f"{where}: level must be one of {RULE_LEVELS}")
    return Rule(rule_id=rule_id, when=entry.get("when") or {}, reason=entry["reason"], tier=tier, level=level)


def _colours(entry: dict, where: str, default: dict | None) -> dict[str, float]:
    colours = {**(default or {}), **entry}
    colours["yellow"] = 1.0
    if set(colours) != set(WARNING_COLOURS):
        raise ReferenceDataError(f"{where}: colours blue, yellow and red are required")
    if not 0 < colours["blue"] < colours["yellow"] < colours["red"]:
        raise ReferenceDataError(f"{where}: need 0 < blue < yellow (1.0) < red")
    return {colour: float(colours[colour]) for colour in WARNING_COLOURS}


def _clock(name: str, entry: dict, default_colours: dict) -> ClockSpec:
    where = f"clock {name}"
    duration = entry.get("duration") or {}
    if len(duration) != 1 or next(iter(duration)) not in DURATION_UNITS:
        raise ReferenceDataError(f"{where}: duration is one of {sorted(DURATION_UNITS)}")
    unit, amount = next(iter(duration.items()))
    unit_seconds, implied_calendar = DURATION_UNITS[unit]
    calendar = entry.get("calendar", implied_calendar)
    if calendar not in ("natural", "working") or (unit == "working_days") != (calendar == "working"):
        raise ReferenceDataError(f"{where}: working_days go with calendar: working, the others with natural")
    if not isinstance(amount, int | float) or amount <= 0:
        raise ReferenceDataError(f"{where}: the duration must be positive")
    starts = entry.get("starts", "assigned")
    if starts not in ("assigned", "referral"):
        raise ReferenceDataError(f"{where}: starts is assigned or referral")
    if starts == "referral" and calendar != "natural":
        # counted back from the court's deadline to its referral, in the court's calendar days
        raise ReferenceDataError(f"{where}: a clock that starts at the referral runs on the natural calendar")
    only_if = entry.get("only_if")
    if only_if is not None:
        check_condition(only_if, where)
    return ClockSpec(
        name=name, label=entry.get("label", name), seconds=float(amount) * unit_seconds, calendar=calendar,
        starts=starts, stops_on=frozenset(entry.get("stops_on") or ()),
        colours=_colours(entry.get("colours") or {}, where, default_colours),
        restart_on_reassign=bool(entry.get("restart_on_reassign", False)), only_if=only_if,
    )


def _rung(entry: dict) -> Rung:
    for key in ("rung", "level", "unit"):
        if not entry.get(key):
            raise ReferenceDataError(f"escalation.ladder: every rung needs {key}")
    return Rung(rung=entry["rung"], level=entry["level"], unit=entry["unit"],
                takes_over=bool(entry.get("takes_over", False)))
