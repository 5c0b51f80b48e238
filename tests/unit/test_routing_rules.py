"""Routing rules: jurisdiction first, sector second; tiers; levels; triage; each decision says why."""

import copy
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from services.routing.dependencies import DEFAULT_DIRECTORY, DEFAULT_RULES, load_reference
from services.routing.domain import Reference, ReferenceDataError
from services.routing.domain.decide import CaseFacts, decide
from services.routing.domain.rules import RoutingRules, matches

REF = load_reference(DEFAULT_DIRECTORY, DEFAULT_RULES)
NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def facts(**changes) -> CaseFacts:
    values = {"case_id": "c1", "case_code": "140106-261123-LB-0001-X", "jurisdiction": "140106",
              "category": "labour", "channel": "walk_in", "registered_at": NOW, "people_involved": 1}
    values.update(changes)
    return CaseFacts(**values)


def route(ref=REF, **changes):
    return decide(facts(**changes), ref.directory, ref.rules)


def rules_data() -> dict:
    with open(DEFAULT_RULES, encoding="utf-8") as handle:
        return yaml.load(handle, Loader=LOADER)


def directory_data() -> dict:
    with open(DEFAULT_DIRECTORY, encoding="utf-8") as handle:
        return yaml.load(handle, Loader=LOADER)


def test_the_90_worker_wage_case_is_complex_at_the_county_centre_with_hrss_leading():
    decision = route(people_involved=90, risk_flags=("mass_dispute",), amount=1_800_000)
    assert (decision.tier, decision.level, decision.unit) == ("complex", "county", "140106:centre")
    assert decision.lead_department == "140106:hrss"
    assert decision.departments[0] == "140106:hrss"
    assert {"140106:housing", "140106:trade_union", "140106:justice"} <= set(decision.departments)
    assert {"140106:police", "140106:petition"} <= set(decision.departments)  # mass dispute summons them too
    assert decision.committee == "140106:committee:labour" and decision.mediation_type == "industry"
    assert decision.rule_id == "complex.mass_dispute" and "90人" in decision.reason
    assert decision.level_rule_id == "level.county_centre" and "人社局牵头" in decision.level_reason
    assert decision.rule()["facts"]["risk_flags"] == ["mass_dispute"]


def test_many_people_make_a_mass_dispute_even_without_the_flag():
    decision = route(people_involved=30)
    assert decision.tier == "complex" and decision.rule_id == "complex.mass_dispute"
    assert "140106:petition" not in decision.departments  # no flag, no flag departments


@pytest.mark.parametrize("changes,rule_id", [
    ({"severity": "critical"}, "complex.critical_risk"),
    ({"immediate_red": True}, "complex.critical_risk"),
    ({"risk_flags": ("cross_department",)}, "complex.cross_department"),
    ({"risk_flags": ("self_harm_threat",)}, "complex.critical_risk"),
    ({"risk_flags": ("violence_threat",)}, "complex.critical_risk"),
    ({"risk_flags": ("gathering_threat",)}, "complex.critical_risk"),
    ({"risk_flags": ("large_amount",)}, "general.major"),
    ({"risk_flags": ("repeat_petitioner",)}, "general.major"),
    ({"court_referred": True, "channel": "court_referral"}, "general.court_referral"),
    ({"severity": "major"}, "general.major"),
    ({"amount": 250_000}, "general.major"),
    ({"people_involved": 4}, "general.major"),
    ({}, "simple.default"),
])
def test_tiers_first_matching_rule_wins(changes, rule_id):
    decision = route(**changes)
    assert decision.rule_id == rule_id
    assert decision.tier == rule_id.split(".")[0]
    assert decision.reason


def test_general_cases_go_to_the_county_centre_with_the_lead_only():
    decision = route(severity="major", category="medical")
    assert (decision.level, decision.unit) == ("county", "140106:centre")
    assert decision.departments == ("140106:health",)
    assert decision.committee == "140106:committee:medical"


def test_court_referred_cases_are_judicial_mediation():
    decision = route(court_referred=True, channel="court_referral", category="lending")
    assert decision.mediation_type == "judicial" and decision.lead_department == "140106:finance"


def test_cross_region_complex_cases_go_to_the_city_centre():
    decision = route(risk_flags=("cross_region",))
    assert (decision.tier, decision.level, decision.unit) == ("complex", "city", "140100:centre")
    assert decision.level_rule_id == "level.city_cross_region"


def test_simple_cases_stay_local_grid_first():
    grid = route(grid="140106001001-01", category="neighbour")
    assert (grid.level, grid.unit) == ("grid", "grid:140106001001-01")
    community = route(jurisdiction="140106001002", category="neighbour")
    assert (community.level, community.unit) == ("community", "140106001002:committee")
    township = route(jurisdiction="140106003", category="neighbour")
    assert (township.level, township.unit) == ("township", "140106003:office")
    assert "就地处理" in township.level_reason and "庙前街道" in township.level_reason


def test_a_simple_case_known_only_to_its_county_goes_to_the_lead_department():
    decision = route(category="consumer")
    assert (decision.level, decision.unit, decision.lead_department) == (
        "county", "140106:market", "140106:market")


