"""Mediation files opened from routing's request, mediator suggestions, and sessions: booking,
clashes (also under concurrent requests), time zones, reschedule, cancel, attendance, reminders."""

from datetime import UTC, timedelta
from types import SimpleNamespace

import eventlet
import pytest
from pymongo.errors import BulkWriteError, PyMongoError

from services.mediation.service import MediationService
from services.mediation.store import MediationRepository
from tests.support.broker import publish_event
from tests.support.infra import wait_for
from tests.support.mediation_samples import (
    DISPATCHER,
    MEDIATOR,
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
    video_room,
)


@pytest.fixture
def desk(start_service):
    """A county centre: two rooms and a video room, mediators of each kind, one family case."""
    svc = start_service(MediationService, MEDIATION_REMINDER_SWEEP_SECONDS=0.1)
    freeze(svc)

    def add(path, body):
        return created(svc.post(path, body, auth=DISPATCHER), "room_id" if "rooms" in path else "mediator_id")

    desk = SimpleNamespace(svc=svc)
    desk.room_a = add("/api/v1/rooms", room())
    desk.room_b = add("/api/v1/rooms", room(name="第二调解室", capacity=4))
    desk.video = add("/api/v1/rooms", video_room())
    desk.family = add("/api/v1/mediators", mediator())
    desk.labour = add("/api/v1/mediators", mediator(name="刘强", type="industry", specialities=["labour"],
                                                    unit="140106:committee:labour", organisation="劳动争议调委会"))
    desk.lawyer = add("/api/v1/mediators", mediator(name="赵律师", type="lawyer", specialities=["family"],
                                                    unit=None, organisation="迎泽区法律援助中心"))
    desk.psychologist = add("/api/v1/mediators", mediator(name="陈心理咨询师", type="psychologist", specialities=[],
                                                          unit=None, organisation=None))
    desk.envelope = open_file(svc)
    desk.code = desk.envelope["case_code"]
    return desk


def book(desk, code=None, **changes):
    body = {"kind": "on_site", "room_id": desk.room_a, "mediator_id": desk.family,
            "starts_at": at(25, 9), "ends_at": at(25, 11)}
    body.update(changes)
    return desk.svc.post(f"/api/v1/mediations/{code or desk.code}/sessions", body, auth=DISPATCHER)


def action(desk, session_id, verb, body):
    return desk.svc.post(f"/api/v1/mediations/{desk.code}/sessions/{session_id}/{verb}", body, auth=DISPATCHER)


def assert_error(response, status, code):
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == code and set(body) == {"error", "message", "fields"}
    return body


# -- the file ---------------------------------------------------------------------------------------
def test_routings_request_opens_one_file_and_a_redelivery_changes_nothing(desk):
    svc, envelope = desk.svc, desk.envelope
    stored = svc.db.files.find_one({"case_id": envelope["case_id"]})
    assert stored["case_code"] == desk.code and stored["status"] == "open" and stored["category"] == "family"
    assert stored["mediation_kind"] == "peoples" and stored["committee"] == "140106:committee:family"
    assert stored["departments"] == ["140106:women_federation"] and stored["outcome"] is None

    publish_event(svc.config["AMQP_URI"], envelope)  # the same event again
    wait_for(lambda: metric(svc, "onestop_events_consumed_total", outcome="duplicate") == 1, message="the repeat")
    assert svc.db.files.count_documents({}) == 1
    assert svc.db.audit_log.count_documents({"action": "mediation.open"}) == 1

    again = mediation_requested(desk.code, case_id=envelope["case_id"], tier="complex",
                                departments=["140106:hrss", "140106:civil_affairs"])
    publish_event(svc.config["AMQP_URI"], again)
    wait_for(lambda: svc.db.files.find_one({"case_id": envelope["case_id"], "tier": "complex"}),
             message="the updated request")
    stored = svc.db.files.find_one({"case_id": envelope["case_id"]})
    assert stored["departments"] == ["140106:hrss", "140106:civil_affairs"]
    assert [entry["what"] for entry in stored["history"]] == ["mediation_requested", "request_updated"]


