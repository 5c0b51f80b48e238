"""Mediator suggestions, the rules data file, and case codes typed in URLs."""

import copy

import pytest
import yaml

from services.common.case_codes import InvalidCaseCode, canonical_case_code
from services.mediation.dependencies import DEFAULT_RULES_FILE, load_rules
from services.mediation.domain.codes import enclosing, related
from services.mediation.domain.rules import RulesError, parse_rules
from services.mediation.domain.suggestions import Candidate, CaseNeeds, rank

RULES = load_rules()


def candidate(mediator_id, **changes):
    values = {"mediator_id": mediator_id, "name": mediator_id, "type": "peoples", "specialities": frozenset(),
              "jurisdictions": ("140106",), "unit": None, "max_open_files": 10}
    values.update(changes)
    return Candidate(**values)


def needs(**changes):
    values = {"category": "family", "jurisdiction": "140106001", "committee": "140106:committee:family",
              "mediation_type": RULES.mediation_type("peoples"), "lead_mediator_id": None, "purpose": "mediation"}
    values.update(changes)
    return CaseNeeds(**values)


def ids(suggestions):
    return [s.mediator_id for s in suggestions]


def test_speciality_committee_and_type_come_first():
    ranked = rank(needs(), [
        candidate("general"),
        candidate("labour", specialities=frozenset({"labour"}), type="industry"),
        candidate("family", specialities=frozenset({"family"}), unit="140106:committee:family"),
    ], RULES)
    assert ids(ranked) == ["family", "general", "labour"]
    assert ranked[0].reasons == ("speciality:family", "committee", "type:peoples")


def test_only_mediators_serving_the_area_are_suggested_and_local_ones_win():
    ranked = rank(needs(), [
        candidate("other-county", jurisdictions=("140105",)),
        candidate("city", jurisdictions=("140100",)),
        candidate("this-township", jurisdictions=("140106001",)),
        candidate("next-township", jurisdictions=("140106002",)),
    ], RULES)
    assert ids(ranked) == ["this-township", "city"]
    assert "local" in ranked[0].reasons


def test_load_lowers_the_score_and_a_full_mediator_is_left_out():
    ranked = rank(needs(), [
        candidate("busy", specialities=frozenset({"family"}), open_files=6, upcoming_sessions=4),
        candidate("free", specialities=frozenset({"family"})),
        candidate("full", specialities=frozenset({"family"}), open_files=10),
    ], RULES)
    assert ids(ranked) == ["free", "busy"]
    assert ranked[1].score == ranked[0].score - 6 * 3 - 4


def test_the_first_sessions_mediator_keeps_the_case_even_when_busy():
    ranked = rank(needs(lead_mediator_id="lead"), [
        candidate("expert", specialities=frozenset({"family"}), unit="140106:committee:family"),
        candidate("lead", open_files=10),
    ], RULES)
    assert ids(ranked) == ["lead", "expert"] and ranked[0].reasons[0] == "continuity"


def test_legal_aid_and_counselling_go_to_lawyers_and_psychologists():
    pool = [candidate("lawyer", type="lawyer"), candidate("psy", type="psychologist"), candidate("peoples")]
    assert ids(rank(needs(purpose="legal_aid"), pool, RULES)) == ["lawyer"]
    assert ids(rank(needs(purpose="counselling"), pool, RULES)) == ["psy"]
    assert "psy" not in ids(rank(needs(), pool, RULES))


def test_a_mediator_busy_or_off_duty_at_the_asked_time_is_left_out_and_the_limit_holds():
    pool = [candidate(f"m{n}") for n in range(8)] + [candidate("away", available=False)]
    ranked = rank(needs(), pool, RULES)
    assert len(ranked) == RULES.suggestion_limit and "away" not in ids(ranked)
    assert len(rank(needs(), pool, RULES, limit=2)) == 2


@pytest.mark.parametrize("spelling,key", [("People's", "peoples"), ("committee", "industry"), ("pre_suit", "judicial"),
                                          ("joint", "joint"), ("unheard-of", None), (None, None)])
def test_routing_may_spell_a_mediation_type_its_own_way(spelling, key):
    found = RULES.mediation_type(spelling)
    assert (found.key if found else None) == key


def raw_rules():
    with open(DEFAULT_RULES_FILE, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


@pytest.mark.parametrize("path,value,words", [
    (("scheduling", "slot_minutes"), 7, "divide an hour"),
    (("scheduling", "video_link_template"), "http://x/{session_id}", "https"),
    (("purposes", "legal_aid"), ["wizard"], "purposes.legal_aid"),
    (("followup", "plans", "gossip"), {"reason": "x", "visits": 1, "interval_working_days": 1}, "not a category"),
    (("default_working_hours",), [{"days": ["mon"], "start": "18:00", "end": "09:00"}], "ends before"),
    (("timezone",), "Mars/Olympus", "time zone"),
])
def test_a_bad_rules_file_is_refused_naming_the_key(path, value, words):
    raw = copy.deepcopy(raw_rules())
    target = raw
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(RulesError, match=words):
        parse_rules(raw)


def test_a_deployment_can_point_at_its_own_rules_file(tmp_path):
    raw = raw_rules()
    raw["followup"]["plans"]["labour"] = {"reason": "欠薪风险回访", "visits": 1, "interval_working_days": 5}
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    assert load_rules(path).followup_plans["labour"].visits == 1
    with pytest.raises(RulesError, match="cannot read"):
        load_rules(tmp_path / "missing.yaml")


def test_case_codes_are_accepted_without_dashes_in_either_case_and_checked():
    assert canonical_case_code("140106261123fm0001y") == "140106-261123-FM-0001-Y"
    with pytest.raises(InvalidCaseCode, match="check character"):
        canonical_case_code("140106-261123-FM-0001-Z")
    with pytest.raises(InvalidCaseCode):
        canonical_case_code("not-a-code")


def test_divisions_relate_up_and_down_but_not_sideways():
    assert related("140106", "140106001") and related("140106001", "140106") and related("140100", "140106")
    assert not related("140105", "140106") and not related("140106001", "140106002")
    assert enclosing("140106001002") == ["140106001002", "140106001", "140106", "140100", "140000"]
