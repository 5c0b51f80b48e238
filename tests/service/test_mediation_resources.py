"""Rooms and mediators over HTTP: CRUD scoped by jurisdiction, bad input, retirement."""

import pytest
import requests

from services.mediation.service import MediationService
from tests.support.mediation_samples import (
    DISPATCHER,
    MEDIATOR,
    at,
    created,
    freeze,
    mediator,
    open_file,
    room,
    video_room,
)

CITY = {"roles": ("dispatcher",), "jurisdictions": ("140100",)}
OTHER_COUNTY = {"roles": ("dispatcher",), "jurisdictions": ("140105",)}


@pytest.fixture
def svc(start_service):
    running = start_service(MediationService)
    freeze(running)
    return running


def assert_error(response, status, code):
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "message", "fields"} and body["error"] == code
    return body


def patch(svc, path, body, auth):
    return requests.patch(svc.base_url + path, json=body, headers=svc.headers(**auth), timeout=10)


def delete(svc, path, auth):
    return requests.delete(svc.base_url + path, headers=svc.headers(**auth), timeout=10)


def test_rooms_are_created_stored_audited_and_listed_within_scope(svc):
    on_site = created(svc.post("/api/v1/rooms", room(), auth=DISPATCHER), "room_id")
    video = created(svc.post("/api/v1/rooms", video_room(), auth=DISPATCHER), "room_id")
    township = created(svc.post("/api/v1/rooms", room(name="桥东街道调解室", jurisdiction="140106001"),
                                auth=DISPATCHER), "room_id")
    elsewhere = created(svc.post("/api/v1/rooms", room(jurisdiction="140105"), auth=OTHER_COUNTY), "room_id")

    stored = svc.db.rooms.find_one({"_id": on_site})
    assert stored["capacity"] == 8 and stored["equipment"] == ["录音录像", "投屏"] and stored["active"] is True
    audit = svc.db.audit_log.find_one({"action": "room.create", "details.room_id": video})
    assert audit["actor"]["roles"] == ["dispatcher"]

    listed = svc.get("/api/v1/rooms", auth=DISPATCHER).json()
    assert {item["room_id"] for item in listed["items"]} == {on_site, video, township}
    assert {item["room_id"] for item in svc.get("/api/v1/rooms", auth=CITY).json()["items"]} == {
        on_site, video, township, elsewhere}
    only_video = svc.get("/api/v1/rooms?kind=video", auth=MEDIATOR).json()["items"]
    assert [item["room_id"] for item in only_video] == [video] and only_video[0]["join_link"].startswith("https://")
    in_township = svc.get("/api/v1/rooms?jurisdiction=140106001", auth=DISPATCHER).json()["items"]
    assert [item["room_id"] for item in in_township] == [township]
    assert_error(svc.get("/api/v1/rooms?jurisdiction=140105", auth=DISPATCHER), 403, "jurisdiction_forbidden")
    assert svc.get(f"/api/v1/rooms/{on_site}", auth=MEDIATOR).json()["name"] == "第一调解室"
    assert_error(svc.get(f"/api/v1/rooms/{elsewhere}", auth=DISPATCHER), 404, "not_found")


@pytest.mark.parametrize("body,status,code,field", [
    (room(capacity=None), 400, "validation_failed", "capacity"),
    (video_room(join_link=None), 400, "validation_failed", "join_link"),
    (video_room(join_link="http://insecure.example/x"), 400, "validation_failed", "join_link"),
    (room(kind="hall"), 400, "validation_failed", "kind"),
    (room(jurisdiction="1401"), 400, "validation_failed", "jurisdiction"),
    (room(colour="blue"), 400, "validation_failed", "colour"),
    (room(capacity="8"), 400, "validation_failed", "capacity"),
    (room(jurisdiction="140105"), 403, "jurisdiction_forbidden", None),
])
def test_bad_rooms_get_their_error_and_store_nothing(svc, body, status, code, field):
    error = assert_error(svc.post("/api/v1/rooms", body, auth=DISPATCHER), status, code)
    if field:
        assert field in error["fields"]
    assert svc.db.rooms.count_documents({}) == 0