@pytest.mark.parametrize("jurisdiction,grid,unit,detail", [
    ("140106999", None, "140106:centre", "unknown township"),
    ("140106001999", None, "140106:centre", "unknown community"),
    ("140106", "140106009009-09", "140106:centre", "unknown grid"),
    ("140100", None, "140100:centre", "a city"),
    ("140199", None, "140100:centre", "unknown county"),
    ("990101", None, "140100:centre", "unknown county"),
])
def test_an_ambiguous_location_goes_to_triage_never_nowhere(jurisdiction, grid, unit, detail):
    decision = route(jurisdiction=jurisdiction, grid=grid, people_involved=90)
    assert decision.triage and decision.unit == unit
    assert decision.rule_id == "triage.ambiguous_location" and detail in decision.reason
    assert decision.lead_department is None and decision.departments == ()


def test_a_category_without_owner_goes_to_the_county_triage_queue():
    decision = route(category="other", jurisdiction="140106001001")
    assert decision.triage and decision.unit == "140106:centre" and decision.level == "county"
    assert decision.rule_id == "triage.no_owner" and "其他纠纷" in decision.reason


def test_conditions_compose():
    facts_ = {"severity": "major", "risk_flags": ("a",), "people": 5, "tier": "general"}
    assert matches({}, facts_)
    assert matches({"any": [{"severity": "critical"}, {"people_at_least": 5}]}, facts_)
    assert not matches({"all": [{"severity": "major"}, {"risk_flags_any": ["b"]}]}, facts_)
    assert matches({"tier_in": ["general", "complex"], "severity_in": ["major"]}, facts_)


def test_a_deployment_changes_the_rules_without_code():
    data = rules_data()
    data["tiers"][1]["when"] = {"any": [{"risk_flags_any": ["mass_dispute"]}, {"people_at_least": 100}]}
    data["clocks"]["first_contact"]["duration"] = {"minutes": 20}
    ref = Reference.from_data(directory_data(), data)
    assert route(ref, people_involved=90).tier == "general"
    assert ref.rules.clocks["first_contact"].seconds == 1200


@pytest.mark.parametrize("mutate,message", [
    (lambda d: d["tiers"].pop(), "last rule must match every case"),
    (lambda d: d["tiers"][0]["when"].update(moon_phase="full"), "unknown condition keys"),
    (lambda d: d["clocks"]["sign"].update(calendar="natural"), "working_days go with calendar: working"),
    (lambda d: d["clocks"]["sign"].update(colours={"blue": 1.2}), "0 < blue < yellow"),
    (lambda d: d["clocks"]["resolve"].update(stops_on=["moon"]), "unknown signals"),
    (lambda d: d["escalation"].update(ladder=[]), "at least one rung"),
    (lambda d: d.update(version=2), "version: 1"),
    (lambda d: d["clocks"]["presuit"].update(duration={"working_days": 20}, calendar="working"), "natural calendar"),
    (lambda d: d.update(routing_flags=["cross region"]), "routing_flags"),
])
def test_bad_rules_are_refused_at_start(mutate, message):
    data = copy.deepcopy(rules_data())
    mutate(data)
    with pytest.raises(ReferenceDataError, match=message):
        RoutingRules.from_data(data)


INTAKE_CLASSIFICATION = Path(__file__).resolve().parents[2] / "services/intake/data/classification.yaml"


def flags_named(condition) -> set[str]:
    """Every risk flag a rule condition names, however deeply nested."""
    if isinstance(condition, dict):
        named = set(condition.get("risk_flags_any", ()))
        for key in ("any", "all"):
            for inner in condition.get(key, ()):
                named |= flags_named(inner)
        return named
    return set()


def test_every_flag_routings_rules_name_is_one_intake_emits_or_a_dispatcher_marks():
    with open(INTAKE_CLASSIFICATION, encoding="utf-8") as handle:
        intake_flags = {rule["flag"] for rule in yaml.load(handle, Loader=LOADER)["rules"]}
    data = rules_data()
    routing_flags = set(data["routing_flags"])
    named = set(data["flag_departments"]) | set(data.get("flag_labels", {}))
    for section in ("tiers", "levels"):
        for rule in data[section]:
            named |= flags_named(rule.get("when") or {})
    named |= {flag for clock in data["clocks"].values() for flag in flags_named(clock.get("only_if") or {})}
    assert named - intake_flags - routing_flags == set()
    assert not routing_flags & intake_flags  # a dispatcher's mark is never confused with intake's finding
    assert {"self_harm_threat", "violence_threat", "gathering_threat", "mass_dispute"} <= named


@pytest.mark.parametrize("flag,departments", [
    ("self_harm_threat", {"140106:police", "140106:health"}),
    ("violence_threat", {"140106:police"}),
    ("gathering_threat", {"140106:police", "140106:petition"}),
])
def test_a_threat_makes_the_case_complex_and_summons_the_police(flag, departments):
    decision = route(category="neighbour", risk_flags=(flag,), severity="critical", immediate_red=True)
    assert decision.tier == "complex" and decision.rule_id == "complex.critical_risk"
    assert departments <= set(decision.departments)
    assert "扬言" in decision.reason and flag not in decision.reason  # staff read the flag in Chinese
