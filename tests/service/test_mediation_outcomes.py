"""Outcomes over HTTP: the agreement PDF (parties from intake by RPC), the four outcome types
and their events, once per file, and the risk follow-up with its visits."""

import hashlib
import io
from datetime import UTC, timedelta
from types import SimpleNamespace

import eventlet
import pytest
from nameko.rpc import rpc
from pypdf import PdfReader

from services.common.contracts import validate_envelope
from services.mediation.service import MediationService
from tests.support.broker import publish_event
from tests.support.infra import wait_for
from tests.support.mediation_samples import (
    DISPATCHER,
    MEDIATOR,
    IntakeStub,
    at,
    case_code,
    clock,
    created,
    freeze,
    local,
    mediation_requested,
    mediator,
    metric,
    open_file,
    outbox,
    room,
)

AGREEMENT = {"type": "agreement", "facts": "双方因家庭琐事长期不和，申请人请求离婚。",
             "terms": ["双方自愿离婚。", "婚生子王小明由王建国抚养，李秀英每月支付抚养费人民币1500元。"],
             "amount": 50000, "performance_deadline": "2026-12-31", "confirmation_requested": True}
VISITOR = {"roles": ("department",), "jurisdictions": ("140106",)}


def hold_session(svc, code, room_id, mediator_id, day=25):
    session_id = created(svc.post(f"/api/v1/mediations/{code}/sessions", {
        "kind": "on_site", "room_id": room_id, "mediator_id": mediator_id,
        "starts_at": at(day, 9), "ends_at": at(day, 11)}, auth=DISPATCHER), "session_id")
    clock(svc).freeze(local(day, 10).astimezone(UTC))
    answer = svc.post(f"/api/v1/mediations/{code}/sessions/{session_id}/attendance",
                      {"parties": [{"party_id": "p-1", "role": "applicant", "present": True},
                                   {"party_id": "p-2", "role": "respondent", "present": True}]}, auth=DISPATCHER)
    assert answer.status_code == 200, answer.text
    return session_id


@pytest.fixture
def centre(start_service):
    IntakeStub.calls.clear()
    svc = start_service(MediationService)
    start_service(IntakeStub)
    freeze(svc)
    centre = SimpleNamespace(svc=svc)
    centre.room = created(svc.post("/api/v1/rooms", room(), auth=DISPATCHER), "room_id")
    centre.mediator = created(svc.post("/api/v1/mediators", mediator(), auth=DISPATCHER), "mediator_id")
    centre.envelope = open_file(svc)
    centre.code = centre.envelope["case_code"]
    return centre


def outcome(centre, body, code=None, auth=MEDIATOR):
    return centre.svc.post(f"/api/v1/mediations/{code or centre.code}/outcome", body, auth=auth)


def assert_error(response, status, code):
    assert response.status_code == status, response.text
    assert response.json()["error"] == code
    return response.json()