def test_only_dispatchers_manage_rooms_and_a_token_is_needed(svc):
    assert_error(svc.post("/api/v1/rooms", room(), auth=MEDIATOR), 403, "role_forbidden")
    assert_error(svc.post("/api/v1/rooms", room()), 401, "token_missing")
    assert_error(svc.get("/api/v1/rooms"), 401, "token_missing")
    assert svc.db.rooms.count_documents({}) == 0


def test_a_room_is_changed_with_patch_and_checked_as_a_whole(svc):
    room_id = created(svc.post("/api/v1/rooms", room(), auth=DISPATCHER), "room_id")
    changed = patch(svc, f"/api/v1/rooms/{room_id}", {"capacity": 12, "equipment": ["远程视频"]}, DISPATCHER)
    assert changed.status_code == 200, changed.text
    assert changed.json()["capacity"] == 12
    assert svc.db.rooms.find_one({"_id": room_id})["equipment"] == ["远程视频"]
    assert svc.db.audit_log.find_one({"action": "room.update"})["details"]["fields"] == ["capacity", "equipment"]
    # becoming a video room without a link leaves it invalid
    assert "join_link" in assert_error(patch(svc, f"/api/v1/rooms/{room_id}", {"kind": "video"}, DISPATCHER),
                                       400, "validation_failed")["fields"]
    assert_error(patch(svc, f"/api/v1/rooms/{room_id}", {}, DISPATCHER), 400, "validation_failed")
    assert_error(patch(svc, f"/api/v1/rooms/{room_id}", {"jurisdiction": "140105"}, DISPATCHER), 403,
                 "jurisdiction_forbidden")
    assert svc.db.rooms.find_one({"_id": room_id})["kind"] == "on_site"


def test_a_room_with_sessions_ahead_cannot_be_retired(svc):
    room_id = created(svc.post("/api/v1/rooms", room(), auth=DISPATCHER), "room_id")
    spare = created(svc.post("/api/v1/rooms", room(name="第二调解室"), auth=DISPATCHER), "room_id")
    mediator_id = created(svc.post("/api/v1/mediators", mediator(), auth=DISPATCHER), "mediator_id")
    envelope = open_file(svc)
    created(svc.post(f"/api/v1/mediations/{envelope['case_code']}/sessions", {
        "kind": "on_site", "room_id": room_id, "mediator_id": mediator_id,
        "starts_at": at(25, 9), "ends_at": at(25, 10)}, auth=DISPATCHER), "session_id")

    assert_error(delete(svc, f"/api/v1/rooms/{room_id}", DISPATCHER), 409, "conflict")
    assert_error(patch(svc, f"/api/v1/rooms/{room_id}", {"active": False}, DISPATCHER), 409, "conflict")
    assert_error(delete(svc, f"/api/v1/mediators/{mediator_id}", DISPATCHER), 409, "conflict")
    assert svc.db.rooms.find_one({"_id": room_id})["active"] is True

    retired = delete(svc, f"/api/v1/rooms/{spare}", DISPATCHER)
    assert retired.status_code == 200 and retired.json()["active"] is False
    assert svc.db.rooms.find_one({"_id": spare})["active"] is False
    listed = svc.get("/api/v1/rooms?active=true", auth=DISPATCHER).json()["items"]
    assert [item["room_id"] for item in listed] == [room_id]