def test_a_file_is_read_by_its_code_within_scope(desk):
    svc = desk.svc
    view = svc.get(f"/api/v1/mediations/{desk.code}", auth=MEDIATOR)
    assert view.status_code == 200, view.text
    body = view.json()
    assert body["case_code"] == desk.code and body["sessions"] == [] and body["agreement"] is None
    typed = desk.code.replace("-", "").lower()
    assert svc.get(f"/api/v1/mediations/{typed}", auth=MEDIATOR).json()["file_id"] == body["file_id"]
    assert_error(svc.get(f"/api/v1/mediations/{desk.code[:-1]}Z", auth=MEDIATOR), 400, "invalid_case_code")
    assert_error(svc.get(f"/api/v1/mediations/{desk.code}",
                         auth={"roles": ("mediator",), "jurisdictions": ("140105",)}), 404, "not_found")
    assert_error(svc.get(f"/api/v1/mediations/{case_code(sequence=99)}", auth=MEDIATOR), 404, "not_found")
    listed = svc.get("/api/v1/mediations?status=open", auth=DISPATCHER).json()
    assert [item["case_code"] for item in listed["items"]] == [desk.code]
    assert svc.get("/api/v1/mediations", auth={"roles": ("leader",), "jurisdictions": ("140105",)}).json()[
        "items"] == []


def test_suggestions_put_the_family_mediator_first_and_drop_the_busy_one(desk):
    svc = desk.svc
    found = svc.get(f"/api/v1/mediations/{desk.code}/suggestions", auth=DISPATCHER).json()
    assert found["suggestions"][0]["mediator_id"] == desk.family
    assert "speciality:family" in found["suggestions"][0]["reasons"]
    assert {s["mediator_id"] for s in found["suggestions"]} == {desk.family, desk.labour, desk.lawyer}

    created(book(desk, mediator_id=desk.family), "session_id")
    during = svc.get(f"/api/v1/mediations/{desk.code}/suggestions",
                     params={"starts_at": at(25, 10), "ends_at": at(25, 11)}, auth=DISPATCHER).json()
    assert desk.family not in [s["mediator_id"] for s in during["suggestions"]]
    later = svc.get(f"/api/v1/mediations/{desk.code}/suggestions", auth=DISPATCHER).json()
    assert later["lead_mediator_id"] == desk.family and later["suggestions"][0]["reasons"][0] == "continuity"
    legal_aid = svc.get(f"/api/v1/mediations/{desk.code}/suggestions?purpose=legal_aid", auth=DISPATCHER).json()
    assert [s["mediator_id"] for s in legal_aid["suggestions"]] == [desk.lawyer]
    assert_error(svc.get(f"/api/v1/mediations/{desk.code}/suggestions", params={"starts_at": at(25, 10)},
                         auth=DISPATCHER), 400, "validation_failed")


# -- booking and clashes ----------------------------------------------------------------------------
def test_a_session_booked_in_a_free_room_reserves_it_and_is_announced(desk):
    svc = desk.svc
    response = book(desk, expected_attendees=5)
    session_id = created(response, "session_id")
    answer = response.json()
    assert answer["starts_at"] == "2026-11-25T01:00:00Z" and answer["place"] == "第一调解室（二楼东侧）"
    assert [r["name"] for r in answer["reminders"]] == ["day_before", "two_hours_before"]

    stored = svc.db.sessions.find_one({"_id": session_id})
    assert stored["status"] == "scheduled" and stored["starts_at"] == local(25, 9).astimezone(UTC)
    assert stored["departments"] == ["140106:women_federation"]
    assert svc.db.reservations.count_documents({"session_id": session_id}) == 2 * 24  # room + mediator, 5-min slots
    assert svc.db.files.find_one({"case_code": desk.code})["lead_mediator_id"] == desk.family

    [event] = outbox(svc, "session_scheduled")
    assert event["case_code"] == desk.code and event["category"] == "family"
    assert event["data"] == {
        "session_id": session_id, "kind": "on_site", "purpose": "mediation", "starts_at": "2026-11-25T01:00:00Z",
        "ends_at": "2026-11-25T03:00:00Z", "room_id": desk.room_a, "place": "第一调解室（二楼东侧）",
        "join_link": None, "mediator_id": desk.family, "departments": ["140106:women_federation"],
        "rescheduled": False}
    assert svc.db.audit_log.find_one({"action": "session.schedule"})["details"]["session_id"] == session_id
    assert metric(svc, "onestop_mediation_sessions_total", kind="on_site") == 1


