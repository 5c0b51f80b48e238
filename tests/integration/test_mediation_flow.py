"""Issue 5's "done when", on the real RabbitMQ: a family dispute routed to mediation is booked in
a free room with a family mediator, a clashing booking gets 409, the agreement gives a PDF and a
follow-up plan, and agreement_reached and followup_required are read back from the bus."""

import hashlib
import io
import json
from datetime import UTC

from pypdf import PdfReader

from services.common.contracts import validate_envelope
from services.mediation.service import MediationService
from tests.support.broker import drain, publish_event
from tests.support.infra import wait_for
from tests.support.mediation_samples import (
    DISPATCHER,
    FAMILY_PARTIES,
    MEDIATOR,
    IntakeStub,
    at,
    case_code,
    clock,
    created,
    freeze,
    listen,
    local,
    mediation_requested,
    mediator,
    open_file,
    room,
)


def read_bus(amqp_uri, queue, code, wanted):
    """The case's events on the listening queue, once each wanted type has arrived."""
    seen = []

    def arrived():
        events = (json.loads(message.body) for message in drain(amqp_uri, queue))
        seen.extend(event for event in events if event["case_code"] == code)
        return wanted <= {event["event_type"] for event in seen}

    wait_for(arrived, timeout=15, message=f"{sorted(wanted)} on the bus")
    return {event["event_type"]: event for event in seen}


def test_a_family_dispute_from_routings_request_to_an_agreement_on_the_bus(start_service):
    mediation = start_service(MediationService)
    start_service(IntakeStub)
    freeze(mediation)
    amqp = mediation.config["AMQP_URI"]
    queue = listen(amqp, "mediation", ["session_scheduled", "agreement_reached", "followup_required"])

    first_room = created(mediation.post("/api/v1/rooms", room(), auth=DISPATCHER), "room_id")
    second_room = created(mediation.post("/api/v1/rooms", room(name="第二调解室", location="二楼西侧"),
                                         auth=DISPATCHER), "room_id")
    created(mediation.post("/api/v1/mediators", mediator(name="刘强", type="industry", specialities=["labour"],
                                                         unit="140106:committee:labour"), auth=DISPATCHER),
            "mediator_id")
    family_mediator = created(mediation.post("/api/v1/mediators", mediator(), auth=DISPATCHER), "mediator_id")
    other_mediator = created(mediation.post("/api/v1/mediators", mediator(name="周平", specialities=[]),
                                            auth=DISPATCHER), "mediator_id")
    # another case already holds the first room on Wednesday morning
    busy_case = open_file(mediation, case_code(sequence=7))["case_code"]
    created(mediation.post(f"/api/v1/mediations/{busy_case}/sessions", {
        "kind": "on_site", "room_id": first_room, "mediator_id": other_mediator,
        "starts_at": at(25, 9), "ends_at": at(25, 12)}, auth=DISPATCHER), "session_id")

    # routing asks for mediation of a family dispute, on the broker
    code = case_code(sequence=1)
    request = mediation_requested(code, category="family", mediation_type="people's")
    IntakeStub.parties[request["case_id"]] = FAMILY_PARTIES
    publish_event(amqp, request)
    wait_for(lambda: mediation.get(f"/api/v1/mediations/{code}", auth=MEDIATOR).status_code == 200,
             message="the mediation file to open")

    suggestions = mediation.get(f"/api/v1/mediations/{code}/suggestions", auth=DISPATCHER).json()["suggestions"]
    chosen = suggestions[0]
    assert chosen["mediator_id"] == family_mediator and "speciality:family" in chosen["reasons"]
    free = mediation.get("/api/v1/rooms", params={"free_from": at(25, 9), "free_to": at(25, 11), "kind": "on_site"},
                         auth=DISPATCHER).json()["items"]
    assert [item["room_id"] for item in free] == [second_room]

    booked = mediation.post(f"/api/v1/mediations/{code}/sessions", {
        "kind": "on_site", "room_id": free[0]["room_id"], "mediator_id": chosen["mediator_id"],
        "starts_at": at(25, 9), "ends_at": at(25, 11), "expected_attendees": 4}, auth=DISPATCHER)
    session_id = created(booked, "session_id")
    clash = mediation.post(f"/api/v1/mediations/{busy_case}/sessions", {
        "kind": "on_site", "room_id": second_room, "mediator_id": other_mediator,
        "starts_at": "2026-11-25T02:30:00Z", "ends_at": "2026-11-25T04:00:00Z"}, auth=DISPATCHER)
    assert clash.status_code == 409 and clash.json()["fields"]["room_id"][0]["session_id"] == session_id

    clock(mediation).freeze(local(25, 10).astimezone(UTC))
    attended = mediation.post(f"/api/v1/mediations/{code}/sessions/{session_id}/attendance", {
        "parties": [{"party_id": "p-1", "role": "applicant", "present": True},
                    {"party_id": "p-2", "role": "respondent", "present": True}],
        "departments": [{"unit": "140106:women_federation", "present": True}]}, auth=MEDIATOR)
    assert attended.status_code == 200, attended.text
    terms = ["双方自愿离婚。", "李秀英于2026年12月31日前一次性支付王建国人民币50000元。"]
    concluded = mediation.post(f"/api/v1/mediations/{code}/outcome", {
        "type": "agreement", "terms": terms, "amount": 50000, "performance_deadline": "2026-12-31",
        "confirmation_requested": True}, auth=MEDIATOR)
    assert concluded.status_code == 201, concluded.text
    view = concluded.json()
    assert view["followup"]["planned_visits"] == 2 and view["followup"]["status"] == "open"

    document = mediation.get(f"/api/v1/mediations/{code}/agreement", auth=MEDIATOR)
    assert document.headers["Content-Type"] == "application/pdf"
    text = PdfReader(io.BytesIO(document.content)).pages[0].extract_text()
    assert code in text and "王建国" in text and "李秀英" in text and "双方自愿离婚" in text

    on_bus = read_bus(amqp, queue, code, {"session_scheduled", "agreement_reached", "followup_required"})
    for event in on_bus.values():
        validate_envelope(event, strict=True)
        assert event["case_id"] == request["case_id"]
        assert event["category"] == "family" and event["jurisdiction"] == "140106"
    assert on_bus["session_scheduled"]["data"]["room_id"] == second_room
    reached = on_bus["agreement_reached"]["data"]
    assert reached["agreement_hash"] == hashlib.sha256(document.content).hexdigest()
    assert reached["confirmation_requested"] is True and reached["partial"] is False
    # what the court needs to confirm it: the terms as the document numbers them, who mediated, when
    assert reached["terms"] == terms and reached["mediator_id"] == family_mediator
    assert reached["agreed_at"] == "2026-11-25T02:00:00Z"
    assert f"一、{terms[0]}" in text.splitlines()
    assert on_bus["followup_required"]["data"]["followup_id"] == view["followup"]["followup_id"]
    # the relay marks them sent once the broker confirmed them, which may come just after delivery
    wait_for(lambda: mediation.db.outbox.count_documents({"status": "pending", "event_type": {
        "$in": ["agreement_reached", "followup_required"]}}) == 0, message="the outbox marked sent")
