"""Recipient selection: who gets which message on which channel, from the rulebook, the
event and what intake and routing answer."""

from datetime import timedelta

import pytest

from services.notify.domain import recipients
from services.notify.domain.delivery import dedupe_key
from services.notify.domain.recipients import LEADER, PARTY, UNIT
from services.notify.rulebook import load_rulebook
from tests.support.notify_samples import COMPLETE, CONTACTS, NOW, UNITS, envelope, received


@pytest.fixture(scope="module")
def rules():
    return load_rulebook({})[0]


def plan_for(rules, source, event_type, data=None, *, contacts=CONTACTS, units=UNITS, view=None):
    event = received(envelope(source, event_type, data))
    matching = rules.for_event(source, event_type, event["data"])
    roles = recipients.needed_roles(matching)
    wanted = recipients.needed_units(matching, event, view)
    known = {unit_id: units.get(unit_id) for unit_id in wanted}
    chosen = [c for c in contacts if c["role"] in roles]
    return recipients.plan(matching, event, case_view=view, contacts=chosen, units=known)


def table(plan):
    return sorted((t.rule.kind, t.recipient.kind, t.recipient.id, t.channel) for t in plan.targets)


def test_a_registered_case_tells_the_applicant_by_sms_and_inbox(rules):
    plan = plan_for(rules, "intake", "case_registered")
    assert table(plan) == [("case_received", PARTY, "party-applicant-1", "inbox"),
                           ("case_received", PARTY, "party-applicant-1", "sms")]
    sms = next(t for t in plan.targets if t.channel == "sms")
    assert sms.address == "13812345678"
    assert sms.recipient.display == "王**"
    inbox = next(t for t in plan.targets if t.channel == "inbox")
    assert inbox.address == "party-applicant-1"


def test_an_applicant_without_a_phone_still_gets_the_inbox_and_an_sms_without_address(rules):
    contacts = [{**CONTACTS[0], "phone": None}]
    plan = plan_for(rules, "intake", "case_registered", contacts=contacts)
    by_channel = {t.channel: t for t in plan.targets}
    assert by_channel["sms"].address is None and by_channel["inbox"].address == "party-applicant-1"


def test_each_summoned_department_gets_its_summons_on_every_channel_it_has(rules):
    plan = plan_for(rules, "routing", "departments_summoned")
    summons = [t for t in plan.targets if t.rule.kind == "summons"]
    assert {(t.recipient.id, t.item.key) for t in summons} == {("140106:hrss", "sm-hrss-1"),
                                                              ("140106:housing", "sm-housing-1")}
    hrss = {t.channel: t.address for t in summons if t.recipient.id == "140106:hrss"}
    assert hrss == {"sms": "03514040101", "wechat": "oYZhrss00000001", "email": "hrss@yingze.example.cn",
                    "inbox": "140106:hrss"}
    housing = {t.channel: t.address for t in summons if t.recipient.id == "140106:housing"}
    assert housing["inbox"] == "140106:housing"  # no inbox id in the directory: the unit id is its inbox
    assert {t.item.value["report_by"] for t in summons} == {NOW + timedelta(minutes=30),
                                                            NOW + timedelta(minutes=40)}
    assert all(t.rule.urgent for t in summons)


def test_an_assignment_reaches_the_unit_and_every_department_once_and_the_applicant(rules):
    plan = plan_for(rules, "routing", "case_assigned")
    assigned = {(t.recipient.id, t.channel) for t in plan.targets if t.rule.kind == "assignment"}
    # unit, lead department and co-departments; the lead is also in departments but is told once
    assert assigned == {(unit, channel)
                        for unit in ("140106:centre", "140106:hrss", "140106:housing", "140106:judicial")
                        for channel in ("wechat", "email", "inbox")}
    assert len([t for t in plan.targets if t.rule.kind == "assignment"]) == 12
    judicial = {t.channel: t.address for t in plan.targets if t.recipient.id == "140106:judicial"}
    assert judicial["wechat"] is None  # no WeChat account in the directory: that message is skipped
    applicant = [t for t in plan.targets if t.rule.kind == "case_assigned"]
    assert {t.channel for t in applicant} == {"sms", "inbox"}


