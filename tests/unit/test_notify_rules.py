"""The rulebook: the shipped one is complete and consistent; a broken one is refused with a
message that names the problem."""

import copy
from pathlib import Path

import pytest
import yaml

from services.common.consumers import ReliableEventHandler
from services.notify.domain.rules import RulesError, parse_rules
from services.notify.rulebook import DEFAULT_RULES, SUBSCRIBED, load_rulebook
from services.notify.service import NotifyService

RAW = yaml.safe_load(DEFAULT_RULES.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def shipped():
    return load_rulebook({})


def test_the_shipped_rulebook_covers_every_audience_of_the_issue(shipped):
    rules, renderer = shipped
    kinds = {rule.kind for rule in rules.messages}
    assert kinds == {
        # applicant (and, for mediation sessions, the respondent and the departments invited)
        "case_received", "case_assigned", "session_scheduled", "session_reminder", "session_cancelled",
        "appointment_scheduled", "appointment_reminder", "appointment_cancelled", "agreement_reached",
        "confirmation_granted", "confirmation_rejected", "case_filed", "followup_visit",
        # the window to apply for judicial confirmation closing (parties, the unit handling the case)
        "confirmation_due_soon", "confirmation_overdue",
        # the court clerk (feedback stuck)
        "court_message_stuck",
        # departments
        "summons", "assignment", "case_returned",
        # unit heads and leaders
        "warning_blue", "warning_yellow", "warning_red", "case_escalated", "leader_instruction",
    }
    assert renderer.missing_templates() == []
    assert {rule.kind for rule in rules.messages if rule.urgent} == {"summons", "warning_red"}


def test_every_event_in_the_rulebook_has_a_handler_and_every_handler_a_rule(shipped):
    rules, _ = shipped
    handlers = {(entrypoint.source_service, entrypoint.event_type)
                for attribute in vars(NotifyService).values()
                for entrypoint in getattr(attribute, "nameko_entrypoints", ())
                if isinstance(entrypoint, ReliableEventHandler)}
    assert handlers == set(SUBSCRIBED)
    assert rules.events == SUBSCRIBED


def test_rules_pick_by_the_event_data(shipped):
    rules, _ = shipped
    for colour in ("blue", "yellow", "red"):
        picked = rules.for_event("routing", "sla_warning", {"colour": colour})
        assert [rule.kind for rule in picked] == [f"warning_{colour}"]
    for purpose, kind in (("mediation", "session_reminder"), ("legal_aid", "appointment_reminder"),
                          ("counselling", "appointment_reminder"), ("something_new", None)):
        picked = [rule.kind for rule in rules.for_event("mediation", "session_reminder", {"purpose": purpose})]
        assert picked == ([kind] if kind else [])
    assert rules.for_event("routing", "summons_acknowledged", {}) == []


def test_config_overrides_retry_delays_and_links():
    rules, _ = load_rulebook({"NOTIFY_RETRY_DELAYS": "[0.2, 0.4]",
                              "NOTIFY_PUBLIC_PROGRESS_URL": "https://ts.example.cn/p/{case_code}"})
    assert rules.retry.delays == (0.2, 0.4) and rules.retry.max_attempts == 3
    assert rules.links["public_progress"] == "https://ts.example.cn/p/{case_code}"
    assert rules.links["summons_ack"].endswith("/api/v1/summons/{summons_id}/ack")


def test_production_refuses_links_that_point_at_this_machine():
    public = {"NOTIFY_PUBLIC_PROGRESS_URL": "https://onestop.example.gov.cn/api/v1/public/progress/{case_code}"}
    with pytest.raises(RulesError, match="summons_ack"):
        load_rulebook({"ONESTOP_ENV": "prod", **public})
    rules, _ = load_rulebook({"ONESTOP_ENV": "prod", **public,
                              "NOTIFY_SUMMONS_ACK_URL": "https://onestop.example.gov.cn/api/v1/summons/{summons_id}/ack"})
    assert rules.links["summons_ack"].startswith("https://onestop.example.gov.cn/")
    assert load_rulebook({"ONESTOP_ENV": "dev"})[0].links["public_progress"].startswith("http://127.0.0.1:")


def test_a_rulebook_file_and_a_templates_directory_can_be_replaced(tmp_path: Path):
    raw = copy.deepcopy(RAW)
    raw["messages"] = [m for m in raw["messages"] if m["kind"] == "case_received"]
    raw["messages"][0]["to"][0]["channels"] = ["sms"]
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    (tmp_path / "case_received").mkdir()
    (tmp_path / "case_received" / "sms.j2").write_text("案件{{ case.code }}已受理。", encoding="utf-8")
    rules, renderer = load_rulebook({"NOTIFY_RULES_FILE": str(tmp_path / "rules.yaml"),
                                     "NOTIFY_TEMPLATES_DIR": str(tmp_path)})
    assert [rule.kind for rule in rules.messages] == ["case_received"]
    assert renderer.missing_templates() == []


def test_a_missing_template_stops_the_start(tmp_path: Path):
    with pytest.raises(RulesError, match="templates missing.*case_received/sms.j2"):
        load_rulebook({"NOTIFY_TEMPLATES_DIR": str(tmp_path)})


def broken(change):
    raw = copy.deepcopy(RAW)
    change(raw)
    return raw


def first(raw):
    return raw["messages"][0]


@pytest.mark.parametrize("change,message", [
    (lambda raw: first(raw).update(event="intake.case_closed"), "not one notify listens to"),
    (lambda raw: first(raw)["to"][0].update(channels=["fax"]), "unknown \\['fax'\\]"),
    (lambda raw: first(raw)["to"][0].update(channels=["email"]), "parties are reached by sms and inbox only"),
    (lambda raw: first(raw)["to"].append({"leaders_of": ["data.unit"], "channels": ["wechat"]}),
     "leaders have no WeChat"),
    (lambda raw: first(raw)["to"].append({"units": ["item.department"], "channels": ["inbox"]}), "needs `each`"),
    (lambda raw: first(raw)["to"].append({"units": ["data.Unit!"], "channels": ["inbox"]}), "is not data.X"),
    (lambda raw: first(raw)["to"].append({"channels": ["inbox"]}), "names no recipients"),
    (lambda raw: first(raw).update(replaces=["case_received"]), "replaces needs a topic"),
    (lambda raw: first(raw).update(topic="data.channel", replaces=["session_reminder"]),
     "not a message on the same topic"),
    (lambda raw: first(raw).update(link="nowhere"), "link 'nowhere' is not one of links"),
    (lambda raw: first(raw).update(colour="red"), "unknown keys \\['colour'\\]"),
    (lambda raw: raw["messages"].append(copy.deepcopy(first(raw))), "kinds must be unique"),
    (lambda raw: raw.update(quiet_hours={"timezone": "Mars/Olympus"}), "quiet_hours"),
    (lambda raw: raw.update(quiet_hours={"start": "25h"}), "not a clock time"),
    (lambda raw: raw.update(retry_delays_seconds="soon"), "retry_delays_seconds"),
    (lambda raw: raw.update(sms={"max_segments": 0}), "segment sizes"),
    (lambda raw: raw.update(messages=[]), "at least one message rule"),
])
def test_a_broken_rulebook_is_refused_with_the_reason(change, message):
    with pytest.raises(RulesError, match=message):
        parse_rules(broken(change), SUBSCRIBED)
