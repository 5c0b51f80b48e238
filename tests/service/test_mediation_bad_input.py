"""Bad input on every mediation route is a JSON 4xx naming what is wrong and changes nothing:
wrong types, huge values, times that leave the calendar once in UTC, text no store can hold,
empty or non-object bodies, `$` keys."""

import json
from datetime import UTC
from types import SimpleNamespace

import pytest
import requests

from services.mediation.service import MediationService
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
    mediator,
    open_file,
    room,
)

ADMIN = {"roles": ("admin",), "jurisdictions": ("140106",)}
# the same instants as 9999-12-31T23:59:59Z + 14 h and 0001-01-01T00:00Z − 14 h: outside datetime's range in UTC
PAST_THE_END = "9999-12-31T23:59:59-14:00"
BEFORE_THE_START = "0001-01-01T00:00:00+14:00"
LONE_SURROGATE = "\ud800"
COLLECTIONS = ("rooms", "mediators", "files", "sessions", "reservations", "agreements", "followups", "outbox",
               "audit_log")


@pytest.fixture
def desk(start_service):
    """A room, a mediator, a family case with one session held, and one concluded case on the follow-up list."""
    IntakeStub.calls.clear()
    svc = start_service(MediationService)
    start_service(IntakeStub)
    freeze(svc)
    desk = SimpleNamespace(svc=svc)
    desk.room = created(svc.post("/api/v1/rooms", room(), auth=DISPATCHER), "room_id")
    desk.mediator = created(svc.post("/api/v1/mediators", mediator(), auth=DISPATCHER), "mediator_id")
    desk.code = open_file(svc)["case_code"]
    desk.session = created(svc.post(f"/api/v1/mediations/{desk.code}/sessions", {
        "kind": "on_site", "room_id": desk.room, "mediator_id": desk.mediator,
        "starts_at": at(25, 9), "ends_at": at(25, 11)}, auth=DISPATCHER), "session_id")
    clock(svc).freeze(local(25, 10).astimezone(UTC))
    assert svc.post(f"/api/v1/mediations/{desk.code}/sessions/{desk.session}/attendance", {
        "parties": [{"party_id": "p-1", "role": "applicant", "present": True}]}, auth=DISPATCHER).status_code == 200
    desk.ahead = created(svc.post(f"/api/v1/mediations/{desk.code}/sessions", {
        "kind": "on_site", "room_id": desk.room, "mediator_id": desk.mediator,
        "starts_at": at(26, 9), "ends_at": at(26, 10)}, auth=DISPATCHER), "session_id")
    desk.closed = open_file(svc, case_code("neighbour", 2), category="neighbour")["case_code"]
    assert svc.post(f"/api/v1/mediations/{desk.closed}/outcome", {"type": "withdrawn", "reason": "other"},
                    auth=DISPATCHER).status_code == 201
    desk.followup = svc.db.followups.find_one({})["_id"]
    return desk


def snapshot(svc) -> dict:
    """The service's state, and which events and audit records exist (the relay's bookkeeping
    on the outbox changes by itself)."""
    state = {name: sorted(map(repr, svc.db[name].find()))
             for name in COLLECTIONS if name not in ("outbox", "audit_log")}
    state.update({name: sorted(svc.db[name].distinct("_id")) for name in ("outbox", "audit_log")})
    return state


def send(svc, method, path, body=None, raw=None, params=None):
    headers = {**svc.headers(**ADMIN), "Content-Type": "application/json"}
    data = raw if raw is not None else (json.dumps(body) if body is not None else None)
    return requests.request(method, svc.base_url + path, data=data, params=params, headers=headers, timeout=10)


def assert_refused(response, status=400, field=None):
    assert response.status_code == status, (response.status_code, response.text)
    body = response.json()
    assert set(body) == {"error", "message", "fields"}, body
    if field is not None:
        assert any(key == field or key.startswith(field + ".") for key in body["fields"]), body["fields"]
    return body


