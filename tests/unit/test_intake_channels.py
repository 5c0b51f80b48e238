"""What each of the nine inlets must carry (data/channels.yaml), and the rule files as shipped."""

import copy
from datetime import timedelta

import pytest
import yaml

from services.intake.domain.channels import CHANNELS, channel_errors, parse_channels
from services.intake.domain.rules import RulesError
from services.intake.rulebook import DATA_DIR, load_rulebook, read_yaml

BOOK = parse_channels(read_yaml(DATA_DIR / "channels.yaml"))
APPLICANT = {"role": "applicant", "kind": "person", "name": "李梅", "phone": "13912345678", "address": "某村3组"}


def report(channel, **changes):
    payload = {"channel": channel, "channel_ref": None, "grid": None, "parties": [dict(APPLICANT)]}
    payload.update(changes)
    return payload


def errors(channel, **changes):
    return channel_errors(report(channel, **changes), BOOK.rule(channel))


def test_every_channel_has_a_rule_and_a_chinese_label():
    assert set(BOOK.rules) == set(CHANNELS)
    labels = {channel: BOOK.label(channel) for channel in CHANNELS}
    assert labels["walk_in"] == "来访" and labels["grid_report"] == "网格员上报"
    assert labels["police_110"] == "110非警务警情推送" and labels["court_referral"] == "法院委派"


def test_a_complete_report_passes_on_every_channel():
    complete = {"channel_ref": "REF-1", "grid": "140106001001-03", "court_id": "court-140106"}
    for channel in CHANNELS:
        assert errors(channel, **complete) == {}, channel


@pytest.mark.parametrize("channel,changes,field,text", [
    ("police_110", {}, "channel_ref", "110 incident number"),
    ("grid_report", {}, "grid", "grid code"),
    ("court_referral", {"channel_ref": "R1"}, "court_id", "referring court"),
    ("court_referral", {"court_id": "c"}, "channel_ref", "referral id"),
    ("leader_assigned", {}, "channel_ref", "交办单"),
    ("department_referral", {}, "channel_ref", "referral number"),
    ("hotline", {"parties": [{**APPLICANT, "phone": None}]}, "parties", "phone"),
    ("online", {"parties": [{**APPLICANT, "phone": None}]}, "parties", "phone"),
    ("letter", {"parties": [{**APPLICANT, "address": None}]}, "parties", "postal address"),
    ("walk_in", {"parties": [{**APPLICANT, "address": None, "phone": None}]}, "parties", "phone number or address"),
])
def test_each_channel_names_what_it_lacks(channel, changes, field, text):
    found = errors(channel, **changes)
    assert list(found) == [field]
    assert text in found[field][0]


def test_a_respondents_phone_does_not_make_the_applicant_reachable():
    respondent = {"role": "respondent", "kind": "person", "name": "张三", "phone": "13700000000"}
    found = errors("hotline", parties=[{**APPLICANT, "phone": None}, respondent])
    assert "parties" in found


def test_court_referrals_come_only_by_rpc_with_a_30_day_default():
    rule = BOOK.rule("court_referral")
    assert rule.http is False and rule.default_deadline == timedelta(days=30)
    assert all(BOOK.rule(channel).http for channel in CHANNELS if channel != "court_referral")


def test_bad_channel_data_is_refused():
    raw = read_yaml(DATA_DIR / "channels.yaml")
    broken = copy.deepcopy(raw)
    del broken["channels"]["letter"]
    with pytest.raises(RulesError, match="missing"):
        parse_channels(broken)
    broken = copy.deepcopy(raw)
    broken["channels"]["letter"]["requires"] = ["a_fax_number"]
    with pytest.raises(RulesError, match="unknown requirements"):
        parse_channels(broken)


def test_the_shipped_rule_files_load_and_a_config_key_points_at_another_file(tmp_path):
    book = load_rulebook({})
    assert book.dedup.window == timedelta(days=30)
    assert book.lifecycle.rating_window == timedelta(days=10)
    custom = read_yaml(DATA_DIR / "dedup.yaml")
    custom["window_days"] = 7
    path = tmp_path / "dedup.yaml"
    path.write_text(yaml.safe_dump(custom), encoding="utf-8")
    assert load_rulebook({"INTAKE_DEDUP_FILE": str(path)}).dedup.window == timedelta(days=7)


def test_a_broken_rule_file_stops_the_start_naming_the_file(tmp_path):
    path = tmp_path / "lifecycle.yaml"
    raw = read_yaml(DATA_DIR / "lifecycle.yaml")
    raw["timeline"]["routing.case_assigned"]["text"] = "已分派至{unit_name}"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    with pytest.raises(RulesError, match=r"lifecycle.yaml.*unknown fields \['unit_name'\]"):
        load_rulebook({"INTAKE_LIFECYCLE_FILE": str(path)})
    with pytest.raises(RulesError, match="cannot read"):
        load_rulebook({"INTAKE_CHANNELS_FILE": str(tmp_path / "missing.yaml")})
