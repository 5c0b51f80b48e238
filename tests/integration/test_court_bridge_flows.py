"""court_bridge with the court simulator (its own process) on the real RabbitMQ: the issue's
Done-when with the real intake, and (with a stub intake) referral batches, confirmation,
filing on both tracks, feedback, and a court that is down."""

import dataclasses
import json
import re
from collections import Counter
from datetime import timedelta

import pytest
from nameko.testing.utils import get_extension

from services.court_bridge.dependencies import Clock, CourtReference
from services.court_bridge.service import CourtBridgeService
from services.intake.service import IntakeService
from tests.support.broker import drain, publish_event
from tests.support.court_bridge_support import (
    COURT,
    COURT_ID,
    DISPATCHER,
    FAST,
    MEDIATOR,
    TERMS,
    StubIntake,
    batch,
    bind_sink,
    make_case_code,
    mediation_event,
    mediation_sessions,
    metric,
    referral_item,
)
from tests.support.infra import wait_for

pytest_plugins = ["tests.support.court_bridge_support"]  # the court simulator fixtures

FAST_TRACKABLE = ("labour", "family", "neighbour", "property_management", "lending", "consumer", "traffic",
                  "tenancy", "contract")


@pytest.fixture
def intake(start_service):
    StubIntake.reset()
    return start_service(StubIntake)


def start_bridge(start_service, court_sim, **overrides):
    return start_service(CourtBridgeService, COURT_DEFAULT_BASE_URL=court_sim.url, **{**FAST, **overrides})


def events(amqp_uri, sink, limit=2000) -> list[dict]:
    """The events published so far, once each (the relay publishes at least once)."""
    unique = {}
    for message in drain(amqp_uri, sink, limit=limit):
        envelope = json.loads(message.body)
        unique[envelope["event_id"]] = envelope
    return list(unique.values())


class Bus:
    """court_bridge's events as they reach a queue of our own, kept as they are read (reading
    takes them off the queue)."""

    def __init__(self, amqp_uri: str):
        self.amqp_uri = amqp_uri
        self.sink = bind_sink(amqp_uri)
        self.seen: dict[str, dict] = {}

    def of_type(self, event_type: str) -> list[dict]:
        self.seen.update((event["event_id"], event) for event in events(self.amqp_uri, self.sink))
        return [event for event in self.seen.values() if event["event_type"] == event_type]


def case_record(bridge, code, auth=MEDIATOR) -> dict:
    response = bridge.get(f"/api/v1/court/cases/{code}", auth=auth)
    assert response.status_code == 200, response.text
    return response.json()


def record_so_far(bridge, code) -> dict:
    """The case's record, or {} while the events that make it are still on their way."""
    response = bridge.get(f"/api/v1/court/cases/{code}", auth=MEDIATOR)
    return response.json() if response.status_code == 200 else {}


def state_of(bridge, code, part) -> str | None:
    return (record_so_far(bridge, code).get(part) or {}).get("state")


def envelope_case(bridge, referral) -> dict:
    return {"case_id": referral["case_id"], "case_code": referral["case_code"],
            "jurisdiction": referral["jurisdiction"], "category": referral["category"]}


def party_ids(intake, case_code: str) -> list[str]:
    return [party["party_id"] for party in intake.db.cases.find_one({"case_code": case_code})["parties"]]