def test_a_clashing_booking_gets_409_naming_what_clashes_and_changes_nothing(desk):
    svc = desk.svc
    first = created(book(desk), "session_id")
    room_clash = assert_error(book(desk, mediator_id=desk.labour, change_mediator=True, starts_at=at(25, 10),
                                   ends_at=at(25, 12)), 409, "conflict")
    assert room_clash["fields"] == {"room_id": [{"session_id": first, "starts_at": "2026-11-25T01:00:00Z",
                                                 "ends_at": "2026-11-25T03:00:00Z"}]}
    assert "room" in room_clash["message"]
    mediator_clash = assert_error(book(desk, room_id=desk.room_b, starts_at=at(25, 8, 30), ends_at=at(25, 9, 5)),
                                  409, "conflict")
    assert list(mediator_clash["fields"]) == ["mediator_id"]
    # the same moment written in UTC clashes just the same
    assert_error(book(desk, mediator_id=desk.labour, change_mediator=True, starts_at="2026-11-25T02:55:00Z",
                      ends_at="2026-11-25T03:30:00Z"), 409, "conflict")
    assert svc.db.sessions.count_documents({}) == 1
    assert svc.db.reservations.count_documents({}) == 48 and len(outbox(svc, "session_scheduled")) == 1
    assert metric(svc, "onestop_mediation_booking_conflicts_total", resource="room") == 2

    # half open: ending at 11:00 and starting at 11:00 share nothing, in the same room, with the same mediator
    created(book(desk, starts_at=at(25, 11), ends_at=at(25, 12)), "session_id")
    created(book(desk, starts_at=at(25, 8, 30), ends_at=at(25, 9)), "session_id")
    assert svc.db.sessions.count_documents({}) == 3


REFUSED = [
    ({"starts_at": at(25, 12), "ends_at": at(25, 15)}, 409, "mediator_id"),      # across lunch
    ({"starts_at": at(28, 9), "ends_at": at(28, 10)}, 409, "mediator_id"),       # Saturday
    ({"starts_at": at(25, 9, 3), "ends_at": at(25, 10)}, 400, "starts_at"),
    ({"starts_at": "2026-11-25T09:00:00", "ends_at": "2026-11-25T10:00:00"}, 400, "starts_at"),
    ({"starts_at": at(23, 9), "ends_at": at(23, 10)}, 400, "starts_at"),
    ({"expected_attendees": 12}, 409, "room_id"),
    ({"room_id": None}, 400, "room_id"),
    ({"room_id": "room-missing"}, 400, "room_id"),
    ({"room_id": "VIDEO"}, 400, "room_id"),
    ({"mediator_id": "PSYCHOLOGIST"}, 400, "mediator_id"),
    ({"purpose": "legal_aid"}, 400, "mediator_id"),
    ({"colour": "red"}, 400, "colour"),
]


