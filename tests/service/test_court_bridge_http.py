"""court_bridge on its own (with a stub intake): the referral batch, its idempotency, the
routes' answers to good and bad input, and what the events it consumes leave behind."""

import json
from datetime import UTC, datetime, timedelta

import pytest
import requests
from nameko.testing.utils import get_extension

from services.common.contracts import iso, make_envelope
from services.court_bridge.dependencies import Clock
from services.court_bridge.domain.calendar import days_after
from services.court_bridge.service import CourtBridgeService
from tests.support.broker import publish_event
from tests.support.court_bridge_support import (
    COURT,
    COURT_ID,
    DISPATCHER,
    FAST,
    MEDIATOR,
    TERMS,
    StubIntake,
    batch,
    intake_case,
    make_case_code,
    mediation_event,
    metric,
    referral_item,
)
from tests.support.infra import wait_for

NOWHERE = "http://127.0.0.1:1"  # no court answers here: deliveries stay queued


@pytest.fixture
def intake(start_service):
    StubIntake.reset()
    return start_service(StubIntake)


@pytest.fixture
def bridge(start_service, intake):
    return start_service(CourtBridgeService, COURT_DEFAULT_BASE_URL=NOWHERE, **FAST)


def assert_error(response, status, code=None):
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "message", "fields"} and "Traceback" not in response.text
    if code:
        assert body["error"] == code, body
    return body


def post_batch(bridge, body, auth=COURT):
    return bridge.post("/api/v1/court/referrals", body, auth=auth)


# -- the batch ------------------------------------------------------------------------------
def test_each_item_gets_its_own_result_and_only_good_ones_become_cases(bridge):
    items = [
        referral_item("R-1"),
        referral_item("R-2", category="family", cause=None, amount=None),
        {k: v for k, v in referral_item("R-3").items() if k != "summary"},
        referral_item("R-4", category="other", cause=None),
        referral_item("R-5", cause="inheritance"),
        referral_item("R-6", jurisdiction="140105"),
        referral_item("R-1"),
        42,
    ]
    before = datetime.now(UTC)
    response = post_batch(bridge, batch("B-1", items))
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["received"], body["accepted"], body["duplicate"], body["rejected"]) == (8, 2, 1, 5)
    results = body["results"]
    assert [r["result"] for r in results] == ["accepted", "accepted", "rejected", "rejected", "rejected",
                                              "rejected", "duplicate", "rejected"]
    assert [r["reason"] for r in results[2:]] == ["invalid", "category_not_suitable", "cause_category_mismatch",
                                                  "outside_court_jurisdiction", "repeated_in_batch", "invalid"]
    assert "summary" in results[2]["fields"]
    assert results[0]["case_code"] == intake_case("R-1")["case_code"]

    # intake got exactly the two good items, with the court's referral details and without `cause`
    assert len(StubIntake.calls) == 2
    payload = StubIntake.calls[0]["payload"]
    assert payload["court_id"] == COURT_ID and payload["batch_id"] == "B-1" and "cause" not in payload
    deadline = datetime.fromisoformat(payload["referral_deadline"].replace("Z", "+00:00"))
    assert deadline == days_after(before, 30)
    assert StubIntake.calls[0]["actor"] == {"sub": "tester", "agency": COURT_ID, "roles": ["court"]}

    referrals = {doc["referral_id"]: doc for doc in bridge.db.referrals.find()}
    assert set(referrals) == {"R-1", "R-2"}
    assert referrals["R-1"]["state"] == "open" and referrals["R-1"]["deadline"] == deadline
    assert referrals["R-1"]["cause"] == "private_lending"
    events = [doc["envelope"] for doc in bridge.db.outbox.find({"event_type": "referral_received"})]
    assert sorted(event["data"]["referral_id"] for event in events) == ["R-1", "R-2"]
    assert all(event["data"]["court_id"] == COURT_ID and event["data"]["batch_id"] == "B-1" for event in events)
    accepted = bridge.db.audit_log.find_one({"action": "referral.accept"})
    assert sorted(accepted["details"]["referrals"]) == sorted(
        [["R-1", intake_case("R-1")["case_code"]], ["R-2", intake_case("R-2")["case_code"]]])
    assert accepted["actor"]["agency"] == COURT_ID
    summary = bridge.db.audit_log.find_one({"action": "referral.batch"})
    assert summary["details"]["accepted"] == 2 and summary["actor"]["agency"] == COURT_ID
    assert metric(bridge, "onestop_court_referrals_total", court=COURT_ID, result="accepted") == 2
    assert metric(bridge, "onestop_court_referrals_total", court=COURT_ID, result="rejected") == 5