def good_bodies(desk) -> dict:
    """One valid body per writing route (none of them is sent as it is)."""
    code = desk.code
    return {
        ("POST", "/api/v1/rooms"): room(),
        ("PATCH", f"/api/v1/rooms/{desk.room}"): {"name": "第三调解室"},
        ("POST", "/api/v1/mediators"): mediator(),
        ("PATCH", f"/api/v1/mediators/{desk.mediator}"): {"working_hours": [
            {"days": ["mon"], "start": "09:00", "end": "12:00"}]},
        ("POST", f"/api/v1/mediations/{code}/sessions"): {
            "kind": "on_site", "room_id": desk.room, "mediator_id": desk.mediator,
            "starts_at": at(27, 9), "ends_at": at(27, 10)},
        ("POST", f"/api/v1/mediations/{code}/sessions/{desk.ahead}/reschedule"): {
            "starts_at": at(27, 14, 30), "ends_at": at(27, 15, 30)},
        ("POST", f"/api/v1/mediations/{code}/sessions/{desk.ahead}/cancel"): {"reason": "other"},
        ("POST", f"/api/v1/mediations/{code}/sessions/{desk.ahead}/attendance"): {
            "parties": [{"party_id": "p-1", "role": "applicant", "present": True}]},
        ("POST", f"/api/v1/mediations/{code}/outcome"): {
            "type": "agreement", "terms": ["双方自愿离婚。"], "confirmation_requested": True,
            "performance_deadline": "2026-12-31", "amount": 100},
        ("POST", f"/api/v1/followups/{desk.followup}/visits"): {"state": "stable", "satisfaction": 4},
    }


NOT_AN_OBJECT = ["", "null", "[]", '"text"', "42", "{", '{"a": 1', "[" * 5000, "\xff\xfe", '{"$where": "1"}',
                 '{"name": {"$gt": ""}}']
# wrong whatever the field (every text field is shorter than 20000 characters)
WRONG_ANYWHERE = [{}, [{}], 10**400, 1e308, -1, {"$gt": ""}, LONE_SURROGATE, "x" * 20000]
MAY_BE_EMPTY = {"unit", "location", "organisation", "satisfaction", "working_hours", "equipment", "specialities",
                "performance_deadline", "amount"}
TIMES = {"starts_at", "ends_at", "visited_at"}


def wrong_values(key: str, good: object) -> list:
    values = list(WRONG_ANYWHERE)
    values += [] if isinstance(good, list) else [[]]
    values += [] if isinstance(good, bool) else [True]
    values += [] if key in MAY_BE_EMPTY else [None, ""]
    values += [PAST_THE_END, BEFORE_THE_START, "2026-11-27T09:00:00", "2026-02-30T09:00:00Z"] if key in TIMES else []
    values += ["0001-01-01", "9999-99-99", "2026-11-24T00:00:00Z"] if key == "performance_deadline" else []
    return values


def test_no_route_answers_500_to_a_bad_body_and_none_changes_anything(desk):
    svc = desk.svc
    before = snapshot(svc)
    for (method, path), good in good_bodies(desk).items():
        for raw in NOT_AN_OBJECT:
            assert_refused(send(svc, method, path, raw=raw))
        for key in good:
            for value in wrong_values(key, good[key]):
                answer = send(svc, method, path, {**good, key: value})
                assert 400 <= answer.status_code < 500, (method, path, key, repr(value)[:40], answer.text)
                assert_refused(answer, answer.status_code)
        assert_refused(send(svc, method, path, {**good, "unexpected": 1}), field="unexpected")
    assert snapshot(svc) == before