def test_bookings_that_cannot_be_made_say_why_and_store_nothing(desk):
    for changes, status, field in REFUSED:
        resolved = {key: {"VIDEO": desk.video, "PSYCHOLOGIST": desk.psychologist}.get(value, value)
                    for key, value in changes.items()}
        error = assert_error(book(desk, **resolved), status, "conflict" if status == 409 else "validation_failed")
        assert field in error["fields"], (changes, error)
    assert desk.svc.db.sessions.count_documents({}) == 0 and desk.svc.db.reservations.count_documents({}) == 0
    assert outbox(desk.svc, "session_scheduled") == []


# -- lost races: the unique index, not the friendly check, refuses the double booking ----------------
def conflicts(svc, resource):
    return metric(svc, "onestop_mediation_booking_conflicts_total", resource=resource)


def assert_nothing_of_the_loser(svc, loser_code, winner_ids):
    assert set(svc.db.sessions.distinct("_id")) == set(winner_ids)
    assert set(svc.db.reservations.distinct("session_id")) <= set(winner_ids)
    assert [e["data"]["session_id"] for e in outbox(svc, "session_scheduled")] == list(winner_ids)
    assert svc.db.audit_log.count_documents({"action": "session.schedule"}) == len(winner_ids)
    assert svc.db.files.find_one({"case_code": loser_code})["lead_mediator_id"] is None


@pytest.mark.parametrize("resource", ["room_id", "mediator_id"])
def test_a_booking_that_loses_the_race_after_the_check_is_refused_by_the_index(desk, monkeypatch, resource):
    """Another desk books the same room (or mediator) after our check found it free and before we
    write: our reservations meet the unique index and the answer is 409 naming the winner."""
    svc = desk.svc
    rival_code = open_file(svc, case_code(sequence=40))["case_code"]
    rival_body = ({"mediator_id": desk.labour} if resource == "room_id" else {"room_id": desk.room_b})
    real_check = MediationRepository.reserved
    rival = {}

    def check_then_rival_books(store, resources, start, end, ignore_session=None):
        held = real_check(store, resources, start, end, ignore_session)
        if not rival:  # only our own first check; the rival's checks and our re-check run as they are
            rival["answer"] = None
            rival["answer"] = book(desk, code=rival_code, starts_at=at(25, 10), ends_at=at(25, 12), **rival_body)
        return held

    monkeypatch.setattr(MediationRepository, "reserved", check_then_rival_books)
    lost = assert_error(book(desk), 409, "conflict")
    winner = created(rival["answer"], "session_id")
    assert lost["fields"] == {resource: [{"session_id": winner, "starts_at": "2026-11-25T02:00:00Z",
                                          "ends_at": "2026-11-25T04:00:00Z"}]}
    assert "concurrent" in lost["message"] and ("room" if resource == "room_id" else "mediator") in lost["message"]
    assert conflicts(svc, "race") == 1 and conflicts(svc, "room") == conflicts(svc, "mediator") == 0
    assert_nothing_of_the_loser(svc, desk.code, [winner])


def rival_transaction(svc, desk, session_id, starts_at, ends_at):
    """Another replica's booking of room A, written in a transaction it has not committed yet."""
    session = svc.db.client.start_session()
    session.start_transaction()
    svc.db.sessions.insert_one({"_id": session_id, "starts_at": starts_at, "ends_at": ends_at,
                                "room_id": desk.room_a, "status": "scheduled"}, session=session)
    marks, moment = [], starts_at
    while moment < ends_at:
        marks.append(moment)
        moment += timedelta(minutes=5)
    svc.db.reservations.insert_many([{"resource": f"room:{desk.room_a}", "slot": mark, "session_id": session_id}
                                     for mark in marks], session=session)
    return session