def test_an_agreement_gives_a_pdf_with_the_parties_and_terms_and_a_follow_up_plan(centre):
    svc = centre.svc
    hold_session(svc, centre.code, centre.room, centre.mediator)
    later = created(svc.post(f"/api/v1/mediations/{centre.code}/sessions", {
        "kind": "on_site", "room_id": centre.room, "mediator_id": centre.mediator,
        "starts_at": at(26, 9), "ends_at": at(26, 10)}, auth=DISPATCHER), "session_id")

    # what the mediator typed around a term is not part of it: the document and the event carry the same text
    recorded = outcome(centre, {**AGREEMENT, "terms": [f"  {term}\u3000" for term in AGREEMENT["terms"]]})
    assert recorded.status_code == 201, recorded.text
    view = recorded.json()
    assert view["status"] == "concluded" and view["outcome"]["type"] == "agreement"
    assert IntakeStub.calls == [centre.envelope["case_id"]]

    document = svc.get(f"/api/v1/mediations/{centre.code}/agreement", auth=MEDIATOR)
    assert document.status_code == 200 and document.headers["Content-Type"] == "application/pdf"
    digest = hashlib.sha256(document.content).hexdigest()
    assert document.headers["X-Content-SHA256"] == digest == view["agreement"]["sha256"]
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(document.content)).pages)
    for expected in (centre.code, "王建国", "李秀英", "双方自愿离婚", "婚生子王小明由王建国抚养",
                     "人民币50,000.00元", "2026年12月31日", "张淑芬", "迎泽区婚姻家庭纠纷人民调解委员会",
                     "2026年11月25日", "司法确认"):
        assert expected in text, expected
    lines = text.splitlines()
    for number, term in (("一", AGREEMENT["terms"][0]), ("二", AGREEMENT["terms"][1])):
        assert f"{number}、{term}" in lines

    [reached] = outbox(svc, "agreement_reached")
    assert reached["case_code"] == centre.code and reached["category"] == "family"
    assert reached["data"] == {"agreement_id": view["agreement"]["agreement_id"], "partial": False,
                               "amount": 50000.0, "performance_deadline": "2026-12-31",
                               "confirmation_requested": True, "agreement_hash": digest, "court_referred": False,
                               "terms": AGREEMENT["terms"], "mediator_id": centre.mediator,
                               "agreed_at": "2026-11-25T02:00:00Z"}
    validate_envelope(reached, strict=True)
    [required] = outbox(svc, "followup_required")
    followup = svc.db.followups.find_one({"_id": required["data"]["followup_id"]})
    assert followup["planned_visits"] == 2 and followup["status"] == "open"
    assert required["data"]["first_visit_due"] == "2026-12-09T15:59:59Z"  # 10 working days after 25 Nov
    # the session still ahead is released and its parties told
    [cancelled] = outbox(svc, "session_cancelled")
    assert cancelled["data"]["session_id"] == later and cancelled["data"]["reason"] == "outcome_recorded"
    assert svc.db.reservations.count_documents({"session_id": later}) == 0
    assert metric(svc, "onestop_mediation_outcomes_total", outcome="agreement", category="family") == 1
    # the parties' names and contacts from intake travel neither on the bus nor into the audit trail; the
    # court reads the terms as the mediator wrote them, and only there may a name stand
    beyond_terms = list(svc.db.outbox.find())
    for doc in beyond_terms:
        doc["envelope"]["data"].pop("terms", None)
    for personal in ("王建国", "李秀英", "13812345678", "桥东街"):
        assert personal not in str(beyond_terms) and personal not in str(list(svc.db.audit_log.find())), personal


def test_an_outcome_is_recorded_once(centre):
    svc = centre.svc
    hold_session(svc, centre.code, centre.room, centre.mediator)
    assert outcome(centre, AGREEMENT).status_code == 201
    again = outcome(centre, {"type": "failed", "reason": "no_agreement", "wants_litigation": True})
    assert_error(again, 422, "invalid_transition")
    assert svc.db.files.find_one({"case_code": centre.code})["outcome"]["type"] == "agreement"
    assert outbox(svc, "mediation_failed") == [] and len(outbox(svc, "agreement_reached")) == 1
    assert svc.db.agreements.count_documents({}) == 1 and svc.db.followups.count_documents({}) == 1
    # a mediation session after the outcome is refused; legal aid is still given
    assert_error(svc.post(f"/api/v1/mediations/{centre.code}/sessions", {
        "kind": "on_site", "room_id": centre.room, "mediator_id": centre.mediator,
        "starts_at": at(26, 9), "ends_at": at(26, 10)}, auth=DISPATCHER), 422, "invalid_transition")
    lawyer = created(svc.post("/api/v1/mediators", mediator(name="赵律师", type="lawyer"), auth=DISPATCHER),
                     "mediator_id")
    created(svc.post(f"/api/v1/mediations/{centre.code}/sessions", {
        "kind": "on_site", "purpose": "legal_aid", "room_id": centre.room, "mediator_id": lawyer,
        "starts_at": at(26, 9), "ends_at": at(26, 10)}, auth=DISPATCHER), "session_id")
    # routing asking again after the outcome is kept on record and reopens nothing
    publish_event(svc.config["AMQP_URI"], mediation_requested(centre.code, case_id=centre.envelope["case_id"]))
    wait_for(lambda: svc.db.files.find_one({"case_code": centre.code})["history"][-1]["what"]
             == "request_after_outcome", message="the late request on record")
    assert svc.db.files.find_one({"case_code": centre.code})["status"] == "concluded"