def test_done_when_a_batch_of_200_becomes_200_cases_in_intake_once_confirmed_filed_and_answered(
        start_service, court_sim):
    """The issue's Done-when, with the real intake and the mediation events as mediation sends them."""
    court_sim.admin("settings", {"delay_seconds": 0.3})  # received → accepted → decided, as a court does
    intake = start_service(IntakeService)
    bridge = start_bridge(start_service, court_sim)
    amqp = bridge.config["AMQP_URI"]
    bus = Bus(amqp)

    made = court_sim.make_batch(200, "YZ-2026-0001")
    first = court_sim.push("YZ-2026-0001", bridge.base_url)
    assert first["status"] == 200 and first["answer"]["accepted"] == 200, first["answer"]
    referred = {"channel": "court_referral", "court_referral.court_id": COURT_ID}
    assert intake.db.cases.count_documents(referred) == 200
    assert {doc["channel_ref"] for doc in intake.db.cases.find(referred, {"channel_ref": 1})} == set(
        made["referral_ids"])
    again = court_sim.push("YZ-2026-0001", bridge.base_url)
    assert again["answer"]["duplicate"] == 200 and again["answer"]["accepted"] == 0
    assert intake.db.cases.count_documents({}) == 200  # sending it again created none
    codes = {r["channel_ref"]: r["case_code"] for r in first["answer"]["results"]}
    assert set(codes) == set(made["referral_ids"])
    assert {doc["case_code"] for doc in intake.db.cases.find({}, {"case_code": 1})} == set(codes.values())

    # court_bridge learns each case's facts from intake.case_registered (the fast-track rules need them)
    wait_for(lambda: bridge.db.cases.count_documents({"facts.severity": {"$exists": True}}) == 200, timeout=30,
             message="intake's 200 case_registered events")
    simple = {doc["_id"] for doc in bridge.db.cases.find({
        "category": {"$in": list(FAST_TRACKABLE)}, "facts.amount": {"$lte": 100000},
        "facts.severity": "general", "facts.risk_flags": []})}
    referrals = sorted(bridge.db.referrals.find(), key=lambda r: r["referral_id"])
    agreed = next(r for r in referrals if r["category"] == "lending")
    failed = next(r for r in referrals if r["case_code"] in simple and r is not agreed)
    applicant, respondent = party_ids(intake, failed["case_code"])[:2]
    publish_event(amqp, mediation_event("agreement_reached", envelope_case(bridge, agreed)))
    publish_event(amqp, mediation_event("mediation_failed", envelope_case(bridge, failed),
                                        undisputed_facts="双方对借款事实及金额均无异议",
                                        sessions=mediation_sessions((applicant, respondent)),
                                        refusing_parties=[respondent]))

    def granted():
        confirmation = record_so_far(bridge, agreed["case_code"]).get("confirmation") or {}
        return confirmation if confirmation.get("state") == "granted" else None

    confirmation = wait_for(granted, timeout=30, message="the court's ruling")
    assert re.fullmatch(r"（2026）晋0106民特\d+号", confirmation["ruling_number"])
    assert confirmation["accepted_at"] and not confirmation["accepted_late"]
    application = court_sim.state()["confirmations"][0]["body"]
    assert application["case_code"] == agreed["case_code"] and application["terms"] == TERMS

    def filed():
        filing = record_so_far(bridge, failed["case_code"]).get("filing") or {}
        return filing if filing.get("state") == "filed" else None

    filing = wait_for(filed, timeout=30, message="the docket number")
    assert filing["track"] == "fast_track" and filing["trigger"] == "court_referral_failed"
    assert filing["docket_number"].startswith("（2026）晋0106民初") and filing["on_site"] is True
    filed_body = court_sim.state()["filings"][0]["body"]
    assert filed_body["mediation_record"]["refusing_parties"] == [respondent]
    assert filed_body["mediation_record"]["sessions"][0]["absent"] == [respondent]

    # every other referral's period runs out: the court hears about each of them too
    get_extension(bridge.container, Clock).offset = timedelta(days=31)
    wait_for(lambda: len(court_sim.feedback()) >= 200, timeout=60, message="feedback on all 200 referrals")
    feedback = court_sim.feedback()
    assert len(feedback) == 200 and {f["referral_id"] for f in feedback} == set(made["referral_ids"])
    assert Counter(f["outcome"] for f in feedback) == {"deadline_passed": 198, "agreement": 1, "failed": 1}
    by_referral = {f["referral_id"]: f["body"] for f in feedback}
    assert by_referral[agreed["referral_id"]]["agreement_hash"] == "ab" * 32
    assert by_referral[agreed["referral_id"]]["terms"] == TERMS
    told = by_referral[failed["referral_id"]]
    assert told["undisputed_facts"] == "双方对借款事实及金额均无异议"
    assert told["mediation_record"]["result"] == "调解不成" and told["mediation_record"]["complete"] is True

    published = wait_for(lambda: len(bus.of_type("referral_feedback_sent")) >= 200 and list(bus.seen.values()),
                         timeout=30, message="200 referral_feedback_sent events")
    kinds = Counter(e["event_type"] for e in published)
    assert kinds == {"referral_received": 200, "referral_feedback_sent": 200, "confirmation_applied": 1,
                     "confirmation_granted": 1, "filing_requested": 1, "case_filed": 1}
    granted_event = next(e for e in published if e["event_type"] == "confirmation_granted")
    assert granted_event["case_code"] == agreed["case_code"]
    assert granted_event["data"] == {"court_id": COURT_ID, "ruling_number": confirmation["ruling_number"]}
    filed_event = next(e for e in published if e["event_type"] == "case_filed")
    assert filed_event["data"]["docket_number"] == filing["docket_number"] and filed_event["data"]["on_site"]
    assert metric(bridge, "onestop_court_feedback_delivered_total") == 200
    assert metric(bridge, "onestop_court_confirmations_total", result="granted") == 1
    assert metric(bridge, "onestop_court_filings_total", track="fast_track") == 1
    assert metric(bridge, "onestop_court_referrals_total", court=COURT_ID, result="duplicate") == 200
    wait_for(lambda: metric(bridge, "onestop_court_feedback_pending") == 0, message="nothing pending")