def test_the_period_counts_from_when_the_court_referred_the_case(bridge):
    referred = datetime.now(UTC).replace(microsecond=0) - timedelta(days=12)
    items = [referral_item("R-1", referred_at=iso(referred)),
             referral_item("R-2", referred_at=iso(referred - timedelta(days=40))),
             referral_item("R-3", referred_at=iso(datetime.now(UTC) + timedelta(days=2))),
             referral_item("R-4", referred_at="9999-12-31T23:59:59-14:00")]
    results = post_batch(bridge, batch("B-1", items)).json()["results"]
    assert [(r["result"], r["reason"]) for r in results] == [
        ("accepted", None), ("rejected", "period_over"), ("rejected", "referred_in_future"), ("rejected", "invalid")]
    [call] = StubIntake.calls
    assert "referred_at" not in call["payload"]
    deadline = datetime.fromisoformat(call["payload"]["referral_deadline"].replace("Z", "+00:00"))
    assert deadline == days_after(referred, 30)
    record = bridge.db.referrals.find_one({"referral_id": "R-1"})
    assert record["deadline"] == deadline and record["referred_at"] == referred
    [event] = [doc["envelope"] for doc in bridge.db.outbox.find({"event_type": "referral_received"})]
    assert event["data"]["deadline"] == iso(deadline)


def test_a_batch_sent_again_creates_nothing_twice(bridge):
    items = [referral_item(f"R-{n}") for n in range(1, 6)]
    first = post_batch(bridge, batch("B-2", items)).json()
    again = post_batch(bridge, batch("B-2", items)).json()
    assert first["accepted"] == 5 and again["duplicate"] == 5 and again["accepted"] == 0
    assert [r["case_code"] for r in again["results"]] == [r["case_code"] for r in first["results"]]
    assert {r["reason"] for r in again["results"]} == {"already_received"}
    assert len(StubIntake.cases) == 5 and len(StubIntake.calls) == 5  # the resend never reached intake
    assert bridge.db.outbox.count_documents({"event_type": "referral_received"}) == 5
    assert bridge.db.referrals.count_documents({}) == 5


def test_a_referral_intake_registered_but_we_never_recorded_is_recorded_by_the_resend(bridge):
    # An earlier request registered R-1 with intake, then died (or timed out) before recording it.
    StubIntake().register_case({"channel": "court_referral", "channel_ref": "R-1", "jurisdiction": "140106003",
                                "category": "lending"}, {})
    body = post_batch(bridge, batch("B-3", [referral_item("R-1")])).json()
    assert body["results"][0]["result"] == "duplicate"
    assert body["results"][0]["reason"] == "already_registered"
    assert body["results"][0]["case_code"] == intake_case("R-1")["case_code"]
    assert bridge.db.referrals.find_one({"referral_id": "R-1"})["state"] == "open"
    assert bridge.db.outbox.count_documents({"event_type": "referral_received"}) == 1
    assert len(StubIntake.cases) == 1


def test_a_referral_a_racing_request_records_first_is_answered_duplicate_and_emitted_once(bridge):
    racer_wrote = []

    def racing_request(payload):
        # Another request (a resend) records R-2 while this one waits for intake.
        if payload["channel_ref"] == "R-2" and not racer_wrote:
            racer_wrote.append(True)
            bridge.db.referrals.insert_one({"_id": f"{COURT_ID}|R-2", "court_id": COURT_ID, "referral_id": "R-2",
                                            "state": "open", "case_code": "racer-code", "case_id": "racer"})

    StubIntake.on_call = racing_request
    body = post_batch(bridge, batch("B-4", [referral_item(f"R-{n}") for n in range(1, 4)])).json()
    assert [r["result"] for r in body["results"]] == ["accepted", "duplicate", "accepted"]
    assert body["results"][1]["case_code"] == "racer-code"
    events = [doc["envelope"]["data"]["referral_id"] for doc in bridge.db.outbox.find()]
    assert sorted(events) == ["R-1", "R-3"]
    assert bridge.db.referrals.count_documents({}) == 3


def racer_record(ref: str) -> dict:
    return {"_id": f"{COURT_ID}|{ref}", "court_id": COURT_ID, "referral_id": ref, "state": "open",
            "case_code": "racer-code", "case_id": "racer"}


def test_a_one_item_batch_a_racing_resend_records_first_is_answered_duplicate_not_500(bridge):
    # One item to write is one insert_one: a duplicate key there must not escape as a 500.
    StubIntake.on_call = lambda payload: bridge.db.referrals.insert_one(racer_record("R-1"))
    response = post_batch(bridge, batch("B-12", [referral_item("R-1")]))
    assert response.status_code == 200, response.text
    result = response.json()["results"][0]
    assert (result["result"], result["reason"], result["case_code"]) == ("duplicate", "already_received",
                                                                         "racer-code")
    assert bridge.db.outbox.count_documents({}) == 0 and bridge.db.referrals.count_documents({}) == 1
    assert metric(bridge, "onestop_court_referrals_total", court=COURT_ID, result="duplicate") == 1