def test_an_agreement_needs_a_held_session_and_failure_carries_the_undisputed_facts(centre):
    svc = centre.svc
    assert_error(outcome(centre, AGREEMENT), 422, "invalid_transition")
    assert svc.db.agreements.count_documents({}) == 0 and IntakeStub.calls == []
    assert_error(outcome(centre, {"type": "failed", "reason": "refused", "wants_litigation": True}), 400,
                 "validation_failed")
    failed = outcome(centre, {"type": "failed", "reason": "refused", "refusing_parties": ["p-2"],
                              "undisputed_facts": "双方于2015年登记结婚，育有一子。", "wants_litigation": True})
    assert failed.status_code == 201, failed.text
    [event] = outbox(svc, "mediation_failed")
    assert event["data"] == {"reason": "refused", "undisputed_facts": "双方于2015年登记结婚，育有一子。",
                             "wants_litigation": True, "court_referred": False, "failed_at": "2026-11-24T00:00:00Z",
                             "mediator_id": None, "sessions": [], "unreachable_parties": [],
                             "refusing_parties": ["p-2"]}
    assert len(outbox(svc, "followup_required")) == 1  # family: on the list whatever the outcome
    assert failed.json()["agreement"] is None
    assert_error(svc.get(f"/api/v1/mediations/{centre.code}/agreement", auth=MEDIATOR), 404, "not_found")


def test_a_failed_mediation_carries_its_record_of_sessions_by_party_id(centre):
    svc = centre.svc
    lawyer = created(svc.post("/api/v1/mediators", mediator(name="赵律师", type="lawyer"), auth=DISPATCHER),
                     "mediator_id")

    def book(day, hour, **changes):
        body = {"kind": "on_site", "room_id": centre.room, "mediator_id": centre.mediator,
                "starts_at": at(day, hour), "ends_at": at(day, hour + 1), **changes}
        return created(svc.post(f"/api/v1/mediations/{centre.code}/sessions", body, auth=DISPATCHER), "session_id")

    def attendance(session_id, day, hour, parties):
        clock(svc).freeze(local(day, hour, 30).astimezone(UTC))
        answer = svc.post(f"/api/v1/mediations/{centre.code}/sessions/{session_id}/attendance",
                          {"parties": parties}, auth=MEDIATOR)
        assert answer.status_code == 200, answer.text

    first, aid = book(25, 9), book(25, 15, purpose="legal_aid", mediator_id=lawyer)
    missed, dropped, later = book(26, 9), book(26, 15), book(27, 9)
    attendance(first, 25, 9, [{"party_id": "p-1", "role": "applicant", "present": True},
                              {"party_id": "p-2", "role": "respondent", "present": False},
                              {"role": "third_party", "present": True}])
    attendance(aid, 25, 15, [{"party_id": "p-1", "role": "applicant", "present": True}])
    assert svc.post(f"/api/v1/mediations/{centre.code}/sessions/{dropped}/cancel", {"reason": "party_request"},
                    auth=DISPATCHER).status_code == 200
    attendance(missed, 26, 9, [{"party_id": "p-2", "role": "respondent", "present": False}])

    failed = outcome(centre, {"type": "failed", "reason": "refused", "refusing_parties": ["p-2"],
                              "unreachable_parties": [], "wants_litigation": True,
                              "undisputed_facts": "双方于2015年登记结婚。"})
    assert failed.status_code == 201, failed.text
    [event] = outbox(svc, "mediation_failed")
    validate_envelope(event, strict=True)
    data = event["data"]
    assert data["failed_at"] == "2026-11-26T01:30:00Z" and data["mediator_id"] == centre.mediator
    assert data["refusing_parties"] == ["p-2"] and data["unreachable_parties"] == []
    # the held session and the one nobody came to; not legal aid, the cancelled one, or the one released now
    assert data["sessions"] == [
        {"session_id": first, "kind": "on_site", "purpose": "mediation", "starts_at": "2026-11-25T01:00:00Z",
         "ends_at": "2026-11-25T02:00:00Z", "mediator_id": centre.mediator, "attended": ["p-1"], "absent": ["p-2"]},
        {"session_id": missed, "kind": "on_site", "purpose": "mediation", "starts_at": "2026-11-26T01:00:00Z",
         "ends_at": "2026-11-26T02:00:00Z", "mediator_id": centre.mediator, "attended": [], "absent": ["p-2"]},
    ]
    assert [e["data"]["session_id"] for e in outbox(svc, "session_cancelled")] == [dropped, later]
    assert "王建国" not in str(event) and "李秀英" not in str(event)
    # a name typed where a party id belongs is refused, not carried to the court
    other = open_file(svc, case_code(sequence=5))["case_code"]
    assert_error(outcome(centre, {"type": "failed", "reason": "refused", "refusing_parties": ["李秀英"],
                                  "wants_litigation": False}, code=other), 400, "validation_failed")