def test_a_failed_referral_that_is_not_simple_is_filed_with_priority_and_docketed(
        start_service, court_sim, intake):
    court_sim.admin("settings", {"delay_seconds": 0.2})  # priority is docketed after two delays
    bridge = start_bridge(start_service, court_sim)
    bus = Bus(bridge.config["AMQP_URI"])
    big = referral_item("R-BIG", amount=250000, summary="民间借贷纠纷：借款25万元未还")
    assert bridge.post("/api/v1/court/referrals", batch("B-P", [big]), auth=COURT).json()["accepted"] == 1
    referral = bridge.db.referrals.find_one({"referral_id": "R-BIG"})
    publish_event(bridge.config["AMQP_URI"], mediation_event("mediation_failed", envelope_case(bridge, referral)))

    def filed():
        filing = record_so_far(bridge, referral["case_code"]).get("filing") or {}
        return filing if filing.get("state") == "filed" else None

    filing = wait_for(filed, timeout=20, message="the docket number")
    assert filing["track"] == "priority" and filing["trigger"] == "court_referral_failed"
    assert any("amount 250000 is over 100000" in reason for reason in filing["track_reasons"])
    assert re.fullmatch(r"（2026）晋0106民初\d+号", filing["docket_number"])
    sent = court_sim.state()["filings"][0]["body"]
    assert sent["track"] == "priority" and sent["priority"] is True and sent["amount"] == 250000
    requested = wait_for(lambda: bus.of_type("case_filed"), message="case_filed on the bus")
    assert requested[0]["data"] == {"court_id": COURT_ID, "track": "priority",
                                    "docket_number": filing["docket_number"], "on_site": True}
    assert [e["data"]["track"] for e in bus.of_type("filing_requested")] == ["priority"]
    assert metric(bridge, "onestop_court_filings_total", track="priority") == 1
    assert metric(bridge, "onestop_court_filings_total", track="fast_track") == 0


def test_feedback_to_a_court_that_is_down_is_retried_listed_as_stuck_and_delivered_once_it_is_up(
        start_service, court_sim, intake):
    bridge = start_bridge(start_service, court_sim)
    amqp = bridge.config["AMQP_URI"]
    sink = bind_sink(amqp)
    code = bridge.post("/api/v1/court/referrals", batch("B-1", [referral_item("R-1")]),
                       auth=COURT).json()["results"][0]["case_code"]
    court_sim.admin("faults", {"mode": "fail", "operations": ["feedback"]})
    referral = bridge.db.referrals.find_one({"referral_id": "R-1"})
    publish_event(amqp, mediation_event("mediation_withdrawn", envelope_case(bridge, referral)))

    def listed():
        stuck = bridge.get("/api/v1/court/stuck", auth=DISPATCHER).json()["messages"]
        return stuck or None

    stuck = wait_for(listed, timeout=20, message="the message on the stuck list")
    assert stuck[0]["case_code"] == code and stuck[0]["operation"] == "feedback"
    assert stuck[0]["attempts"] >= 3 and "HTTP 503" in stuck[0]["last_error"]
    assert court_sim.feedback() == []
    assert metric(bridge, "onestop_court_adapter_errors_total", court=COURT_ID, operation="feedback") >= 3
    wait_for(lambda: metric(bridge, "onestop_court_stuck_items") == 1, message="the stuck gauge")
    assert metric(bridge, "onestop_court_feedback_pending") == 1
    elsewhere = {"roles": ("dispatcher",), "jurisdictions": ("620102",)}
    assert bridge.get("/api/v1/court/stuck", auth=elsewhere).json()["messages"] == []
    assert bridge.db.audit_log.count_documents({"action": "court.message.stuck", "case_code": code}) == 1

    court_sim.admin("faults", {"mode": "ok"})
    wait_for(lambda: len(court_sim.feedback()) == 1, timeout=20, message="delivery once the court is up")
    assert court_sim.feedback()[0]["outcome"] == "withdrawn"
    wait_for(lambda: bridge.get("/api/v1/court/stuck", auth=DISPATCHER).json()["messages"] == [],
             message="the stuck list to clear")
    assert court_sim.state()["calls"]["feedback"] >= 4
    published = events(amqp, sink)
    assert [e["event_type"] for e in published].count("referral_feedback_sent") == 1
    stuck_events = [e for e in published if e["event_type"] == "message_stuck"]  # once, however long it was stuck
    assert len(stuck_events) == 1 and stuck_events[0]["data"]["message_id"] == stuck[0]["message_id"]
    assert stuck_events[0]["data"]["referral_id"] == "R-1" and "HTTP 503" in stuck_events[0]["data"]["last_error"]
    assert case_record(bridge, code)["referrals"][0]["feedback"]["state"] == "delivered"