def test_a_racing_resend_still_writing_its_record_is_answered_retry_later_not_500(bridge):
    # The racer's transaction holds the referral's key while we record: every attempt of ours
    # ends in a write conflict. Once the racer commits, a resend is answered from its record.
    racer = bridge.db.client.start_session()

    def racing_request(payload):
        if payload["channel_ref"] == "R-1":
            racer.start_transaction()
            bridge.db.referrals.insert_one(racer_record("R-1"), session=racer)

    StubIntake.on_call = racing_request
    response = post_batch(bridge, batch("B-13", [referral_item("R-1"), referral_item("R-2")]))
    assert response.status_code == 200, response.text
    first, second = response.json()["results"]
    assert (first["result"], first["reason"]) == ("rejected", "retry_later") and "another request" in first["detail"]
    assert second["result"] == "accepted"  # the rest of the chunk is written item by item
    assert [doc["envelope"]["data"]["referral_id"] for doc in bridge.db.outbox.find()] == ["R-2"]
    racer.commit_transaction()
    racer.end_session()
    assert bridge.db.referrals.find_one({"referral_id": "R-1"})["case_code"] == "racer-code"
    again = post_batch(bridge, batch("B-13", [referral_item("R-1")])).json()["results"][0]
    assert (again["result"], again["reason"], again["case_code"]) == ("duplicate", "already_received", "racer-code")
    assert bridge.db.outbox.count_documents({"event_type": "referral_received"}) == 1


XIAODIAN = "140105:court"
XIAODIAN_COURT = {"roles": ("court",), "jurisdictions": ("140105",), "agency": XIAODIAN}


@pytest.mark.parametrize("intake_names_the_court", [False, True])
def test_a_referral_id_intake_holds_for_another_courts_case_is_rejected_not_filed_under_it(
        bridge, intake_names_the_court):
    # 小店 and 迎泽 both number their referrals R-1; this intake (like intake before it keyed
    # referrals by court) answers 迎泽's case for 小店's referral.
    StubIntake.names_court = intake_names_the_court
    yingze = referred(bridge, "R-1")
    if intake_names_the_court:  # our record of 迎泽's referral is gone: only intake's answer can tell
        bridge.db.referrals.delete_many({})
    xiaodian_item = referral_item("R-1", jurisdiction="140105002", summary="民间借贷纠纷：王某诉赵某")
    response = post_batch(bridge, batch("XD-1", [xiaodian_item], court_id=XIAODIAN), auth=XIAODIAN_COURT)
    result = response.json()["results"][0]
    assert (result["result"], result["reason"], result["case_code"]) == ("rejected", "referral_id_clash", None)
    assert COURT_ID in result["detail"] and "not registered" in result["detail"]
    assert bridge.db.referrals.count_documents({"court_id": XIAODIAN}) == 0
    assert bridge.db.outbox.count_documents({"envelope.data.court_id": XIAODIAN}) == 0
    assert [doc["referral_id"] for doc in bridge.db.referrals.find()] == ([] if intake_names_the_court else ["R-1"])
    assert intake_case("R-1")["case_code"] == yingze  # intake's case stays 迎泽's
    assert metric(bridge, "onestop_court_referrals_total", court=XIAODIAN, result="rejected") == 1


def test_a_referral_intake_rejects_is_answered_with_intakes_reason_and_can_be_sent_again(bridge):
    StubIntake.mode = "reject"
    result = post_batch(bridge, batch("B-5", [referral_item("R-1")])).json()["results"][0]
    assert (result["result"], result["reason"]) == ("rejected", "validation_failed")
    assert result["fields"] == {"summary": ["too vague"]}
    assert bridge.db.referrals.count_documents({}) == 0 and bridge.db.outbox.count_documents({}) == 0
    StubIntake.mode = "ok"
    assert post_batch(bridge, batch("B-5", [referral_item("R-1")])).json()["accepted"] == 1
    assert bridge.db.referrals.find_one({"referral_id": "R-1"})["state"] == "open"


def test_when_intake_is_not_running_the_items_are_answered_retry_later(start_service):
    StubIntake.reset()
    bridge = start_service(CourtBridgeService, COURT_DEFAULT_BASE_URL=NOWHERE, RPC_TIMEOUT_SECONDS=2, **FAST)
    items = [referral_item(f"R-{n}") for n in range(1, 41)]
    response = post_batch(bridge, batch("B-6", items))
    assert response.status_code == 200
    body = response.json()
    assert body["rejected"] == 40 and {r["reason"] for r in body["results"]} == {"retry_later"}
    assert bridge.db.outbox.count_documents({}) == 0 and bridge.db.referrals.count_documents({}) == 0
    start_service(StubIntake)
    assert post_batch(bridge, batch("B-6", items)).json()["accepted"] == 40
    assert bridge.db.referrals.count_documents({"state": "open"}) == 40