def test_withdrawals_and_labour_cases(centre):
    svc = centre.svc
    labour = open_file(svc, case_code("labour", 2), category="labour", court_referred=True)["case_code"]
    neighbour = open_file(svc, case_code("neighbour", 3), category="neighbour")["case_code"]
    assert outcome(centre, {"type": "withdrawn", "reason": "went_to_court"}, code=labour).status_code == 201
    assert outcome(centre, {"type": "withdrawn", "reason": "settled_privately", "detail": "双方已自行和解"},
                   code=neighbour).status_code == 201
    events = outbox(svc, "mediation_withdrawn")
    assert [(e["case_code"], e["data"]["reason"], e["data"]["court_referred"]) for e in events] == [
        (labour, "went_to_court", True), (neighbour, "settled_privately", False)]
    assert [e["case_code"] for e in outbox(svc, "followup_required")] == [neighbour]
    assert metric(svc, "onestop_mediation_outcomes_total", outcome="withdrawn", category="labour") == 1


def test_a_partial_agreement_says_so(centre):
    svc = centre.svc
    hold_session(svc, centre.code, centre.room, centre.mediator)
    body = {**AGREEMENT, "type": "partial", "unresolved": ["房产分割"], "confirmation_requested": False}
    assert outcome(centre, body, auth=DISPATCHER).status_code == 201
    [event] = outbox(svc, "agreement_reached")
    assert event["data"]["partial"] is True and event["data"]["confirmation_requested"] is False
    document = svc.get(f"/api/v1/mediations/{centre.code}/agreement", auth=MEDIATOR).content
    text = PdfReader(io.BytesIO(document)).pages[0].extract_text()
    assert "部分达成" in text and "房产分割" in text


def test_only_mediators_and_dispatchers_record_outcomes(centre):
    assert_error(outcome(centre, {"type": "withdrawn", "reason": "other"}, auth=VISITOR), 403, "role_forbidden")
    assert_error(outcome(centre, {"type": "withdrawn", "reason": "other"},
                         auth={"roles": ("mediator",), "jurisdictions": ("140105",)}), 404, "not_found")
    assert centre.svc.db.files.find_one({"case_code": centre.code})["outcome"] is None


def test_a_changed_agreement_is_detected(centre):
    svc = centre.svc
    hold_session(svc, centre.code, centre.room, centre.mediator)
    assert outcome(centre, AGREEMENT).status_code == 201
    stored = svc.db.agreements.find_one({})
    svc.db.agreements.update_one({"_id": stored["_id"]}, {"$set": {"pdf": bytes(stored["pdf"]) + b"% edited"}})
    assert_error(svc.get(f"/api/v1/mediations/{centre.code}/agreement", auth=MEDIATOR), 409, "conflict")


class SlowIntake:
    name = "intake"

    @rpc
    def contacts(self, case_id, roles=None):
        eventlet.sleep(1.5)  # longer than the 0.5 s the test allows
        return []


@pytest.mark.parametrize("intake", [None, SlowIntake])
def test_without_intakes_answer_nothing_is_recorded(start_service, intake):
    svc = start_service(MediationService, RPC_TIMEOUT_SECONDS=0.5)
    if intake:
        start_service(intake)
    freeze(svc)
    room_id = created(svc.post("/api/v1/rooms", room(), auth=DISPATCHER), "room_id")
    mediator_id = created(svc.post("/api/v1/mediators", mediator(), auth=DISPATCHER), "mediator_id")
    code = open_file(svc)["case_code"]
    hold_session(svc, code, room_id, mediator_id)
    answer = svc.post(f"/api/v1/mediations/{code}/outcome", AGREEMENT, auth=MEDIATOR)
    assert answer.status_code == 503, answer.text
    assert answer.json()["error"] == ("upstream_timeout" if intake else "unavailable")
    assert svc.db.files.find_one({"case_code": code})["outcome"] is None
    assert svc.db.agreements.count_documents({}) == 0 and outbox(svc, "agreement_reached") == []


