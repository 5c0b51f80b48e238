"""The case file: status moves from events, the closing rule, timeline texts, public views."""

from datetime import UTC, datetime, timedelta

import pytest

from services.intake.domain.casefile import (
    EVENT_RULES,
    STATUSES,
    Closing,
    Facts,
    closing,
    event_entry,
    event_values,
    next_status,
    outcome_final,
    parse_lifecycle,
    public_timeline,
    rating_refusal,
    record_facts,
    referral_after,
    told_before,
)
from services.intake.domain.views import progress_view
from services.intake.rulebook import DATA_DIR, read_yaml

LIFECYCLE = parse_lifecycle(read_yaml(DATA_DIR / "lifecycle.yaml"))
T0 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
WINDOW = timedelta(days=10)


def at(minutes):
    return T0 + timedelta(minutes=minutes)


def move(current, source_type, minutes=10, current_minutes=0, **data):
    return next_status(current, at(current_minutes), EVENT_RULES[source_type], at(minutes), data)


@pytest.mark.parametrize("event,current,expected", [
    (("routing", "case_assigned"), "registered", "assigned"),
    (("routing", "case_accepted"), "assigned", "accepted"),
    (("mediation", "session_scheduled"), "accepted", "in_mediation"),
    (("routing", "case_resolved"), "accepted", "resolved"),
    (("mediation", "agreement_reached"), "in_mediation", "agreement"),
    (("mediation", "mediation_failed"), "in_mediation", "failed"),
    (("mediation", "mediation_withdrawn"), "in_mediation", "withdrawn"),
    (("court_bridge", "confirmation_granted"), "agreement", "confirmed"),
    (("court_bridge", "case_filed"), "failed", "filed"),
    # a step may be skipped: a court referral goes straight to mediation
    (("mediation", "session_scheduled"), "registered", "in_mediation"),
])
def test_events_move_the_status_forward(event, current, expected):
    assert move(current, event) == expected


@pytest.mark.parametrize("event,current", [
    (("mediation", "session_scheduled"), "agreement"),   # the session event arrived after the outcome
    (("routing", "case_accepted"), "confirmed"),
    (("routing", "case_assigned"), "closed"),
    (("mediation", "agreement_reached"), "closed"),
    (("routing", "case_assigned"), "merged"),
])
def test_late_events_never_move_the_status_backwards(event, current):
    assert move(current, event) is None


@pytest.mark.parametrize("event", [
    ("routing", "case_escalated"), ("routing", "sla_warning"), ("routing", "leader_assigned"),
    ("routing", "departments_summoned"), ("mediation", "followup_required"),
    ("court_bridge", "confirmation_rejected"), ("court_bridge", "referral_feedback_sent"),
    ("court_bridge", "referral_extended"), ("court_bridge", "confirmation_due"),
])
def test_events_that_only_add_to_the_timeline(event):
    assert move("accepted", event) is None


def test_outcomes_of_the_same_rank_follow_the_order_they_happened_in():
    # mediation failed at minute 10, was resumed, and reached agreement at minute 30
    assert move("failed", ("mediation", "agreement_reached"), minutes=30, current_minutes=10) == "agreement"
    # the failure event delivered late (it happened before the agreement) changes nothing
    assert move("agreement", ("mediation", "mediation_failed"), minutes=10, current_minutes=30) is None


def test_a_transfer_of_an_accepted_case_assigns_it_afresh_until_the_new_unit_signs():
    assert move("accepted", ("routing", "case_assigned"), minutes=20, current_minutes=10) == "assigned"
    assert move("accepted", ("routing", "case_assigned"), minutes=5, current_minutes=10) is None  # a late one
    assert move("in_mediation", ("routing", "case_assigned"), minutes=20, current_minutes=10) is None
    assert move("registered", ("routing", "case_assigned")) == "assigned"


def test_a_return_after_acceptance_is_the_one_step_back():
    assert move("accepted", ("routing", "case_returned"), minutes=20, current_minutes=10) == "assigned"
    assert move("accepted", ("routing", "case_returned"), minutes=5, current_minutes=10) is None
    assert move("in_mediation", ("routing", "case_returned")) is None


def test_a_counselling_session_is_not_mediation():
    assert move("accepted", ("mediation", "session_scheduled"), purpose="counselling") is None
    assert move("accepted", ("mediation", "session_scheduled"), purpose="mediation") == "in_mediation"


def test_which_outcomes_are_final():
    assert all(outcome_final(status, Facts()) for status in ("resolved", "confirmed", "filed", "withdrawn"))
    assert outcome_final("agreement", Facts(confirmation_requested=False))
    assert not outcome_final("agreement", Facts(confirmation_requested=True))
    assert outcome_final("failed", Facts())
    assert not outcome_final("failed", Facts(wants_litigation=True))
    assert not outcome_final("failed", Facts(court_referred=True))
    assert not outcome_final("in_mediation", Facts())