def test_free_rooms_are_those_without_a_reservation_in_the_window(svc):
    first = created(svc.post("/api/v1/rooms", room(), auth=DISPATCHER), "room_id")
    second = created(svc.post("/api/v1/rooms", room(name="第二调解室"), auth=DISPATCHER), "room_id")
    mediator_id = created(svc.post("/api/v1/mediators", mediator(), auth=DISPATCHER), "mediator_id")
    envelope = open_file(svc)
    created(svc.post(f"/api/v1/mediations/{envelope['case_code']}/sessions", {
        "kind": "on_site", "room_id": first, "mediator_id": mediator_id,
        "starts_at": at(25, 9), "ends_at": at(25, 10)}, auth=DISPATCHER), "session_id")

    def free(start, end):
        response = svc.get("/api/v1/rooms", params={"free_from": start, "free_to": end, "kind": "on_site"},
                           auth=DISPATCHER)
        assert response.status_code == 200, response.text
        return {item["room_id"] for item in response.json()["items"]}

    assert free(at(25, 9, 30), at(25, 11)) == {second}
    assert free(at(25, 9, 57), at(25, 10, 30)) == {second}  # inside the last booked slot
    assert free(at(25, 10), at(25, 11)) == {first, second}   # back to back is free
    assert free("2026-11-25T00:00:00Z", "2026-11-25T01:00:00Z") == {first, second}  # 08:00-09:00 in Taiyuan
    assert_error(svc.get("/api/v1/rooms", params={"free_from": at(25, 9)}, auth=DISPATCHER), 400,
                 "validation_failed")


def test_mediators_are_created_filtered_changed_and_retired(svc):
    family = created(svc.post("/api/v1/mediators", mediator(), auth=DISPATCHER), "mediator_id")
    lawyer = created(svc.post("/api/v1/mediators", mediator(
        name="赵律师", type="lawyer", specialities=["labour", "family"], unit=None, organisation="迎泽区法律援助中心",
        working_hours=[{"days": ["mon", "wed", "fri"], "start": "09:00", "end": "17:00"}]), auth=DISPATCHER),
        "mediator_id")
    elsewhere = created(svc.post("/api/v1/mediators", mediator(name="外区调解员", jurisdictions=["140105"]),
                                 auth=OTHER_COUNTY), "mediator_id")
    assert_error(svc.get(f"/api/v1/mediators/{elsewhere}", auth=MEDIATOR), 404, "not_found")
    assert svc.get(f"/api/v1/mediators/{elsewhere}", auth=CITY).json()["name"] == "外区调解员"

    listed = svc.get("/api/v1/mediators", auth=MEDIATOR).json()["items"]
    assert {item["mediator_id"] for item in listed} == {family, lawyer}
    assert [m["mediator_id"] for m in svc.get("/api/v1/mediators?type=lawyer", auth=DISPATCHER).json()["items"]] == [
        lawyer]
    assert {m["mediator_id"] for m in svc.get("/api/v1/mediators?speciality=family", auth=DISPATCHER).json()[
        "items"]} == {family, lawyer}
    stored = svc.db.mediators.find_one({"_id": lawyer})
    assert stored["working_hours"][0]["days"] == ["mon", "wed", "fri"]

    assert patch(svc, f"/api/v1/mediators/{family}", {"max_open_files": 5}, DISPATCHER).json()["max_open_files"] == 5
    assert_error(patch(svc, f"/api/v1/mediators/{family}", {"jurisdictions": ["140105"]}, DISPATCHER), 403,
                 "jurisdiction_forbidden")
    assert svc.db.mediators.find_one({"_id": family})["jurisdictions"] == ["140106"]
    retired = delete(svc, f"/api/v1/mediators/{lawyer}", DISPATCHER)
    assert retired.status_code == 200 and svc.db.mediators.find_one({"_id": lawyer})["active"] is False
    assert svc.get(f"/api/v1/mediators/{lawyer}", auth=MEDIATOR).json()["active"] is False


@pytest.mark.parametrize("body,field", [
    (mediator(type="shaman"), "type"),
    (mediator(specialities=["astrology"]), "specialities"),
    (mediator(jurisdictions=[]), "jurisdictions"),
    (mediator(working_hours=[{"days": ["mon"], "start": "17:00", "end": "09:00"}]), "working_hours"),
    (mediator(working_hours=[{"days": ["funday"], "start": "09:00", "end": "17:00"}]), "working_hours"),
    (mediator(**{"$where": "1"}), "$where"),
])
def test_bad_mediators_are_refused(svc, body, field):
    assert field in assert_error(svc.post("/api/v1/mediators", body, auth=DISPATCHER), 400,
                                 "validation_failed")["fields"]
    assert svc.db.mediators.count_documents({}) == 0