# -- follow-ups -------------------------------------------------------------------------------------
def visit(svc, followup_id, body, auth=VISITOR):
    return svc.post(f"/api/v1/followups/{followup_id}/visits", body, auth=auth)


def test_visits_are_recorded_until_the_case_turns_green(centre):
    svc = centre.svc
    assert outcome(centre, {"type": "withdrawn", "reason": "applicant_withdrew"}).status_code == 201
    followup_id = svc.db.followups.find_one({})["_id"]
    listed = svc.get("/api/v1/followups?status=open", auth=MEDIATOR).json()["items"]
    assert [f["followup_id"] for f in listed] == [followup_id]
    # the dispatcher sees every planned visit: the first within 10 working days, the next 20 after it
    assert listed[0]["schedule"] == [
        {"visit_number": 1, "status": "next", "due": "2026-12-08T15:59:59Z", "visited_at": None, "state": None},
        {"visit_number": 2, "status": "planned", "due": "2027-01-06T15:59:59Z", "visited_at": None, "state": None}]
    on_file = svc.get(f"/api/v1/mediations/{centre.code}", auth=DISPATCHER).json()["followup"]
    assert on_file["schedule"] == listed[0]["schedule"]
    assert svc.get("/api/v1/followups?due_before=2026-12-01T00:00:00Z", auth=MEDIATOR).json()["items"] == []

    clock(svc).advance(timedelta(days=5))  # Sunday 29 November; tense → within 3 working days
    assert_error(visit(svc, followup_id, {"state": "calm"}), 400, "validation_failed")
    assert_error(visit(svc, followup_id, {"state": "stable", "visited_at": "2026-12-20T00:00:00Z"}), 400,
                 "validation_failed")
    assert_error(visit(svc, followup_id, {"state": "stable"}, auth={"roles": ("leader",), "jurisdictions": (
        "140106",)}), 403, "role_forbidden")
    first = visit(svc, followup_id, {"state": "tense", "satisfaction": 3, "method": "phone", "notes": "仍有争吵"})
    assert first.status_code == 201, first.text
    assert first.json()["status"] == "open" and first.json()["next_visit_due"] == "2026-12-02T15:59:59Z"
    # it found the case tense: two stable visits are now planned, the first brought forward
    assert [(v["visit_number"], v["status"], v["due"], v["state"]) for v in first.json()["schedule"]] == [
        (1, "made", "2026-12-08T15:59:59Z", "tense"), (2, "next", "2026-12-02T15:59:59Z", None),
        (3, "planned", "2026-12-30T15:59:59Z", None)]
    assert visit(svc, followup_id, {"state": "stable", "satisfaction": 4}).json()["status"] == "open"
    green = visit(svc, followup_id, {"state": "stable", "satisfaction": 5})
    assert green.json()["status"] == "green" and green.json()["next_visit_due"] is None
    assert_error(visit(svc, followup_id, {"state": "stable"}), 422, "invalid_transition")

    events = outbox(svc, "followup_recorded")
    assert [(e["data"]["visit_number"], e["data"]["state"], e["data"]["satisfaction"], e["data"]["green"])
            for e in events] == [(1, "tense", 3, False), (2, "stable", 4, False), (3, "stable", 5, True)]
    stored = svc.db.followups.find_one({"_id": followup_id})
    assert stored["visit_count"] == 3 and stored["visits"][0]["notes"] == "仍有争吵"
    assert "仍有争吵" not in str(events) and "仍有争吵" not in str(list(svc.db.audit_log.find()))
    assert metric(svc, "onestop_mediation_followup_visits_total", state="stable") == 2
    read = svc.get(f"/api/v1/followups/{followup_id}", auth=MEDIATOR).json()
    assert read["status"] == "green"
    assert [(v["visit_number"], v["status"], v["state"]) for v in read["schedule"]] == [
        (1, "made", "tense"), (2, "made", "stable"), (3, "made", "stable")]  # nothing more planned
    assert read["schedule"][1]["due"] == "2026-12-02T15:59:59Z"
    assert_error(svc.get(f"/api/v1/followups/{followup_id}", auth={"roles": ("mediator",), "jurisdictions": (
        "140105",)}), 404, "not_found")