def test_items_left_when_the_time_budget_is_spent_are_answered_retry_later(start_service, intake):
    bridge = start_service(CourtBridgeService, COURT_DEFAULT_BASE_URL=NOWHERE, COURT_REFERRAL_TIME_BUDGET_SECONDS=0,
                           **FAST)
    body = post_batch(bridge, batch("B-11", [referral_item("R-1"), referral_item("R-2")])).json()
    assert [(r["result"], r["reason"]) for r in body["results"]] == [("rejected", "retry_later")] * 2
    assert "time budget" in body["results"][0]["detail"] and StubIntake.calls == []


def test_an_item_intake_keeps_failing_on_is_asked_again_then_left_to_be_sent_again(bridge):
    StubIntake.mode = "fail"
    body = post_batch(bridge, batch("B-7", [referral_item("R-1"), referral_item("R-2")])).json()
    assert [r["reason"] for r in body["results"]] == ["retry_later", "retry_later"]
    assert "intake failed" in body["results"][0]["detail"]
    assert len(StubIntake.calls) == 6  # each asked three times; one broken item does not stop the others


# -- who may send what ----------------------------------------------------------------------
def test_only_the_court_itself_may_push_its_batch(bridge):
    good = batch("B-8", [referral_item("R-1")])
    assert_error(bridge.post("/api/v1/court/referrals", good), 401, "token_missing")
    assert_error(post_batch(bridge, good, auth=MEDIATOR), 403, "role_forbidden")
    other_court = {"roles": ("court",), "jurisdictions": ("140106",), "agency": "140105:court"}
    assert_error(post_batch(bridge, good, auth=other_court), 403, "role_forbidden")
    body = assert_error(post_batch(bridge, batch("B-8", [referral_item("R-1")], court_id="999999:court")), 400)
    assert "court_id" in body["fields"]
    assert_error(post_batch(bridge, {**good, "priority": "high"}), 400, "validation_failed")
    assert_error(post_batch(bridge, batch("B-8", [])), 400, "validation_failed")
    assert_error(post_batch(bridge, batch("B-8", [{}] * 10_001)), 400, "validation_failed")
    assert_error(post_batch(bridge, {"$where": "1"}), 400, "validation_failed")
    assert StubIntake.calls == [] and bridge.db.referrals.count_documents({}) == 0


def test_the_batch_route_takes_a_larger_body_than_the_others(start_service, intake):
    bridge = start_service(CourtBridgeService, COURT_DEFAULT_BASE_URL=NOWHERE,
                           COURT_REFERRAL_MAX_BODY_BYTES=3 * 1024 * 1024, **FAST)
    long = "x" * 4000
    items = [referral_item(f"R-{n}", category="other", cause=None, description=long) for n in range(600)]
    response = post_batch(bridge, batch("B-9", items))
    assert len(response.request.body) > 2 * 1024 * 1024
    assert response.status_code == 200 and response.json()["rejected"] == 600
    too_big = batch("B-9", items + items)
    assert_error(post_batch(bridge, too_big), 413, "payload_too_large")
    code = make_case_code("140106003", "lending", 1)
    extension = {"days": 5, "parties_consent": True, "consent_record": long * 300}
    assert_error(bridge.post(f"/api/v1/court/cases/{code}/extension", extension, auth=MEDIATOR), 413)


# -- a case's record and the actions on it ---------------------------------------------------
def referred(bridge, ref="R-1", **changes):
    result = post_batch(bridge, batch(f"B-{ref}", [referral_item(ref, **changes)])).json()["results"][0]
    assert result["result"] == "accepted", result
    return result["case_code"]


def test_the_case_record_is_shown_within_scope_only(bridge):
    code = referred(bridge)
    view = bridge.get(f"/api/v1/court/cases/{code.replace('-', '').lower()}", auth=MEDIATOR)
    assert view.status_code == 200, view.text
    record = view.json()
    assert record["case_code"] == code and record["jurisdiction"] == "140106003"
    assert record["referrals"][0]["referral_id"] == "R-1" and record["referrals"][0]["state"] == "open"
    assert record["referrals"][0]["court_name"] == "太原市迎泽区人民法院"
    elsewhere = {"roles": ("mediator",), "jurisdictions": ("140105",)}
    assert_error(bridge.get(f"/api/v1/court/cases/{code}", auth=elsewhere), 404, "not_found")
    assert_error(bridge.get(f"/api/v1/court/cases/{code[:-1]}Z", auth=MEDIATOR), 400, "invalid_case_code")
    assert_error(bridge.get(f"/api/v1/court/cases/{make_case_code('140106', 'labour', 99)}", auth=MEDIATOR), 404)