def test_closing_waits_for_the_rating_or_the_window():
    waiting = closing("resolved", T0, Facts(), WINDOW, T0 + timedelta(days=1))
    assert not waiting.close_now and waiting.due_at == T0 + WINDOW
    assert closing("resolved", T0, Facts(), WINDOW, T0 + WINDOW).close_now
    rated = closing("resolved", T0, Facts(rated=True), WINDOW, T0)
    assert rated.close_now and rated.reason == "rated"


def test_a_required_follow_up_holds_the_case_open_until_every_visit_is_green():
    pending = Facts(rated=True, followups={"f1": True, "f2": False})
    assert closing("agreement", T0, pending, WINDOW, T0 + timedelta(days=30)) == Closing()
    green = Facts(followups={"f1": True, "f2": True})
    assert closing("agreement", T0, green, WINDOW, T0).reason == "followup_green"


def test_nothing_closes_before_its_outcome_is_final():
    assert not closing("in_mediation", T0, Facts(rated=True), WINDOW, T0 + WINDOW * 2).close_now
    assert not closing("agreement", T0, Facts(confirmation_requested=True, rated=True), WINDOW, T0).close_now


def test_facts_are_recorded_from_events():
    facts = record_facts(Facts(), "mediation", "agreement_reached", {"confirmation_requested": True})
    assert facts.confirmation_requested
    facts = record_facts(facts, "mediation", "followup_required", {"followup_id": "f1"})
    facts = record_facts(facts, "mediation", "followup_recorded", {"followup_id": "f1", "green": False})
    assert facts.followups == {"f1": False}
    facts = record_facts(facts, "mediation", "followup_recorded", {"followup_id": "f1", "green": True})
    facts = record_facts(facts, "mediation", "followup_recorded", {"followup_id": "f1", "green": False})
    assert facts.followups == {"f1": True}  # a later red visit does not undo the green one
    assert Facts.from_doc(facts.as_doc()) == facts


def test_ratings_only_after_the_outcome():
    assert rating_refusal("in_mediation") and rating_refusal("merged")
    assert all(rating_refusal(status) is None for status in
               ("resolved", "agreement", "failed", "withdrawn", "confirmed", "filed", "closed"))


def test_timeline_texts_are_chinese_and_carry_the_events_facts():
    session = event_entry("mediation", "session_scheduled", "e1", at(0), {
        "kind": "video", "starts_at": datetime(2026, 11, 25, 1, 30, tzinfo=UTC)}, LIFECYCLE, "in_mediation")
    assert session["text"] == "已安排远程视频调解，时间：2026年11月25日 09:30"
    assert session["public"] and session["status"] == "in_mediation"
    assigned = event_entry("routing", "case_assigned", "e2", at(0), {"level": "township", "unit": "140106001:office"},
                           LIFECYCLE, "assigned")
    assert assigned["text"] == "已分派至乡镇（街道）综治中心办理"
    assert assigned["actor"] == {"service": "routing", "id": "140106001:office"}
    warning = event_entry("routing", "sla_warning", "e3", at(0), {"colour": "red", "clock": "resolve",
                                                                  "reason": "overdue"}, LIFECYCLE, None)
    assert not warning["public"] and warning["text"] == "红色督办（resolve）：overdue"
    failed = event_entry("mediation", "mediation_failed", "e4", at(0), {"wants_litigation": True}, LIFECYCLE, "failed")
    assert "引导诉讼" in failed["text"]


def test_every_status_has_a_public_label():
    assert all(LIFECYCLE.label("status", status) != status for status in STATUSES)


def test_the_public_sees_masked_parties_and_public_entries_in_time_order():
    case = {
        "case_code": "140106-261123-LB-0001-X", "status": "resolved", "category": "labour",
        "registered_at": datetime(2026, 11, 22, 17, 0, tzinfo=UTC),
        "parties": [
            {"role": "applicant", "name_masked": "王**", "phone_masked": "138****5678", "name_enc": "secret"},
            {"role": "third_party", "name_masked": "赵*", "phone_masked": None},
        ],
        "timeline": [
            {"at": at(5), "text": "承办单位已签收，正在办理", "public": True, "actor": {"id": "u"}},
            {"at": at(1), "text": "经来访登记受理", "public": True},
            {"at": at(3), "text": "蓝色预警：sign时限", "public": False},
        ],
    }
    view = progress_view(case, LIFECYCLE)
    assert view["registered_on"] == "2026-11-23" and view["status_text"] == "已化解"
    assert view["parties"] == [{"role": "applicant", "role_text": "申请人", "name": "王**", "phone": "138****5678"}]
    assert [entry["text"] for entry in view["timeline"]] == ["经来访登记受理", "承办单位已签收，正在办理"]
    assert view["can_rate"] is True
    assert "secret" not in str(view) and "actor" not in str(view)
    assert public_timeline([]) == []


