"""Who must act on a case: jurisdiction first (属地), sector second; tier, level, unit, lead and
co-departments, committee. Each decision carries the rules that fired and why."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from services.routing.domain.reference import Category, Directory, Location
from services.routing.domain.rules import RoutingRules, Rule, matches

SEVERITY_NAMES = {"general": "一般", "major": "较重", "critical": "重大"}


@dataclass(frozen=True)
class CaseFacts:
    case_id: str
    case_code: str
    jurisdiction: str
    category: str
    channel: str
    registered_at: datetime
    people_involved: int = 1
    severity: str = "general"
    risk_flags: tuple[str, ...] = ()
    immediate_red: bool = False
    amount: float | None = None
    grid: str | None = None
    court_referred: bool = False
    referral_deadline: datetime | None = None
    referral: dict | None = None

    def rule_facts(self) -> dict:
        return {"severity": self.severity, "immediate_red": self.immediate_red, "risk_flags": self.risk_flags,
                "people": self.people_involved, "amount": self.amount, "court_referred": self.court_referred,
                "channel": self.channel, "category": self.category}


@dataclass(frozen=True)
class Decision:
    tier: str
    level: str
    unit: str
    lead_department: str | None
    departments: tuple[str, ...]
    committee: str | None
    mediation_type: str
    triage: bool
    rule_id: str
    reason: str
    level_rule_id: str
    level_reason: str
    location: Location
    facts: dict = field(default_factory=dict)

    def rule(self) -> dict:
        return {"rule_id": self.rule_id, "reason": self.reason, "level_rule_id": self.level_rule_id,
                "level_reason": self.level_reason, "facts": dict(self.facts)}


class _Template(dict):
    def __missing__(self, key):
        return "—"


def render(template: str, **values) -> str:
    return template.format_map(_Template({k: v for k, v in values.items() if v is not None}))


def _format_amount(amount: float | None) -> str | None:
    if amount is None:
        return None
    return f"{amount:,.0f}"


def choose_tier(rule_facts: dict, directory: Directory, rules: RoutingRules) -> tuple[Rule, str]:
    """The first tier rule that holds, and its reason rendered for these facts."""
    rule = next(rule for rule in rules.tiers if matches(rule.when, rule_facts))
    category = directory.categories.get(rule_facts.get("category"))
    severity = SEVERITY_NAMES.get(rule_facts.get("severity"), rule_facts.get("severity"))
    texts = {
        "people": rule_facts.get("people"), "amount": _format_amount(rule_facts.get("amount")),
        "flags": "、".join(rules.flag_labels.get(flag, flag) for flag in rule_facts.get("risk_flags") or ())
        or severity, "severity": severity,
        "category": category.name if category else rule_facts.get("category"), "channel": rule_facts.get("channel"),
    }
    return rule, render(rule.reason, **texts)


def choose_level(rule_facts: dict, rules: RoutingRules) -> Rule:
    """The first level rule that holds for the facts (their `tier` included)."""
    return next(rule for rule in rules.levels if rule.level and matches(rule.when, rule_facts))


def involved_departments(tier: str, category: Category, county: str, lead: str, flags: tuple[str, ...],
                         directory: Directory, rules: RoutingRules) -> list[str]:
    """The lead first; a complex case adds the category's co-departments and those its flags call for."""
    departments = [lead]
    if tier != "complex":
        return departments
    keys = list(category.co_departments)
    for flag in flags:
        keys += rules.flag_departments.get(flag, [])
    for key in keys:
        department = directory.department(county, key)
        if department and department.unit_id not in departments:
            departments.append(department.unit_id)
    return departments


def decide(facts: CaseFacts, directory: Directory, rules: RoutingRules) -> Decision:
    rule_facts = facts.rule_facts()
    tier_rule, tier_reason = choose_tier(rule_facts, directory, rules)
    rule_facts["tier"] = tier_rule.tier
    category = directory.categories.get(facts.category)
    category_name = category.name if category else facts.category
    location = directory.locate(facts.jurisdiction, facts.grid)
    mediation_type = (rules.court_referral_mediation_type if facts.court_referred
                      else category.mediation_type if category else "people")
    recorded = {"tier_rule": tier_rule.rule_id, "people_involved": facts.people_involved,
                "severity": facts.severity, "risk_flags": list(facts.risk_flags),
                "court_referred": facts.court_referred, "location": location.as_dict()}

    def triage(kind: str, detail: str) -> Decision:
        unit = triage_unit(location, directory, rules)
        reason = render(rules.triage_reasons[kind], detail=detail, category=category_name)
        return Decision(
            tier=tier_rule.tier, level=directory.units[unit].level, unit=unit, lead_department=None,
            departments=(), committee=None, mediation_type=mediation_type,
            triage=True, rule_id=f"triage.{kind}", reason=f"{tier_reason}；{reason}", level_rule_id=f"triage.{kind}",
            level_reason=reason, location=location, facts=recorded,
        )

    if location.problem:
        return triage("ambiguous_location", location.problem)
    county = location.county
    lead = directory.department(county, category.lead_department) if category else None
    if lead is None:
        return triage("no_owner", facts.category)

    level_rule = choose_level(rule_facts, rules)
    level, unit = _place(level_rule.level, location, lead.unit_id, directory)
    departments = involved_departments(tier_rule.tier, category, county, lead.unit_id, facts.risk_flags,
                                       directory, rules)
    committee = directory.committee(county, category.committee)
    level_reason = level_text(level_rule, lead.unit_id, unit, directory)
    return Decision(
        tier=tier_rule.tier, level=level, unit=unit, lead_department=lead.unit_id, departments=tuple(departments),
        committee=committee.unit_id if committee else None, mediation_type=mediation_type, triage=False,
        rule_id=tier_rule.rule_id, reason=tier_reason, level_rule_id=level_rule.rule_id, level_reason=level_reason,
        location=location, facts=recorded,
    )


def level_text(level_rule: Rule, lead: str | None, unit: str, directory: Directory) -> str:
    lead_unit = directory.unit(lead)
    return render(level_rule.reason, lead=(lead_unit.short_name or lead_unit.name) if lead_unit else None,
                  unit_name=directory.unit_name(unit))


def _place(level: str, location: Location, lead: str, directory: Directory) -> tuple[str, str]:
    if level == "city" and location.city:
        return "city", f"{location.city}:centre"
    if level in ("county", "city"):
        return "county", f"{location.county}:centre"
    candidates = {
        "grid": f"grid:{location.grid}" if location.grid else None,
        "community": f"{location.community}:committee" if location.community else None,
        "township": f"{location.township}:office" if location.township else None,
    }
    order = ["grid", "community", "township"] if level == "locality" else [level]
    for candidate in order:
        unit = candidates.get(candidate)
        if unit and directory.unit(unit):
            return candidate, unit
    # Only the county is known: the lead department handles a simple case fast (简单纠纷部门快速处理).
    return "county", lead


def triage_unit(location: Location, directory: Directory, rules: RoutingRules) -> str:
    """The county centre's triage queue; a city centre when no county is known; never nowhere."""
    for unit in (f"{location.county}:centre" if location.county else None,
                 f"{location.city}:centre" if location.city else None, rules.triage_fallback_unit):
        if unit and directory.unit(unit):
            return unit
    raise ValueError("no triage unit: set triage.fallback_unit in the rules to a unit of the directory")