def test_two_bookings_in_flight_at_once_collide_and_the_later_one_gets_409(desk, monkeypatch):
    """Both pass the check; the rival's transaction holds room A's slots uncommitted when ours
    writes (a write conflict), commits while we retry, and our retry meets the index."""
    svc = desk.svc
    starts, ends = local(25, 10).astimezone(UTC), local(25, 12).astimezone(UTC)
    rival = {}
    real_check, real_reserve = MediationRepository.reserved, MediationService._reserve
    write_errors = []

    def check_with_rival_in_flight(store, resources, start, end, ignore_session=None):
        held = real_check(store, resources, start, end, ignore_session)
        if not rival:  # only our own first check opens the rival
            rival["session"] = rival_transaction(svc, desk, "ses-rival", starts, ends)
        return held

    def reserve_and_let_the_rival_commit(service, uow, session):
        try:
            return real_reserve(service, uow, session)
        except BulkWriteError as exc:
            write_errors.append(exc.details["writeErrors"][0]["code"])
            raise
        except PyMongoError as exc:
            write_errors.append(exc.code)
            rival["session"].commit_transaction()
            raise

    monkeypatch.setattr(MediationRepository, "reserved", check_with_rival_in_flight)
    monkeypatch.setattr(MediationService, "_reserve", reserve_and_let_the_rival_commit)
    lost = assert_error(book(desk), 409, "conflict")
    assert write_errors == [112, 11000]  # a write conflict, then the committed rival's keys on the retry
    assert lost["fields"] == {"room_id": [{"session_id": "ses-rival", "starts_at": "2026-11-25T02:00:00Z",
                                           "ends_at": "2026-11-25T04:00:00Z"}]}
    assert conflicts(svc, "race") == 1 and conflicts(svc, "room") == 0
    assert svc.db.sessions.distinct("_id") == ["ses-rival"]
    assert svc.db.reservations.distinct("session_id") == ["ses-rival"]
    assert outbox(svc, "session_scheduled") == []
    assert svc.db.audit_log.count_documents({"action": "session.schedule"}) == 0
    assert svc.db.files.find_one({"case_code": desk.code})["lead_mediator_id"] is None


def test_a_booking_that_collides_until_its_retries_run_out_gets_409_and_stores_nothing(desk, monkeypatch):
    svc = desk.svc
    rival = {}
    real_check = MediationRepository.reserved

    def check_with_rival_in_flight(store, resources, start, end, ignore_session=None):
        held = real_check(store, resources, start, end, ignore_session)
        if not rival:
            rival["session"] = rival_transaction(svc, desk, "ses-rival", local(25, 10).astimezone(UTC),
                                                 local(25, 12).astimezone(UTC))
        return held

    monkeypatch.setattr(MediationRepository, "reserved", check_with_rival_in_flight)
    try:
        lost = assert_error(book(desk), 409, "conflict")
    finally:
        rival["session"].abort_transaction()
    # the rival never committed, so there is nothing to name: the answer says a concurrent booking took it
    assert lost["fields"] == {"starts_at": ["taken by a concurrent booking"]}
    assert conflicts(svc, "race") == 1
    assert svc.db.sessions.count_documents({}) == 0 and svc.db.reservations.count_documents({}) == 0
    assert outbox(svc, "session_scheduled") == []
    assert created(book(desk), "session_id")  # and the room is free again once the rival gave up