def test_a_court_that_hangs_or_loses_its_answer_still_gets_each_message_once(
        start_service, court_sim, intake):
    bridge = start_bridge(start_service, court_sim)
    amqp = bridge.config["AMQP_URI"]
    bridge.post("/api/v1/court/referrals", batch("B-1", [referral_item("R-1"), referral_item("R-2")]), auth=COURT)
    r1, r2 = (bridge.db.referrals.find_one({"referral_id": ref}) for ref in ("R-1", "R-2"))
    # the first call hangs past our timeout; the next one does the work but answers too late
    court_sim.admin("faults", {"mode": "hang", "operations": ["feedback"], "count": 1, "hang_seconds": 2})
    publish_event(amqp, mediation_event("mediation_withdrawn", envelope_case(bridge, r1)))
    wait_for(lambda: len(court_sim.feedback()) == 1, timeout=20, message="R-1 after the hang")
    court_sim.admin("faults", {"mode": "slow", "operations": ["feedback"], "count": 1, "hang_seconds": 2})
    publish_event(amqp, mediation_event("mediation_withdrawn", envelope_case(bridge, r2)))
    wait_for(lambda: bridge.db.messages.count_documents({"state": "delivered"}) == 2, timeout=20,
             message="R-2 delivered after its lost answer")
    assert sorted(f["referral_id"] for f in court_sim.feedback()) == ["R-1", "R-2"]  # once each
    assert bridge.db.messages.find_one({"referral_key": r2["_id"]})["attempts"] >= 2


@pytest.mark.parametrize("missing,reasons", [
    ({"performance_deadline": None}, ["调解协议未载明履行期限"]),
    ({"older": True}, ["申请未附调解协议条款，无法审查协议内容"]),  # a mediation that sent no terms
])
def test_a_confirmation_missing_a_term_is_rejected_with_the_courts_reasons(
        start_service, court_sim, intake, missing, reasons):
    bridge = start_bridge(start_service, court_sim)
    amqp = bridge.config["AMQP_URI"]
    sink = bind_sink(amqp)
    case = {"case_id": "c-1", "case_code": make_case_code("140106003", "lending", 1), "jurisdiction": "140106003",
            "category": "lending"}
    publish_event(amqp, mediation_event("agreement_reached", case, court_referred=False, **missing))

    def decided():
        confirmation = record_so_far(bridge, case["case_code"]).get("confirmation") or {}
        return confirmation if confirmation.get("state") == "rejected" else None

    confirmation = wait_for(decided, timeout=20, message="the rejection")
    assert confirmation["reasons"] == reasons
    assert confirmation["court_id"] == COURT_ID  # the court of the place, for a case no court referred
    application = court_sim.state()["confirmations"][0]["body"]
    assert application["terms"] == ([] if missing.get("older") else TERMS)
    rejected = [e for e in events(amqp, sink) if e["event_type"] == "confirmation_rejected"]
    assert rejected[0]["data"] == {"court_id": COURT_ID, "reasons": reasons}
    assert metric(bridge, "onestop_court_confirmations_total", result="rejected") == 1
    response = bridge.post(f"/api/v1/court/cases/{case['case_code']}/enforcement", {"reason": "x"}, auth=MEDIATOR)
    assert response.status_code == 422


