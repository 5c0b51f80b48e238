"""The case file kept from routing, mediation and court_bridge events, and when it closes."""

from datetime import timedelta

import pytest
from nameko.testing.utils import get_extension

from services.common.consumers import dead_letter_queue_name
from services.common.contracts import utcnow
from services.intake.dependencies import IntakeClock
from services.intake.service import IntakeService
from tests.support.broker import drain, publish_event
from tests.support.infra import wait_for
from tests.support.intake_bus import Capture, case_ref_of, send
from tests.support.intake_samples import CLERK, case_payload

ASSIGNED = {"tier": "complex", "level": "county", "unit": "140106:centre", "lead_department": "140106:hrss",
            "departments": ["140106:hrss"], "rule": {"rule_id": "mass-labour", "reason": "mass dispute"}}


@pytest.fixture
def intake(start_service):
    return start_service(IntakeService, INTAKE_CLOSING_SWEEP_SECONDS=0.2)


@pytest.fixture
def bus(intake):
    return Capture(intake.config["AMQP_URI"])


@pytest.fixture
def case(intake, bus):
    body = intake.post("/api/v1/cases", case_payload(), auth=CLERK).json()
    wait_for(lambda: bus.events("case_registered"))
    return body


def stored(intake, case):
    return intake.db.cases.find_one({"_id": case["case_id"]})


def status_is(intake, case, status):
    return wait_for(lambda: stored(intake, case)["status"] == status, message=f"status {status}")


def at(minutes):
    return utcnow() + timedelta(minutes=minutes)


def publish(intake, case, source, event_type, data, minutes=1):
    return send(intake.config["AMQP_URI"], source, event_type, case_ref_of(case), data, occurred_at=at(minutes))


def transitions(bus):
    return [(e["data"]["from_status"], e["data"]["to_status"]) for e in bus.events("case_status_changed")]


def test_a_case_moves_through_assignment_mediation_and_judicial_confirmation(intake, bus, case):
    publish(intake, case, "routing", "case_assigned", ASSIGNED, 1)
    status_is(intake, case, "assigned")
    publish(intake, case, "routing", "case_accepted", {"unit": "140106:centre", "actor": "dispatcher-7"}, 2)
    status_is(intake, case, "accepted")
    publish(intake, case, "mediation", "session_scheduled", {
        "session_id": "s1", "kind": "on_site", "starts_at": "2026-11-25T01:30:00Z", "ends_at": "2026-11-25T03:00:00Z",
        "room_id": "r1", "mediator_id": "m-9"}, 3)
    status_is(intake, case, "in_mediation")
    publish(intake, case, "mediation", "agreement_reached", {
        "agreement_id": "a1", "confirmation_requested": True, "agreement_hash": "h", "amount": 1800000}, 4)
    status_is(intake, case, "agreement")
    assert stored(intake, case).get("close_due_at") is None  # waits for the court
    publish(intake, case, "court_bridge", "confirmation_applied", {"court_id": "c1", "application_id": "ap1"}, 5)
    publish(intake, case, "court_bridge", "confirmation_granted",
            {"court_id": "c1", "ruling_number": "(2026)晋0106民特1号"}, 6)
    status_is(intake, case, "confirmed")
    assert stored(intake, case)["close_due_at"] is not None
    wait_for(lambda: len(transitions(bus)) == 5)
    assert transitions(bus) == [("registered", "assigned"), ("assigned", "accepted"), ("accepted", "in_mediation"),
                                ("in_mediation", "agreement"), ("agreement", "confirmed")]
    reasons = [e["data"]["reason"] for e in bus.events("case_status_changed")]
    assert reasons[0] == "routing.case_assigned" and reasons[-1] == "court_bridge.confirmation_granted"
    file = intake.get(f"/api/v1/cases/{case['case_code']}", auth=CLERK).json()
    texts = [entry["text"] for entry in file["timeline"]]
    assert texts[1:] == ["已分派至县（区）综治中心办理", "承办单位已签收，正在办理",
                         "已安排现场调解，时间：2026年11月25日 09:30", "调解成功，双方已达成调解协议",
                         "已向人民法院申请司法确认",
                         "人民法院已出具司法确认裁定，调解协议具有强制执行力"]
    actors = [entry["actor"] for entry in file["timeline"]]
    assert actors[2] == {"service": "routing", "id": "dispatcher-7"} and actors[3] == {"service": "mediation",
                                                                                        "id": "m-9"}
    # the public sees the same story and can now rate it, which closes the case
    progress = intake.get(f"/api/v1/public/progress/{case['case_code']}?phone_tail=5678").json()
    assert progress["status"] == "confirmed" and progress["can_rate"] is True
    rated = intake.post(f"/api/v1/public/cases/{case['case_code']}/rating", {"phone_tail": "5678", "score": 5})
    assert rated.status_code == 201 and rated.json()["status"] == "closed"
    closed = wait_for(lambda: bus.events("case_closed"))[0]
    assert closed["data"]["final_status"] == "confirmed"
    assert stored(intake, case)["status"] == "closed" and stored(intake, case)["final_status"] == "confirmed"
    audit = intake.db.audit_log.count_documents({"case_code": case["case_code"], "action": "case.event"})
    assert audit == 6