def test_a_red_warning_reaches_the_unit_the_county_centre_and_their_leaders(rules):
    plan = plan_for(rules, "routing", "sla_warning")
    assert {t.rule.kind for t in plan.targets} == {"warning_red"}
    who = {(t.recipient.kind, t.recipient.id) for t in plan.targets}
    assert who == {(UNIT, "140106:hrss"), (UNIT, "140106:centre"), (LEADER, "140106:hrss#leader-1"),
                   (LEADER, "leader-140106-centre-1")}
    leader_sms = [t for t in plan.targets if t.recipient.kind == LEADER and t.channel == "sms"]
    assert {t.address for t in leader_sms} == {"13900000001", "13900000002"}
    # a leader without an inbox id gets no inbox message (no address), but still sms and e-mail
    hrss_head = {t.channel: t.address for t in plan.targets if t.recipient.id == "140106:hrss#leader-1"}
    assert hrss_head["inbox"] is None and hrss_head["email"] == "zhangwei@yingze.example.cn"
    assert next(t for t in leader_sms if t.recipient.id == "140106:hrss#leader-1").recipient.display == "张*（局长）"


def test_a_blue_warning_goes_to_the_unit_and_its_head_only(rules):
    data = {**COMPLETE[("routing", "sla_warning")], "colour": "blue"}
    plan = plan_for(rules, "routing", "sla_warning", data)
    assert {t.rule.kind for t in plan.targets} == {"warning_blue"}
    assert {t.recipient.id for t in plan.targets} == {"140106:hrss", "140106:hrss#leader-1"}
    assert "sms" not in {t.channel for t in plan.targets}


def test_a_yellow_warning_is_handed_up_to_the_county_centre(rules):
    data = {**COMPLETE[("routing", "sla_warning")], "colour": "yellow"}
    plan = plan_for(rules, "routing", "sla_warning", data)
    assert ("unit", "140106:centre", "inbox") in {(t.recipient.kind, t.recipient.id, t.channel)
                                                  for t in plan.targets}


def test_a_city_centre_reference_uses_the_city_code():
    scope = {"data": {}, "item": None, "case": {}, "jurisdiction": "140106001001"}
    assert recipients.unit_ids(["centre:county", "centre:city"], scope) == ["140106:centre", "140100:centre"]


def test_a_unit_the_directory_does_not_know_is_reported_not_invented(rules):
    data = {**COMPLETE[("routing", "case_escalated")], "to_unit": "140106:nowhere"}
    plan = plan_for(rules, "routing", "case_escalated", data)
    assert plan.targets == [] and plan.unknown_units == ["140106:nowhere"]


def test_a_leader_instruction_reaches_the_unit_handling_the_case_now(rules):
    view = {"unit": "140106:hrss", "level": "county"}
    plan = plan_for(rules, "routing", "leader_assigned", view=view)
    assert {(t.recipient.id, t.channel) for t in plan.targets} == {
        ("140106:hrss", "sms"), ("140106:hrss", "wechat"), ("140106:hrss", "email"), ("140106:hrss", "inbox"),
        ("140106:centre", "inbox")}
    without_view = plan_for(rules, "routing", "leader_assigned")
    assert {t.recipient.id for t in without_view.targets} == {"140106:centre"}


def test_a_return_is_recorded_with_the_unit_that_returned_it_and_the_dispatcher(rules):
    plan = plan_for(rules, "routing", "case_returned")
    assert {t.recipient.id for t in plan.targets} == {"140106001:office", "140106:centre"}
    event = received(envelope("routing", "case_returned"))
    named = recipients.needed_units(rules.for_event("routing", "case_returned", event["data"]), event, None)
    assert "140106:hrss" in named  # the suggested unit is named in the text


def test_a_mediation_session_reaches_both_parties_and_the_invited_departments(rules):
    for event_type in ("session_scheduled", "session_reminder", "session_cancelled"):
        plan = plan_for(rules, "mediation", event_type)
        assert {t.rule.kind for t in plan.targets} == {event_type}
        assert {t.recipient.id for t in plan.targets} == {"party-applicant-1", "party-respondent-1",
                                                         "140106:hrss", "140106:housing"}
        assert {t.channel for t in plan.targets if t.recipient.kind == PARTY} == {"sms", "inbox"}


def test_a_counselling_appointment_reaches_the_applicant_alone(rules):
    for event_type in ("session_scheduled", "session_reminder", "session_cancelled"):
        data = {**COMPLETE[("mediation", event_type)], "purpose": "counselling"}
        plan = plan_for(rules, "mediation", event_type, data)
        assert {t.rule.kind for t in plan.targets} == {event_type.replace("session", "appointment")}
        assert {t.recipient.id for t in plan.targets} == {"party-applicant-1"}