@pytest.mark.parametrize("moment", [PAST_THE_END, BEFORE_THE_START])
def test_times_that_leave_the_calendar_in_utc_are_refused_where_times_are_taken(desk, moment):
    svc = desk.svc
    before = snapshot(svc)
    code = desk.code
    writes = [
        ("POST", f"/api/v1/mediations/{code}/sessions", {"kind": "video", "mediator_id": desk.mediator,
                                                          "starts_at": moment, "ends_at": at(27, 10)}, "starts_at"),
        ("POST", f"/api/v1/mediations/{code}/sessions", {"kind": "video", "mediator_id": desk.mediator,
                                                          "starts_at": at(27, 9), "ends_at": moment}, "ends_at"),
        ("POST", f"/api/v1/mediations/{code}/sessions/{desk.ahead}/reschedule",
         {"starts_at": moment, "ends_at": at(27, 10)}, "starts_at"),
        ("POST", f"/api/v1/followups/{desk.followup}/visits", {"state": "stable", "visited_at": moment},
         "visited_at"),
    ]
    for method, path, body, field in writes:
        assert_refused(send(svc, method, path, body), field=field)
    reads = [
        ("/api/v1/rooms", {"free_from": moment, "free_to": at(27, 10)}, "free_from"),
        ("/api/v1/rooms", {"free_from": at(27, 9), "free_to": moment}, "free_to"),
        (f"/api/v1/mediations/{code}/suggestions", {"starts_at": moment, "ends_at": at(27, 10)}, "starts_at"),
        (f"/api/v1/mediations/{code}/suggestions", {"starts_at": at(27, 9), "ends_at": moment}, "ends_at"),
        ("/api/v1/followups", {"due_before": moment}, "due_before"),
    ]
    for path, params, field in reads:
        assert_refused(send(svc, "GET", path, params=params), field=field)
    assert snapshot(svc) == before


def test_the_calendars_own_ends_are_answered_not_failed(desk):
    """9999-12-31 and 0001-01-01 in UTC are real times: a listing takes them, a booking says why not."""
    svc = desk.svc
    assert send(svc, "GET", "/api/v1/followups", params={"due_before": "9999-12-31T23:59:59Z"}).json()[
        "count"] == 1
    assert send(svc, "GET", "/api/v1/followups", params={"due_before": "0001-01-01T00:00:00Z"}).json()[
        "count"] == 0
    free = send(svc, "GET", "/api/v1/rooms", params={"free_from": "9999-12-31T23:50:00Z",
                                                     "free_to": "9999-12-31T23:55:00+00:00"})
    assert [item["room_id"] for item in free.json()["items"]] == [desk.room]
    for starts_at, ends_at in (("9999-12-31T23:00:00Z", "9999-12-31T23:55:00Z"),
                               ("0001-01-01T00:00:00Z", "0001-01-01T01:00:00Z")):
        assert_refused(send(svc, "POST", f"/api/v1/mediations/{desk.code}/sessions", {
            "kind": "video", "mediator_id": desk.mediator, "starts_at": starts_at, "ends_at": ends_at}),
            field="starts_at")
    # an offset other than Beijing's names the same instant: 09:00+08:00 is 01:00Z is 06:30+05:30
    booked = send(svc, "POST", f"/api/v1/mediations/{desk.code}/sessions", {
        "kind": "video", "mediator_id": desk.mediator, "starts_at": "2026-11-27T06:30:00+05:30",
        "ends_at": "2026-11-27T02:00:00Z"})
    assert booked.status_code == 201, booked.text
    assert booked.json()["starts_at"] == "2026-11-27T01:00:00Z"
    assert_refused(send(svc, "POST", f"/api/v1/mediations/{desk.code}/sessions", {
        "kind": "video", "mediator_id": desk.mediator, "starts_at": "2026-11-27T09:00:00+25:00",
        "ends_at": "2026-11-27T10:00:00+08:00"}), field="starts_at")