def test_the_mediation_period_is_extended_with_the_parties_consent_and_the_court_is_told(bridge):
    code = referred(bridge)
    before = bridge.db.referrals.find_one({"referral_id": "R-1"})["deadline"]
    no_consent = {"days": 10, "parties_consent": False, "consent_record": "申请人同意"}
    assert_error(bridge.post(f"/api/v1/court/cases/{code}/extension", no_consent, auth=MEDIATOR), 400)
    body = {"days": 10, "parties_consent": True, "consent_record": "2026年12月1日双方当事人书面同意延长调解期限"}
    response = bridge.post(f"/api/v1/court/cases/{code}/extension", body, auth=MEDIATOR)
    assert response.status_code == 200, response.text
    referral = bridge.db.referrals.find_one({"referral_id": "R-1"})
    assert (referral["deadline"] - before).days == 10 and referral["extended_days"] == 10
    assert referral["extensions"][0]["consent_record"] == body["consent_record"]
    message = bridge.db.messages.find_one({"operation": "extension"})
    assert message["payload"]["days"] == 10 and message["court_id"] == COURT_ID
    extended = [doc["envelope"] for doc in bridge.db.outbox.find({"event_type": "referral_extended"})]
    assert len(extended) == 1 and extended[0]["case_code"] == code
    assert extended[0]["data"] == {"court_id": COURT_ID, "referral_id": "R-1", "previous_deadline": iso(before),
                                   "deadline": iso(referral["deadline"]),
                                   "reason": "经各方当事人同意，诉前调解期限延长10日"}  # not the consent text
    assert bridge.db.audit_log.count_documents({"action": "referral.extend", "case_code": code}) == 1
    over = bridge.post(f"/api/v1/court/cases/{code}/extension", {**body, "days": 25}, auth=MEDIATOR)
    assert "30 days in all" in assert_error(over, 422, "invalid_transition")["message"]
    assert bridge.db.referrals.find_one({"referral_id": "R-1"})["extended_days"] == 10
    assert bridge.db.outbox.count_documents({"event_type": "referral_extended"}) == 1  # a refusal emits nothing


def test_actions_that_the_case_is_not_ready_for_are_refused(bridge):
    code = referred(bridge)
    assert_error(bridge.post(f"/api/v1/court/cases/{code}/confirmation", {}, auth=MEDIATOR), 422)
    assert_error(bridge.post(f"/api/v1/court/cases/{code}/enforcement", {"reason": "未履行"}, auth=MEDIATOR), 422)
    onsite = {"kind": "hearing", "occurred_at": "2026-12-01T02:00:00Z", "place": "迎泽区综治中心第一调解室"}
    assert_error(bridge.post(f"/api/v1/court/cases/{code}/onsite", onsite, auth=COURT), 422)
    assert bridge.db.messages.count_documents({}) == 0


def test_a_party_who_wants_to_sue_is_filed_with_priority_once(bridge):
    code = referred(bridge)
    body = {"reason": "当事人要求诉讼", "undisputed_facts": "借款事实及金额无异议"}
    response = bridge.post(f"/api/v1/court/cases/{code}/filing", body, auth=MEDIATOR)
    assert response.status_code == 202, response.text
    assert response.json()["track"] == "fast_track" and response.json()["track_reasons"] == []
    message = bridge.db.messages.find_one({"operation": "filing"})
    assert message["payload"]["track"] == "fast_track" and message["payload"]["priority"] is True
    assert message["payload"]["referral_ids"] == ["R-1"] and message["payload"]["on_site"] is True
    assert message["payload"]["mediation_record"] is None  # no mediation failed: none is made up
    assert_error(bridge.post(f"/api/v1/court/cases/{code}/filing", body, auth=MEDIATOR), 422, "invalid_transition")
    assert bridge.db.messages.count_documents({"operation": "filing"}) == 1


# -- events ---------------------------------------------------------------------------------
def case_envelope_of(bridge, ref="R-1"):
    referral = bridge.db.referrals.find_one({"referral_id": ref})
    return {"case_id": referral["case_id"], "case_code": referral["case_code"], "jurisdiction": "140106003",
            "category": "lending"}