def test_events_out_of_order_never_move_the_status_backwards(intake, bus, case):
    publish(intake, case, "mediation", "agreement_reached", {
        "agreement_id": "a1", "confirmation_requested": True, "agreement_hash": "h"}, 30)
    status_is(intake, case, "agreement")
    publish(intake, case, "routing", "case_assigned", ASSIGNED, 10)
    publish(intake, case, "mediation", "session_scheduled", {
        "session_id": "s1", "kind": "video", "starts_at": "2026-11-25T01:30:00Z", "ends_at": "2026-11-25T03:00:00Z",
        "join_link": "https://example.invalid/x", "mediator_id": "m-9"}, 20)
    wait_for(lambda: len(stored(intake, case)["timeline"]) == 4)
    assert stored(intake, case)["status"] == "agreement"
    wait_for(lambda: transitions(bus), message="the status change on the bus")
    assert transitions(bus) == [("registered", "agreement")]
    kinds = [entry["kind"] for entry in intake.get(f"/api/v1/cases/{case['case_code']}", auth=CLERK).json()["timeline"]]
    assert kinds == ["intake.registered", "routing.case_assigned", "mediation.session_scheduled",
                     "mediation.agreement_reached"]


def test_a_redelivered_event_is_applied_once(intake, bus, case):
    envelope = publish(intake, case, "routing", "case_assigned", ASSIGNED)
    publish_event(intake.config["AMQP_URI"], envelope)
    status_is(intake, case, "assigned")
    wait_for(lambda: intake.db.inbox.count_documents({"_id": envelope["event_id"]}) == 1)
    wait_for(lambda: 'outcome="duplicate"' in intake.get("/metrics").text, message="the repeat to be counted")
    assert len(stored(intake, case)["timeline"]) == 2
    wait_for(lambda: bus.events("case_status_changed"), message="the status change on the bus")
    assert len(bus.events("case_status_changed")) == 1


def test_a_return_after_acceptance_puts_the_case_back_to_assigned(intake, bus, case):
    publish(intake, case, "routing", "case_assigned", ASSIGNED, 1)
    publish(intake, case, "routing", "case_accepted", {"unit": "140106001:office"}, 2)
    status_is(intake, case, "accepted")
    publish(intake, case, "routing", "case_returned", {"unit": "140106001:office", "reason": "not ours"}, 3)
    status_is(intake, case, "assigned")
    wait_for(lambda: transitions(bus)[-1:] == [("accepted", "assigned")], message="the step back on the bus")