def test_a_confirmed_agreement_is_enforced_and_the_court_in_the_centre_records_its_acts(
        start_service, court_sim, intake):
    bridge = start_bridge(start_service, court_sim)
    amqp = bridge.config["AMQP_URI"]
    sink = bind_sink(amqp)
    case = {"case_id": "c-2", "case_code": make_case_code("140106003", "labour", 2), "jurisdiction": "140106003",
            "category": "labour"}
    code = case["case_code"]
    publish_event(amqp, mediation_event("agreement_reached", case, court_referred=False))
    wait_for(lambda: state_of(bridge, code, "confirmation") == "granted", timeout=20, message="the ruling")
    application = court_sim.state()["confirmations"][0]["body"]  # the court read the terms it confirmed
    assert application["terms"] == TERMS and application["agreement_hash"] == "ab" * 32
    response = bridge.post(f"/api/v1/court/cases/{code}/enforcement",
                           {"reason": "被申请人未按期支付工资", "applicant_role": "applicant"}, auth=MEDIATOR)
    assert response.status_code == 202, response.text
    wait_for(lambda: case_record(bridge, code)["enforcements"][0]["state"] == "applied", message="the application")
    enforcement = case_record(bridge, code)["enforcements"][0]
    assert enforcement["docket_number"].startswith("（2026）晋0106执")
    applied = [e for e in events(amqp, sink) if e["event_type"] == "enforcement_applied"]
    assert applied[0]["data"] == {"court_id": COURT_ID, "application_id": enforcement["application_id"]}
    onsite = {"kind": "enforcement", "occurred_at": "2026-12-02T02:00:00Z", "place": "迎泽区综治中心执行工作站"}
    assert bridge.post(f"/api/v1/court/cases/{code}/onsite", onsite, auth=MEDIATOR).status_code == 403
    response = bridge.post(f"/api/v1/court/cases/{code}/onsite", onsite, auth=COURT)
    assert response.status_code == 201, response.text
    assert case_record(bridge, code)["onsite"][0]["kind"] == "enforcement"
    assert bridge.db.audit_log.count_documents({"action": "onsite.enforcement", "case_code": code}) == 1


def test_a_request_the_court_refuses_is_not_resent_and_shows_on_the_stuck_list(
        start_service, court_sim, intake):
    bridge = start_bridge(start_service, court_sim, COURT_API_KEYS={COURT_ID: "a-key-the-court-does-not-know"})
    amqp = bridge.config["AMQP_URI"]
    bus = Bus(amqp)
    bridge.post("/api/v1/court/referrals", batch("B-1", [referral_item("R-1")]), auth=COURT)
    referral = bridge.db.referrals.find_one({"referral_id": "R-1"})
    publish_event(amqp, mediation_event("agreement_reached", envelope_case(bridge, referral)))
    wait_for(lambda: bridge.db.messages.count_documents({"state": "refused"}) == 2, message="both refused")
    record = case_record(bridge, referral["case_code"])
    assert record["confirmation"]["state"] == "failed" and "HTTP 401" in record["confirmation"]["error"]
    assert record["referrals"][0]["feedback"]["state"] == "refused"
    stuck = bridge.get("/api/v1/court/stuck", auth=DISPATCHER).json()["messages"]
    assert {m["operation"] for m in stuck} == {"feedback", "confirmation"} and all(m["attempts"] == 1 for m in stuck)
    calls = court_sim.state()["calls"]
    assert (calls["feedback"], calls["confirmation"]) == (1, 1)  # a refusal is not retried
    refused = wait_for(lambda: len(bus.of_type("message_stuck")) == 2 and bus.of_type("message_stuck"),
                       message="the message_stuck events")
    assert sorted((e["data"]["operation"], e["data"]["attempts"]) for e in refused) == [
        ("confirmation", 1), ("feedback", 1)]
    assert all("HTTP 401" in e["data"]["last_error"] for e in refused)
    confirmation_message = next(m for m in stuck if m["operation"] == "confirmation")
    refused = bridge.post(f"/api/v1/court/messages/{confirmation_message['message_id']}/retry", {}, auth=DISPATCHER)
    assert refused.status_code == 422
    # someone fixes the key; the feedback is sent again by hand and the application made again
    adapter = get_extension(bridge.container, CourtReference).adapters[COURT_ID]
    adapter.court = dataclasses.replace(adapter.court, api_key="onestop-dev-court-key")
    feedback_message = next(m for m in stuck if m["operation"] == "feedback")
    again = bridge.post(f"/api/v1/court/messages/{feedback_message['message_id']}/retry", {}, auth=DISPATCHER)
    assert again.status_code == 200 and again.json()["state"] == "pending"
    wait_for(lambda: len(court_sim.feedback()) == 1, message="the feedback after the fix")
    reapplied = bridge.post(f"/api/v1/court/cases/{referral['case_code']}/confirmation", {}, auth=MEDIATOR)
    assert reapplied.status_code == 202, reapplied.text
    wait_for(lambda: state_of(bridge, referral["case_code"], "confirmation") == "granted",
             message="the ruling after re-applying")