def test_an_agreement_concludes_the_referral_once_and_queues_feedback_and_confirmation(bridge):
    referred(bridge)
    case = case_envelope_of(bridge)
    signed = datetime.now(UTC) - timedelta(days=3)  # mediation reports it days after the signing
    event = mediation_event("agreement_reached", case, agreed_at=signed.isoformat())
    publish_event(bridge.config["AMQP_URI"], event)
    publish_event(bridge.config["AMQP_URI"], event)  # a redelivery changes nothing
    wait_for(lambda: bridge.db.inbox.count_documents({}) == 1 and metric(
        bridge, "onestop_events_consumed_total", outcome="duplicate") == 1, message="both deliveries handled")
    referral = bridge.db.referrals.find_one({"referral_id": "R-1"})
    assert referral["state"] == "concluded" and referral["outcome"] == "agreement"
    feedback = list(bridge.db.messages.find({"operation": "feedback"}))
    assert len(feedback) == 1 and feedback[0]["payload"]["agreement_hash"] == "ab" * 32
    assert feedback[0]["payload"]["terms"] == TERMS
    record = bridge.db.cases.find_one({"_id": case["case_code"]})
    assert record["confirmation"]["state"] == "requested" and record["confirmation"]["court_id"] == COURT_ID
    assert record["agreement"]["terms"] == TERMS
    agreed_at = datetime.fromisoformat(event["data"]["agreed_at"].replace("Z", "+00:00"))
    assert abs(record["agreement"]["agreed_at"] - agreed_at) < timedelta(milliseconds=1)  # mediation's time
    assert record["confirmation"]["apply_by"] == days_after(agreed_at, 30)
    application = bridge.db.messages.find_one({"operation": "confirmation"})["payload"]
    assert application["terms"] == TERMS and application["agreement_hash"] == "ab" * 32
    assert application["mediator_id"] == "mediator-7" and application["performance_deadline"] == "2026-12-31"
    assert bridge.db.messages.count_documents({"operation": "confirmation"}) == 1
    # the court cannot be reached: the messages wait, counted as pending feedback
    wait_for(lambda: bridge.db.messages.find_one({"operation": "feedback"})["attempts"] >= 1,
             message="a failed attempt")
    wait_for(lambda: metric(bridge, "onestop_court_feedback_pending") == 1, message="the pending gauge")
    assert metric(bridge, "onestop_court_adapter_errors_total", court=COURT_ID, operation="feedback") >= 1


def test_a_failed_referral_carries_the_mediation_record_mediation_reported_to_the_court(bridge):
    referred(bridge)
    case = case_envelope_of(bridge)
    failed_at = datetime.now(UTC) - timedelta(hours=2)  # mediation ended earlier than we hear of it
    event = mediation_event("mediation_failed", case, failed_at=failed_at.isoformat())
    publish_event(bridge.config["AMQP_URI"], event)
    wait_for(lambda: bridge.db.messages.find_one({"operation": "filing"}), message="the filing")
    stored = bridge.db.cases.find_one({"_id": case["case_code"]})["failure"]
    record = stored["record"]
    assert stored["failed_at"] == record["ended_at"] and abs(record["ended_at"] - failed_at) < timedelta(seconds=1)
    assert record["complete"] and record["note"] is None and record["mediator_id"] == "mediator-7"
    assert [s["session_id"] for s in record["sessions"]] == ["s-1", "s-2"]
    assert record["sessions"][0]["absent"] == ["p-respondent"] and record["refusing_parties"] == ["p-respondent"]
    assert record["undisputed_facts"] == "借款事实及金额双方无异议"
    feedback = bridge.db.messages.find_one({"operation": "feedback"})["payload"]
    told = feedback["mediation_record"]
    assert {key: value for key, value in told.items() if key != "referred_at"} == record
    assert told["referred_at"] == bridge.db.referrals.find_one({"referral_id": "R-1"})["received_at"]
    assert abs(feedback["concluded_at"] - failed_at) < timedelta(seconds=1)
    filing = bridge.db.messages.find_one({"operation": "filing"})["payload"]
    assert filing["mediation_record"] == record and filing["undisputed_facts"] == record["undisputed_facts"]


def test_a_failure_from_an_older_mediation_sends_a_record_that_says_what_is_missing(bridge):
    referred(bridge)
    case = case_envelope_of(bridge)
    reported_at = datetime.now(UTC) - timedelta(hours=3)
    publish_event(bridge.config["AMQP_URI"],
                  mediation_event("mediation_failed", case, older=True, occurred_at=reported_at))
    wait_for(lambda: bridge.db.messages.find_one({"operation": "filing"}), message="the filing")
    filing = bridge.db.messages.find_one({"operation": "filing"})
    record = filing["payload"]["mediation_record"]
    assert not record["complete"] and "未提供调解过程记录" in record["note"]
    assert record["sessions"] == [] and record["mediator_id"] is None
    # dated by the event, not by when we filed
    assert abs(record["ended_at"] - reported_at) < timedelta(seconds=1)
    assert filing["created_at"] - record["ended_at"] > timedelta(hours=2)
    feedback = bridge.db.messages.find_one({"operation": "feedback"})["payload"]["mediation_record"]
    assert feedback["complete"] is False and feedback["ended_at"] == record["ended_at"]