def test_concurrent_bookings_of_one_room_leave_exactly_one(desk):
    """Six desks at once (whichever way each loses, it is a 409 and counted once)."""
    svc = desk.svc
    mediators = [created(svc.post("/api/v1/mediators", mediator(name=f"调解员{n}"), auth=DISPATCHER), "mediator_id")
                 for n in range(6)]
    files = [open_file(svc, case_code(sequence=10 + n))["case_code"] for n in range(6)]
    requests_ = [dict(code=code, mediator_id=mediator_id, starts_at=at(26, 9, 5 * n), ends_at=at(26, 11))
                 for n, (code, mediator_id) in enumerate(zip(files, mediators, strict=True))]
    pool = eventlet.GreenPool(len(requests_))
    answers = list(pool.imap(lambda changes: book(desk, **changes), requests_))
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [201] + [409] * 5, [a.text for a in answers]
    [winner] = [a.json()["session_id"] for a in answers if a.status_code == 201]
    assert svc.db.sessions.count_documents({}) == 1
    assert set(svc.db.reservations.distinct("session_id")) == {winner}
    assert conflicts(svc, "room") + conflicts(svc, "race") == 5 and conflicts(svc, "mediator") == 0

    # and one mediator asked for by two rooms at once
    pair = [dict(room_id=desk.room_a, starts_at=at(27, 9), ends_at=at(27, 10)),
            dict(room_id=desk.room_b, starts_at=at(27, 9, 30), ends_at=at(27, 10, 30))]
    answers = list(eventlet.GreenPool(2).imap(lambda changes: book(desk, **changes), pair))
    assert sorted(a.status_code for a in answers) == [201, 409]
    assert svc.db.sessions.count_documents({"mediator_id": desk.family}) == 1

    # two first sessions of one file at once, at different times: both stand, one lead mediator
    code = open_file(svc, case_code(sequence=30))["case_code"]
    firsts = [dict(code=code, room_id=desk.room_a, starts_at=at(30, 9), ends_at=at(30, 10)),
              dict(code=code, room_id=desk.room_b, starts_at=at(30, 10), ends_at=at(30, 11))]
    answers = list(eventlet.GreenPool(2).imap(lambda changes: book(desk, **changes), firsts))
    assert [a.status_code for a in answers] == [201, 201], [a.text for a in answers]
    assert svc.db.files.find_one({"case_code": code})["lead_mediator_id"] == desk.family


def test_video_sessions_get_a_join_link(desk):
    svc = desk.svc
    generated = book(desk, kind="video", room_id=None, mediator_id=desk.family)
    session_id = created(generated, "session_id")
    assert generated.json()["join_link"] == f"https://video.onestop.example/join/{session_id}"
    assert generated.json()["place"] is None
    in_room = book(desk, kind="video", room_id=desk.video, starts_at=at(25, 14, 30), ends_at=at(25, 15, 30))
    assert in_room.json()["join_link"] == "https://video.taiyuan.example/rooms/yz-1"
    assert_error(book(desk, kind="video", room_id=desk.room_b, starts_at=at(26, 9), ends_at=at(26, 10)), 400,
                 "validation_failed")
    assert [e["data"]["kind"] for e in outbox(svc, "session_scheduled")] == ["video", "video"]
    assert metric(svc, "onestop_mediation_sessions_total", kind="video") == 2


def test_legal_aid_and_counselling_are_sessions_with_a_lawyer_or_psychologist(desk):
    svc = desk.svc
    aid = created(book(desk, purpose="legal_aid", mediator_id=desk.lawyer, room_id=desk.room_b), "session_id")
    talk = created(book(desk, purpose="counselling", mediator_id=desk.psychologist, kind="video", room_id=None,
                        starts_at=at(25, 14, 30), ends_at=at(25, 15, 30)), "session_id")
    assert svc.db.files.find_one({"case_code": desk.code})["lead_mediator_id"] is None  # no mediation yet
    clock(svc).freeze(local(25, 16).astimezone(UTC))
    for session_id in (aid, talk):
        answer = action(desk, session_id, "attendance",
                        {"parties": [{"party_id": "p-1", "role": "applicant", "present": True}]})
        assert answer.status_code == 200, answer.text
    view = svc.get(f"/api/v1/mediations/{desk.code}", auth=MEDIATOR).json()
    assert view["services"] == {"mediation": 0, "legal_aid": 1, "counselling": 1}
    assert {s["purpose"] for s in view["sessions"]} == {"legal_aid", "counselling"}
    assert metric(svc, "onestop_mediation_time_to_first_session_seconds_count") == 0