def test_the_confirmation_window_is_warned_about_while_the_court_cannot_be_reached(
        start_service, court_sim, intake):
    bridge = start_bridge(start_service, court_sim)
    amqp = bridge.config["AMQP_URI"]
    bus = Bus(amqp)
    court_sim.admin("faults", {"mode": "fail", "operations": ["confirmation"]})
    case = {"case_id": "c-3", "case_code": make_case_code("140106", "family", 3), "jurisdiction": "140106",
            "category": "family"}
    publish_event(amqp, mediation_event("agreement_reached", case, court_referred=False))
    wait_for(lambda: bridge.db.cases.find_one({"_id": case["case_code"]}), message="the agreement")
    clock = get_extension(bridge.container, Clock)
    assert bridge.get("/api/v1/court/confirmations/due", auth=MEDIATOR).json()["cases"] == []
    clock.offset = timedelta(days=27)
    due = wait_for(lambda: bridge.get("/api/v1/court/confirmations/due", auth=MEDIATOR).json()["cases"],
                   message="the warning")
    assert due[0]["case_code"] == case["case_code"] and due[0]["warning"] == "due_soon"
    clock.offset = timedelta(days=31)
    wait_for(lambda: bridge.get("/api/v1/court/confirmations/due", auth=MEDIATOR).json()["cases"][0]["warning"]
             == "overdue", message="the overdue warning")
    assert metric(bridge, "onestop_court_confirmation_warnings_total", level="due_soon") == 1
    assert metric(bridge, "onestop_court_confirmation_warnings_total", level="overdue") == 1
    due_events = wait_for(lambda: len(bus.of_type("confirmation_due")) == 2 and bus.of_type("confirmation_due"),
                          message="both confirmation_due events on the bus")
    assert sorted(e["data"]["level"] for e in due_events) == ["due_soon", "overdue"]
    assert {e["data"]["court_id"] for e in due_events} == {COURT_ID}
    court_sim.admin("faults", {"mode": "ok"})
    wait_for(lambda: state_of(bridge, case["case_code"], "confirmation") == "granted", timeout=20,
             message="the application once the court is back")
    assert bridge.get("/api/v1/court/confirmations/due", auth=MEDIATOR).json()["cases"] == []


def test_two_replicas_deliver_every_feedback_exactly_once(start_service, court_sim, intake):
    first = start_bridge(start_service, court_sim)
    second = start_bridge(start_service, court_sim)
    assert first.config["MONGO_DATABASE_PREFIX"] == second.config["MONGO_DATABASE_PREFIX"]
    sink = bind_sink(first.config["AMQP_URI"])
    items = [referral_item(f"R-{n}") for n in range(30)]
    assert first.post("/api/v1/court/referrals", batch("B-1", items), auth=COURT).json()["accepted"] == 30
    for replica in (first, second):
        get_extension(replica.container, Clock).offset = timedelta(days=31)
    wait_for(lambda: first.db.messages.count_documents({"state": "delivered"}) == 30, timeout=30,
             message="all feedback delivered")
    feedback = court_sim.feedback()
    assert len(feedback) == 30 and len({f["referral_id"] for f in feedback}) == 30
    assert court_sim.state()["calls"]["feedback"] == 30
    sent = [e for e in events(first.config["AMQP_URI"], sink) if e["event_type"] == "referral_feedback_sent"]
    assert len(sent) == 30
    assert (metric(first, "onestop_court_feedback_delivered_total")
            + metric(second, "onestop_court_feedback_delivered_total")) == 30