def outbox_events(bridge, event_type: str) -> list[dict]:
    return [doc["envelope"] for doc in bridge.db.outbox.find({"event_type": event_type})]


def test_a_message_the_court_does_not_take_is_announced_once_when_it_becomes_stuck(bridge):
    code = referred(bridge)
    case = case_envelope_of(bridge)
    publish_event(bridge.config["AMQP_URI"], mediation_event("mediation_withdrawn", case))
    wait_for(lambda: outbox_events(bridge, "message_stuck"), message="the message to get stuck")
    message = bridge.db.messages.find_one({"operation": "feedback"})
    # it keeps being retried; it is announced once, when it reached the stuck list
    wait_for(lambda: bridge.db.messages.find_one({"_id": message["_id"]})["attempts"] >= 5, timeout=15,
             message="more attempts after it got stuck")
    stuck = outbox_events(bridge, "message_stuck")
    assert len(stuck) == 1 and stuck[0]["case_code"] == code
    data = stuck[0]["data"]
    assert data["court_id"] == COURT_ID and data["message_id"] == message["_id"] and data["operation"] == "feedback"
    assert data["attempts"] == 3 and data["referral_id"] == "R-1" and "no answer" in data["last_error"]
    assert bridge.db.audit_log.count_documents({"action": "court.message.stuck", "case_code": code}) == 1


def test_a_confirmation_window_closing_is_announced_once_per_level(bridge):
    case = {"case_id": "c-window", "case_code": make_case_code("140106", "family", 9), "jurisdiction": "140106",
            "category": "family"}
    event = mediation_event("agreement_reached", case, court_referred=False)
    publish_event(bridge.config["AMQP_URI"], event)  # no court answers: the application never arrives
    wait_for(lambda: bridge.db.cases.find_one({"_id": case["case_code"]}), message="the agreement")
    apply_by = bridge.db.cases.find_one({"_id": case["case_code"]})["confirmation"]["apply_by"]
    clock = get_extension(bridge.container, Clock)
    clock.offset = timedelta(days=27)
    wait_for(lambda: outbox_events(bridge, "confirmation_due"), message="the due_soon event")
    clock.offset = timedelta(days=31)
    wait_for(lambda: len(outbox_events(bridge, "confirmation_due")) == 2, message="the overdue event")
    message = bridge.db.messages.find_one({"operation": "confirmation"})
    wait_for(lambda: bridge.db.messages.find_one({"_id": message["_id"]})["attempts"] >= message["attempts"] + 2,
             timeout=15, message="more clock ticks")
    due = outbox_events(bridge, "confirmation_due")
    assert [e["data"]["level"] for e in due] == ["due_soon", "overdue"]
    assert all(e["data"] == {"court_id": COURT_ID, "agreement_id": event["data"]["agreement_id"],
                             "deadline": iso(apply_by), "level": e["data"]["level"]} for e in due)
    assert {e["case_code"] for e in due} == {case["case_code"]}
    assert metric(bridge, "onestop_court_confirmation_warnings_total", level="due_soon") == 1


def test_a_referral_merged_into_an_earlier_case_follows_that_case(bridge):
    earlier = {"case_id": "c-earlier", "case_code": make_case_code("140106", "lending", 40),
               "jurisdiction": "140106", "category": "lending"}
    StubIntake.mode, StubIntake.merge_into = "merge", earlier
    result = post_batch(bridge, batch("B-10", [referral_item("R-1")])).json()["results"][0]
    assert (result["result"], result["reason"], result["case_code"]) == ("accepted", "merged", earlier["case_code"])
    referral = bridge.db.referrals.find_one({"referral_id": "R-1"})
    assert referral["merged_into"] == earlier["case_code"] and referral["case_code"] == intake_case("R-1")["case_code"]
    # the referral_received event names the report intake registered; mediation goes on in the earlier case
    received = bridge.db.outbox.find_one({"event_type": "referral_received"})["envelope"]
    assert received["case_code"] == referral["case_code"]
    publish_event(bridge.config["AMQP_URI"], mediation_event("agreement_reached", earlier))
    wait_for(lambda: bridge.db.referrals.find_one({"referral_id": "R-1"})["state"] == "concluded",
             message="the referral to follow the earlier case")
    feedback = bridge.db.messages.find_one({"operation": "feedback"})
    assert feedback["payload"]["merged_into"] == earlier["case_code"] and feedback["payload"]["outcome"] == "agreement"
    view = bridge.get(f"/api/v1/court/cases/{earlier['case_code']}", auth=MEDIATOR).json()
    assert view["referrals"][0]["referral_id"] == "R-1"