def test_the_first_sessions_mediator_keeps_the_case_until_handed_over(desk):
    svc = desk.svc
    created(book(desk), "session_id")
    refused = assert_error(book(desk, mediator_id=desk.labour, room_id=desk.room_b, starts_at=at(26, 9),
                                ends_at=at(26, 10)), 422, "invalid_transition")
    assert desk.family in refused["message"]
    created(book(desk, mediator_id=desk.labour, room_id=desk.room_b, starts_at=at(26, 9), ends_at=at(26, 10),
                 change_mediator=True), "session_id")
    stored = svc.db.files.find_one({"case_code": desk.code})
    assert stored["lead_mediator_id"] == desk.labour
    assert stored["history"][-1] == {**stored["history"][-1], "what": "lead_mediator", "previous": desk.family}


# -- reschedule, cancel, attendance -----------------------------------------------------------------
def test_a_rescheduled_session_frees_its_old_time_and_is_announced_again(desk):
    svc = desk.svc
    session_id = created(book(desk), "session_id")
    moved = action(desk, session_id, "reschedule", {"starts_at": at(26, 14, 30), "ends_at": at(26, 16, 30),
                                                    "room_id": desk.room_b, "reason": "申请人要求改期"})
    assert moved.status_code == 200, moved.text
    stored = svc.db.sessions.find_one({"_id": session_id})
    assert stored["room_id"] == desk.room_b and stored["starts_at"] == local(26, 14, 30).astimezone(UTC)
    assert stored["version"] == 2 and stored["history"][0]["what"] == "rescheduled"
    assert svc.db.reservations.count_documents({"session_id": session_id, "resource": f"room:{desk.room_a}"}) == 0
    created(book(desk, mediator_id=desk.labour, change_mediator=True), "session_id")  # the old slot is free
    events = outbox(svc, "session_scheduled")
    assert [e["data"]["rescheduled"] for e in events] == [False, True, False]
    assert events[1]["data"]["session_id"] == session_id and events[1]["data"]["room_id"] == desk.room_b

    clash = assert_error(action(desk, session_id, "reschedule", {"starts_at": at(25, 9), "ends_at": at(25, 10),
                                                                 "room_id": desk.room_a}), 409, "conflict")
    assert "room_id" in clash["fields"]
    assert svc.db.sessions.find_one({"_id": session_id})["room_id"] == desk.room_b


def test_a_cancelled_session_frees_its_room_and_tells_notify(desk):
    svc = desk.svc
    session_id = created(book(desk), "session_id")
    assert_error(action(desk, session_id, "cancel", {"reason": "because"}), 400, "validation_failed")
    cancelled = action(desk, session_id, "cancel", {"reason": "party_request", "note": "被申请人住院"})
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert svc.db.reservations.count_documents({}) == 0
    [event] = outbox(svc, "session_cancelled")
    assert event["data"] == {"session_id": session_id, "kind": "on_site", "purpose": "mediation",
                             "starts_at": "2026-11-25T01:00:00Z", "reason": "party_request",
                             "departments": ["140106:women_federation"]}
    assert "住院" not in str(event) and "住院" not in str(list(svc.db.audit_log.find()))
    assert_error(action(desk, session_id, "cancel", {"reason": "other"}), 422, "invalid_transition")
    assert_error(action(desk, session_id, "reschedule", {"starts_at": at(26, 9), "ends_at": at(26, 10)}), 422,
                 "invalid_transition")
    assert_error(action(desk, "ses-nope", "cancel", {"reason": "other"}), 404, "not_found")
    created(book(desk, mediator_id=desk.family), "session_id")