def test_session_messages_share_the_session_as_topic_and_later_ones_replace_earlier_ones(rules):
    event = received(envelope("mediation", "session_scheduled"))
    rule = next(r for r in rules.messages if r.kind == "session_scheduled")
    assert recipients.topic(rule, event) == "data.session_id=sess-1"
    assert rules.replaced_by("session_reminder") == {"session_scheduled", "session_reminder", "session_cancelled"}
    assert rules.replaced_by("session_scheduled") == {"session_scheduled", "session_cancelled"}
    assert rules.replaced_by("session_cancelled") == frozenset()
    assert rules.replaced_by("case_received") == frozenset()


def test_a_stuck_court_message_reaches_the_courts_clerk_from_the_directory_and_the_county_centre(rules):
    plan = plan_for(rules, "court_bridge", "message_stuck")
    assert table(plan) == [
        ("court_message_stuck", UNIT, "140106:centre", "inbox"),
        ("court_message_stuck", UNIT, "140106:court", "email"),
        ("court_message_stuck", UNIT, "140106:court", "inbox"),
        ("court_message_stuck", UNIT, "140106:court", "wechat")]
    clerk = {t.channel: t.address for t in plan.targets if t.recipient.id == "140106:court"}
    assert clerk == {"wechat": "oYZcourt0000001", "email": "court.140106@yingze.example.cn", "inbox": "140106:court"}
    unknown = plan_for(rules, "court_bridge", "message_stuck",
                       {**COMPLETE[("court_bridge", "message_stuck")], "court_id": "140199:court"})
    assert unknown.unknown_units == ["140199:court"] and {t.recipient.id for t in unknown.targets} == {
        "140106:centre"}


def test_a_closing_confirmation_window_reaches_both_parties_and_the_unit_handling_the_case(rules):
    view = {"unit": "140106:committee:labour", "level": "county"}
    soon = plan_for(rules, "court_bridge", "confirmation_due", view=view)
    assert table(soon) == [
        ("confirmation_due_soon", PARTY, "party-applicant-1", "inbox"),
        ("confirmation_due_soon", PARTY, "party-applicant-1", "sms"),
        ("confirmation_due_soon", PARTY, "party-respondent-1", "inbox"),  # they apply together
        ("confirmation_due_soon", PARTY, "party-respondent-1", "sms"),
        ("confirmation_due_soon", UNIT, "140106:committee:labour", "email"),
        ("confirmation_due_soon", UNIT, "140106:committee:labour", "inbox"),
        ("confirmation_due_soon", UNIT, "140106:committee:labour", "wechat")]
    overdue = plan_for(rules, "court_bridge", "confirmation_due",
                       {**COMPLETE[("court_bridge", "confirmation_due")], "level": "overdue"}, view=view)
    assert table(overdue) == [
        ("confirmation_overdue", PARTY, "party-applicant-1", "inbox"),
        ("confirmation_overdue", PARTY, "party-applicant-1", "sms"),
        ("confirmation_overdue", UNIT, "140106:centre", "inbox"),
        ("confirmation_overdue", UNIT, "140106:committee:labour", "email"),
        ("confirmation_overdue", UNIT, "140106:committee:labour", "inbox")]
    event = received(envelope("court_bridge", "confirmation_due"))
    named = recipients.needed_units(rules.for_event("court_bridge", "confirmation_due", event["data"]), event, view)
    assert "140106:court" in named  # the court is named in the text


def test_a_recipient_is_found_again_from_fresh_answers():
    again = recipients.find_recipient(PARTY, "party-applicant-1", contacts=CONTACTS)
    assert again.address("sms") == "13812345678"
    assert recipients.find_recipient(PARTY, "party-gone", contacts=CONTACTS) is None
    leader = recipients.find_recipient(LEADER, "140106:hrss#leader-1", unit=UNITS["140106:hrss"])
    assert leader.address("email") == "zhangwei@yingze.example.cn"
    assert recipients.find_recipient(UNIT, "140106:hrss", unit=None) is None


def test_the_dedupe_key_separates_channels_items_and_recipients_but_not_deliveries():
    keys = {dedupe_key("e1", "summons", item, "unit", unit, channel)
            for item in ("sm-1", "sm-2") for unit in ("u1", "u2") for channel in ("sms", "email")}
    assert len(keys) == 8
    assert dedupe_key("e1", "case_received", None, "party", "p1", "sms") == \
        dedupe_key("e1", "case_received", None, "party", "p1", "sms")