def test_a_required_follow_up_keeps_the_case_open_until_the_visit_is_green(intake, bus, case):
    publish(intake, case, "routing", "case_resolved", {"unit": "140106001:office"}, 1)
    publish(intake, case, "mediation", "followup_required",
            {"followup_id": "f1", "reason": "risk", "first_visit_due": at(60 * 24).isoformat()}, 2)
    wait_for(lambda: stored(intake, case)["facts"]["followups"] == {"f1": False})
    rated = intake.post(f"/api/v1/public/cases/{case['case_code']}/rating", {"phone_tail": "5678", "score": 4,
                                                                            "comment": "处理及时"})
    assert rated.json()["status"] == "resolved"
    publish(intake, case, "mediation", "followup_recorded",
            {"followup_id": "f1", "visit_number": 1, "state": "unstable", "green": False}, 3)
    wait_for(lambda: len(stored(intake, case)["timeline"]) == 5)
    assert stored(intake, case)["status"] == "resolved"
    publish(intake, case, "mediation", "followup_recorded",
            {"followup_id": "f1", "visit_number": 2, "state": "stable", "green": True, "satisfaction": 5}, 4)
    status_is(intake, case, "closed")
    wait_for(lambda: transitions(bus)[-1:] == [("resolved", "closed")], message="the closing on the bus")
    assert bus.events("case_status_changed")[-1]["data"]["reason"] == "followup_green"
    assert wait_for(lambda: bus.events("case_closed"))[0]["data"]["final_status"] == "resolved"


def test_without_a_rating_the_case_closes_when_the_rating_window_passes(intake, bus, case):
    publish(intake, case, "routing", "case_resolved", {"unit": "140106001:office"}, 0)
    status_is(intake, case, "resolved")
    due = stored(intake, case)["close_due_at"]
    assert timedelta(days=9, hours=23) < due - utcnow() <= timedelta(days=10, minutes=1)
    get_extension(intake.container, IntakeClock).offset = timedelta(days=10, minutes=5)
    status_is(intake, case, "closed")
    closed = wait_for(lambda: bus.events("case_closed"))[0]
    assert closed["data"]["final_status"] == "resolved"
    wait_for(lambda: transitions(bus)[-1:] == [("resolved", "closed")], message="the closing on the bus")
    assert bus.events("case_status_changed")[-1]["data"]["reason"] == "rating_window_elapsed"
    assert "close_due_at" not in stored(intake, case)
    assert intake.db.audit_log.find_one({"action": "case.close"})["actor"]["sub"] == "system:closing-sweep"


def test_a_failed_mediation_headed_for_court_waits_for_the_filing(intake, bus, case):
    publish(intake, case, "mediation", "mediation_failed", {"reason": "分歧较大", "wants_litigation": True}, 1)
    status_is(intake, case, "failed")
    assert stored(intake, case).get("close_due_at") is None
    publish(intake, case, "court_bridge", "filing_requested", {"court_id": "c1", "track": "priority"}, 2)
    publish(intake, case, "court_bridge", "case_filed", {"court_id": "c1", "track": "priority",
                                                         "docket_number": "(2026)晋0106民初1号"}, 3)
    status_is(intake, case, "filed")
    assert stored(intake, case)["close_due_at"] is not None
    texts = [entry["text"] for entry in stored(intake, case)["timeline"]]
    assert texts[-1] == "人民法院已立案（优先立案）" and "引导诉讼" in texts[1]


def test_an_event_about_a_case_intake_does_not_hold_is_dead_lettered(intake):
    amqp = intake.config["AMQP_URI"]
    send(amqp, "routing", "case_assigned", {"case_id": "nope", "case_code": "140106-261123-LB-0999-0",
                                            "jurisdiction": "140106", "category": "labour"}, ASSIGNED)
    parked = wait_for(lambda: drain(amqp, dead_letter_queue_name("intake")), timeout=15,
                      message="the event to be dead-lettered")
    assert "UnknownCase" in parked[0].headers["x-onestop-error"]
    assert intake.db.cases.count_documents({"case_code": "140106-261123-LB-0999-0"}) == 0