DEADLINE = datetime(2026, 12, 20, 15, 59, 59, tzinfo=UTC)        # 2026-12-20 23:59:59 in Asia/Shanghai
EXTENDED = datetime(2026, 12, 30, 15, 59, 59, tzinfo=UTC)
REFERRAL = {"court_id": "court-a", "referral_id": "R-1", "batch_id": "B-1", "deadline": DEADLINE}
EXTENSION = {"court_id": "court-a", "referral_id": "R-1", "previous_deadline": DEADLINE, "deadline": EXTENDED,
             "reason": "双方同意延期，申请人电话13812345678"}


def test_an_extension_moves_the_referral_deadline_later_and_only_later():
    assert referral_after(REFERRAL, "referral_extended", EXTENSION) == {**REFERRAL, "deadline": EXTENDED}
    extended = {**REFERRAL, "deadline": EXTENDED}
    assert referral_after(extended, "referral_extended", EXTENSION) is None            # told again
    earlier = {**EXTENSION, "previous_deadline": DEADLINE - timedelta(days=5), "deadline": DEADLINE}
    assert referral_after(extended, "referral_extended", earlier) is None              # an older one, late
    # the referral itself read after its extension keeps the extended deadline and adds the batch
    received = {"court_id": "court-a", "referral_id": "R-1", "batch_id": "B-1", "deadline": DEADLINE}
    assert referral_after({**extended, "batch_id": None}, "referral_received", received) == extended


def test_a_referral_of_another_court_leaves_the_files_referral_alone():
    other_court = {**EXTENSION, "court_id": "court-b"}
    assert referral_after(REFERRAL, "referral_extended", other_court) is None
    assert referral_after(REFERRAL, "referral_received", {**REFERRAL, "referral_id": "R-2"}) is None
    assert referral_after(None, "referral_extended", EXTENSION) == {
        "court_id": "court-a", "referral_id": "R-1", "batch_id": None, "deadline": EXTENDED}
    assert referral_after(REFERRAL, "case_filed", {"court_id": "court-a", "referral_id": "R-1"}) is None


def test_an_extension_is_told_to_the_public_in_chinese_without_personal_numbers():
    entry = event_entry("court_bridge", "referral_extended", "e1", at(0), EXTENSION, LIFECYCLE, None)
    assert entry["public"] and entry["text"] == "经当事人同意，诉前调解期限延长至2026年12月30日"
    assert entry["actor"] == {"service": "court_bridge", "id": "court-a"}
    values = event_values("court_bridge", "referral_extended", EXTENSION, LIFECYCLE)
    assert values["previous_deadline_local"] == "2026年12月20日"
    assert values["reason"] == "双方同意延期，申请人电话138****5678"


@pytest.mark.parametrize("level,text", [
    ("due_soon", "司法确认申请期限即将届满（2026年12月20日），尚未提出申请，请及时办理"),
    ("overdue", "司法确认申请期限已届满（2026年12月20日），尚未提出申请，请及时办理"),
])
def test_a_confirmation_window_closing_is_an_internal_entry(level, text):
    data = {"court_id": "court-a", "agreement_id": "ag-1", "deadline": DEADLINE, "level": level}
    entry = event_entry("court_bridge", "confirmation_due", "e1", at(0), data, LIFECYCLE, None)
    assert entry["text"] == text and entry["public"] is False
    assert public_timeline([entry]) == []


@pytest.mark.parametrize("outcome,text", [
    ("agreement", "已向委派法院反馈调解结果：调解成功"),
    ("deadline_passed", "已向委派法院反馈调解结果：诉前调解期限届满"),
])
def test_the_courts_feedback_says_what_it_was_told(outcome, text):
    data = {"court_id": "court-a", "referral_id": "R-1", "outcome": outcome}
    entry = event_entry("court_bridge", "referral_feedback_sent", "e1", at(0), data, LIFECYCLE, None)
    assert entry["text"] == text and entry["public"] is False


def test_the_same_fact_in_another_event_is_recognised():
    data = {"court_id": "court-a", "agreement_id": "ag-1", "deadline": DEADLINE, "level": "due_soon"}
    first = event_entry("court_bridge", "confirmation_due", "e1", at(0), data, LIFECYCLE, None)
    again = event_entry("court_bridge", "confirmation_due", "e2", at(5), data, LIFECYCLE, None)
    overdue = event_entry("court_bridge", "confirmation_due", "e3", at(9), {**data, "level": "overdue"},
                          LIFECYCLE, None)
    assert told_before([first], again["kind"], again["fact"])
    assert not told_before([first], overdue["kind"], overdue["fact"])
    plain = event_entry("routing", "case_accepted", "e4", at(0), {}, LIFECYCLE, "accepted")
    assert "fact" not in plain and not told_before([plain], plain["kind"], None)