def test_attendance_is_recorded_once_the_session_has_begun(desk):
    svc = desk.svc
    session_id = created(book(desk), "session_id")
    present = {"parties": [{"party_id": "p-1", "role": "applicant", "present": True},
                           {"party_id": "p-2", "role": "respondent", "present": True, "represented_by": "lawyer"}],
               "departments": [{"unit": "140106:women_federation", "present": True}]}
    assert_error(action(desk, session_id, "attendance", present), 422, "invalid_transition")
    clock(svc).freeze(local(25, 9, 10).astimezone(UTC))
    recorded = action(desk, session_id, "attendance", present)
    assert recorded.status_code == 200 and recorded.json()["status"] == "held"
    stored = svc.db.sessions.find_one({"_id": session_id})
    assert stored["attendance"]["departments"] == [{"unit": "140106:women_federation", "present": True}]
    assert stored["attendance"]["parties"][1]["represented_by"] == "lawyer"
    assert svc.db.files.find_one({"case_code": desk.code})["first_session_at"] == local(25, 9).astimezone(UTC)
    assert metric(svc, "onestop_mediation_time_to_first_session_seconds_count") == 1
    assert_error(action(desk, session_id, "attendance", present), 422, "invalid_transition")

    absent = created(book(desk, starts_at=at(25, 14, 30), ends_at=at(25, 15)), "session_id")
    clock(svc).freeze(local(25, 15).astimezone(UTC))
    nobody = action(desk, absent, "attendance", {"parties": [{"role": "respondent", "present": False}]})
    assert nobody.json()["status"] == "no_show"
    assert metric(svc, "onestop_mediation_time_to_first_session_seconds_count") == 1


# -- reminders --------------------------------------------------------------------------------------
def test_reminders_go_out_a_day_and_two_hours_before_and_never_for_a_cancelled_session(desk):
    svc = desk.svc
    kept = created(book(desk, starts_at=at(27, 9), ends_at=at(27, 10)), "session_id")
    dropped = created(book(desk, room_id=desk.room_b, starts_at=at(27, 14, 30), ends_at=at(27, 15, 30)),
                      "session_id")
    assert outbox(svc, "session_reminder") == []
    starts = local(27, 9).astimezone(UTC)

    clock(svc).freeze(starts - timedelta(hours=23))
    wait_for(lambda: outbox(svc, "session_reminder"), message="the day-before reminder")
    assert action(desk, dropped, "cancel", {"reason": "mediator_unavailable"}).status_code == 200
    clock(svc).freeze(starts - timedelta(hours=1, minutes=50))
    wait_for(lambda: len(outbox(svc, "session_reminder")) == 2, message="the two-hours reminder")
    clock(svc).freeze(local(27, 14).astimezone(UTC))  # past when the cancelled one's reminders were due
    wait_for(lambda: svc.db.sessions.find_one({"_id": kept})["next_reminder_at"] is None, message="the plan done")
    # the sweeps that finished the kept session's plan passed the cancelled one's due times
    assert svc.db.sessions.find_one({"_id": dropped})["next_reminder_at"] is None

    reminders = outbox(svc, "session_reminder")
    assert [(e["data"]["session_id"], e["data"]["reminder"]) for e in reminders] == [
        (kept, "day_before"), (kept, "two_hours_before")]
    assert reminders[0]["data"]["place"] == "第一调解室（二楼东侧）"
    assert reminders[0]["data"]["starts_at"] == "2026-11-27T01:00:00Z"
    assert metric(svc, "onestop_mediation_reminders_total", reminder="day_before") == 1
    assert svc.db.audit_log.count_documents({"action": "session.remind"}) == 2


def test_the_service_documents_its_routes(desk):
    spec = desk.svc.get("/api/v1/openapi.json").json()
    for path in ("/api/v1/rooms", "/api/v1/rooms/{room_id}", "/api/v1/mediators", "/api/v1/mediations/{code}",
                 "/api/v1/mediations/{code}/sessions", "/api/v1/mediations/{code}/outcome",
                 "/api/v1/mediations/{code}/agreement", "/api/v1/followups/{followup_id}/visits"):
        assert path in spec["paths"], path
    assert {"get", "patch", "delete"} <= set(spec["paths"]["/api/v1/rooms/{room_id}"])
    assert "terms" in spec["components"]["schemas"]["Outcome"]["properties"]