def test_a_referral_whose_case_intake_merges_later_follows_the_surviving_case(bridge):
    code = referred(bridge)
    surviving = {"case_id": "c-surviving", "case_code": make_case_code("140106", "lending", 41),
                 "jurisdiction": "140106", "category": "lending"}
    amqp = bridge.config["AMQP_URI"]
    publish_event(amqp, make_envelope("intake", "case_merged", case=surviving, data={
        "duplicate_case_id": intake_case("R-1")["case_id"], "duplicate_case_code": code, "channel": "court_referral",
        "channel_ref": "R-1"}))
    wait_for(lambda: bridge.db.referrals.find_one({"referral_id": "R-1"}).get("merged_into"), message="the merge")
    publish_event(amqp, mediation_event("mediation_withdrawn", surviving))
    wait_for(lambda: bridge.db.referrals.find_one({"referral_id": "R-1"}).get("outcome") == "withdrawn",
             message="the withdrawal to reach the referral")


def test_a_failed_unreferred_case_is_filed_only_when_a_party_wants_to_sue(bridge):
    amqp = bridge.config["AMQP_URI"]
    quiet = {"case_id": "c-quiet", "case_code": make_case_code("140106", "neighbour", 7), "jurisdiction": "140106",
             "category": "neighbour"}
    suing = {"case_id": "c-suing", "case_code": make_case_code("140106", "neighbour", 8), "jurisdiction": "140106",
             "category": "neighbour"}
    publish_event(amqp, make_envelope("intake", "case_registered", case=suing, data={
        "channel": "walk_in", "summary": "相邻通行纠纷", "severity": "general", "people_involved": 2,
        "amount": 5000, "registered_at": "2026-11-20T01:00:00Z"}))
    wait_for(lambda: bridge.db.cases.find_one({"_id": suing["case_code"]}), message="the facts")
    publish_event(amqp, mediation_event("mediation_failed", quiet, wants_litigation=False, court_referred=False))
    publish_event(amqp, mediation_event("mediation_failed", suing, court_referred=False))
    wait_for(lambda: bridge.db.inbox.count_documents({}) == 3, message="the events")
    assert bridge.db.cases.find_one({"_id": quiet["case_code"]}).get("filing") is None
    filing = bridge.db.cases.find_one({"_id": suing["case_code"]})["filing"]
    assert filing["trigger"] == "wants_litigation" and filing["track"] == "fast_track"
    assert filing["court_id"] == COURT_ID and bridge.db.messages.count_documents({}) == 1


def test_a_referral_whose_period_ends_is_closed_once_by_the_clock(bridge):
    referred(bridge, "R-1")
    referred(bridge, "R-2")
    get_extension(bridge.container, Clock).offset = timedelta(days=31)
    wait_for(lambda: bridge.db.referrals.count_documents({"outcome": "deadline_passed"}) == 2,
             message="both referrals to expire")
    assert bridge.db.messages.count_documents({"operation": "feedback"}) == 2
    assert {doc["payload"]["outcome"] for doc in bridge.db.messages.find()} == {"deadline_passed"}


def test_health_metrics_and_openapi(bridge):
    assert bridge.get("/healthz").json() == {"status": "ok", "service": "court_bridge"}
    assert bridge.get("/readyz").status_code == 200
    spec = bridge.get("/api/v1/openapi.json").json()
    for path in ("/api/v1/court/referrals", "/api/v1/court/cases/{code}", "/api/v1/court/cases/{code}/confirmation",
                 "/api/v1/court/cases/{code}/filing", "/api/v1/court/stuck"):
        assert path in spec["paths"], path
    assert "items" in spec["components"]["schemas"]["ReferralBatch"]["properties"]
    courts = bridge.get("/api/v1/court/courts", auth=DISPATCHER).json()
    assert len(courts["causes"]) == 20 and "api_key" not in json.dumps(courts)
    assert requests.get(bridge.base_url + "/metrics", timeout=5).status_code == 200


def test_the_drill_clock_file_moves_now_while_running_and_is_refused_in_production(start_service, intake,
                                                                                    tmp_path):
    from services.common.config import ConfigError

    offset = tmp_path / "offset"
    offset.write_text("0")
    bridge = start_service(CourtBridgeService, COURT_CLOCK_FILE=str(offset))
    clock = get_extension(bridge.container, Clock)
    assert abs((clock.now() - datetime.now(UTC)).total_seconds()) < 5
    offset.write_text(str(31 * 24 * 3600))
    wait_for(lambda: clock.now() - datetime.now(UTC) > timedelta(days=30), timeout=5,
             message="the new offset read while running")
    with pytest.raises(ConfigError, match="COURT_CLOCK_FILE"):
        start_service(CourtBridgeService, COURT_CLOCK_FILE=str(offset), ONESTOP_ENV="prod",
                      ONESTOP_JWT_SECRET="j" * 40, ONESTOP_PII_KEY="p" * 40)