def test_text_no_store_can_hold_is_refused_naming_the_field(desk):
    svc = desk.svc
    before = snapshot(svc)
    cases = [
        ("POST", "/api/v1/rooms", room(equipment=["投屏", LONE_SURROGATE]), "equipment.1"),
        ("PATCH", f"/api/v1/rooms/{desk.room}", {"location": LONE_SURROGATE}, "location"),
        ("POST", "/api/v1/mediators", mediator(organisation=LONE_SURROGATE), "organisation"),
        ("PATCH", f"/api/v1/mediators/{desk.mediator}", {"name": LONE_SURROGATE}, "name"),
        ("POST", f"/api/v1/mediations/{desk.code}/sessions", {
            "kind": "on_site", "room_id": LONE_SURROGATE, "mediator_id": desk.mediator,
            "starts_at": at(27, 9), "ends_at": at(27, 10)}, "room_id"),
        ("POST", f"/api/v1/mediations/{desk.code}/sessions/{desk.ahead}/reschedule", {
            "starts_at": at(27, 14, 30), "ends_at": at(27, 15, 30), "reason": "改期" + LONE_SURROGATE}, "reason"),
        ("POST", f"/api/v1/mediations/{desk.code}/outcome", {
            "type": "agreement", "terms": ["双方自愿离婚。", LONE_SURROGATE], "confirmation_requested": True},
         "terms.1"),
        ("POST", f"/api/v1/followups/{desk.followup}/visits", {"state": "stable", "notes": LONE_SURROGATE},
         "notes"),
    ]
    for method, path, body, field in cases:
        assert_refused(send(svc, method, path, body), field=field)
    assert snapshot(svc) == before and IntakeStub.calls == []


def test_a_partial_change_of_working_hours_is_checked_not_failed(desk):
    svc = desk.svc
    before = snapshot(svc)
    for windows in ([{}], [{"days": ["mon"], "start": "09:00"}], [{"days": ["mon"], "start": "12:00", "end": "09:00"}]):
        assert_refused(send(svc, "PATCH", f"/api/v1/mediators/{desk.mediator}", {"working_hours": windows}),
                       field="working_hours")
    assert snapshot(svc) == before


def test_a_visit_cannot_predate_its_follow_up(desk):
    svc = desk.svc
    answer = svc.post(f"/api/v1/followups/{desk.followup}/visits",
                      {"state": "stable", "visited_at": "2026-11-20T10:00:00+08:00"}, auth=MEDIATOR)
    assert "before the follow-up began" in assert_refused(answer, field="visited_at")["fields"]["visited_at"][0]
    assert svc.db.followups.find_one({"_id": desk.followup})["visit_count"] == 0
    later = svc.post(f"/api/v1/followups/{desk.followup}/visits", {"state": "stable"}, auth=MEDIATOR)
    assert later.status_code == 201, later.text


def test_bad_paths_and_queries_are_answered(desk):
    svc = desk.svc
    for path in ("/api/v1/rooms/" + "x" * 3000, "/api/v1/rooms/%00", "/api/v1/mediators/%24gt",
                 "/api/v1/mediations/" + "x" * 300, "/api/v1/mediations/%ED%A0%80", "/api/v1/followups/%F0%9F%98%80",
                 f"/api/v1/mediations/{desk.code}/sessions/%00/cancel"):
        for method in ("GET", "POST", "DELETE"):
            answer = send(svc, method, path, {"reason": "other"})
            assert 400 <= answer.status_code < 500, (method, path, answer.text)
            assert_refused(answer, answer.status_code)
    for path, keys in (("/api/v1/rooms", ("kind", "active", "limit", "offset", "jurisdiction")),
                       ("/api/v1/mediators", ("type", "speciality", "active", "limit")),
                       ("/api/v1/mediations", ("status", "limit", "offset", "jurisdiction")),
                       (f"/api/v1/mediations/{desk.code}/suggestions", ("purpose", "limit", "starts_at")),
                       ("/api/v1/followups", ("status", "due_before", "limit"))):
        for key in keys:
            for value in ("", "x", "-1", "1e400", "99999999999999999999999", "nan", "\x00", "2026-11-25T09:00:00"):
                assert_refused(send(svc, "GET", path, params={key: value}), field=key)
        assert_refused(send(svc, "GET", path, params={"$where": "1"}))
