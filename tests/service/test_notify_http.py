"""Notify's HTTP routes and the behaviours around them: the delivery log (scoped, masked,
filtered), the inbox (its owner's), bad input, and what happens without a gateway."""

import json
from datetime import timedelta

import pytest
import requests

from tests.support.infra import wait_for
from tests.support.notify_fakes import StubIntake
from tests.support.notify_samples import APPLICANT_PHONE, CASE, COMPLETE, NOW, envelope
from tests.support.notify_world import DISPATCHER, notify_world

APPLICANT = "party-applicant-1"
OWNER = {"roles": (), "jurisdictions": ("140106",), "sub": APPLICANT}


@pytest.fixture
def world(start_service):
    with notify_world(start_service) as running:
        yield running


@pytest.fixture
def delivered(world):
    world.publish(envelope("intake", "case_registered"))
    world.publish(envelope("routing", "departments_summoned"))
    world.settled(10, case_code=CASE["case_code"])
    return world


def assert_error(response, status, code):
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "message", "fields"} and body["error"] == code
    return body


def test_the_log_is_filtered_scoped_and_masked(delivered):
    log = delivered.log()
    assert log["total"] == 10 and len(log["items"]) == 10
    assert {(n["kind"], n["status"]) for n in log["items"]} == {("case_received", "sent"), ("summons", "sent")}
    assert delivered.log(channel="sms")["total"] == 3
    assert delivered.log(kind="summons", channel="email")["total"] == 2
    assert delivered.log(status="failed")["total"] == 0
    assert delivered.log("140106261123lb00427")["total"] == 10  # as people type it
    assert delivered.log(auth={"roles": ("leader",), "jurisdictions": ("140100",)})["total"] == 10
    assert delivered.log(auth={"roles": ("dispatcher",), "jurisdictions": ("140105",)})["total"] == 0

    text = json.dumps(log, ensure_ascii=False)
    assert APPLICANT_PHONE not in text and "王建国" not in text
    sms = next(n for n in log["items"] if n["channel"] == "sms" and n["recipient"]["kind"] == "party")
    assert sms["recipient"] == {"kind": "party", "id": APPLICANT, "unit_id": None, "role": "applicant",
                                "display": "王**", "address": "138****5678"}
    assert [h["status"] for h in sms["history"]] == ["queued", "sent"]

    one = delivered.notify.get(f"/api/v1/notifications/{sms['notification_id']}", auth=DISPATCHER)
    assert one.status_code == 200 and one.json()["history"][-1]["answer"].startswith("200 ")
    elsewhere = {"roles": ("dispatcher",), "jurisdictions": ("140105",)}
    assert_error(delivered.notify.get(f"/api/v1/notifications/{sms['notification_id']}", auth=elsewhere),
                 404, "not_found")
    assert_error(delivered.notify.get("/api/v1/notifications/nope", auth=DISPATCHER), 404, "not_found")


BAD_QUERIES = [
    ({"case_code": "abc"}, 400, "invalid_case_code"),
    ({"status": "lost"}, 400, "validation_failed"),
    ({"channel": "pigeon"}, 400, "validation_failed"),
    ({"limit": "0"}, 400, "validation_failed"),
    ({"limit": "many"}, 400, "validation_failed"),
    ({"recipient": "13812345678"}, 400, "validation_failed"),
    ({"$where": "1"}, 400, "validation_failed"),
]


def test_bad_queries_get_their_json_error_and_the_log_needs_a_staff_token(world):
    for params, status, code in BAD_QUERIES:
        body = assert_error(world.notify.get("/api/v1/notifications", auth=DISPATCHER, params=params), status, code)
        assert body["fields"], params
    assert_error(world.notify.get("/api/v1/notifications"), 401, "token_missing")
    assert_error(world.notify.get("/api/v1/notifications", auth={"roles": ("mediator",),
                                                                 "jurisdictions": ("140106",)}),
                 403, "role_forbidden")
    assert_error(world.notify.get("/api/v1/inbox/x"), 401, "token_missing")
    assert world.metric("onestop_http_requests_total", route="/api/v1/notifications", status="400") == len(BAD_QUERIES)


def test_the_inbox_is_its_owners_and_only_they_mark_it_read(delivered):
    notify = delivered.notify
    mine = notify.get(f"/api/v1/inbox/{APPLICANT}", auth=OWNER).json()
    assert mine["total"] == 1 and mine["unread"] == 1
    message = mine["items"][0]
    assert message["kind"] == "case_received" and message["read_at"] is None

    other = {"roles": (), "jurisdictions": ("140106",), "sub": "party-respondent-1"}
    assert_error(notify.get(f"/api/v1/inbox/{APPLICANT}", auth=other), 403, "role_forbidden")
    department = {"roles": ("department",), "jurisdictions": ("140106",), "agency": "140106:hrss"}
    hrss = notify.get("/api/v1/inbox/140106:hrss", auth=department).json()
    assert hrss["total"] == 1 and hrss["items"][0]["kind"] == "summons"
    assert notify.get(f"/api/v1/inbox/{APPLICANT}", auth=DISPATCHER).json()["total"] == 1
    far = {"roles": ("dispatcher",), "jurisdictions": ("140105",)}
    assert notify.get(f"/api/v1/inbox/{APPLICANT}", auth=far).json()["total"] == 0

    path = f"/api/v1/inbox/{APPLICANT}/messages/{message['message_id']}/read"
    assert_error(notify.post(path, auth=DISPATCHER), 403, "role_forbidden")
    assert delivered.db.inbox_messages.find_one({"_id": message["message_id"]})["read_at"] is None
    first = notify.post(path, auth=OWNER)
    assert first.status_code == 200 and first.json()["read_at"]
    again = notify.post(path, auth=OWNER)
    assert again.json()["read_at"] == first.json()["read_at"]
    assert delivered.db.audit_log.count_documents({"action": "inbox.read"}) == 1
    assert notify.get(f"/api/v1/inbox/{APPLICANT}", auth=OWNER, params={"unread": "true"}).json()["total"] == 0
    assert_error(notify.post(f"/api/v1/inbox/{APPLICANT}/messages/nope/read", auth=OWNER), 404, "not_found")
    assert_error(notify.get(f"/api/v1/inbox/{APPLICANT}", auth=OWNER, params={"limit": "-1"}), 400,
                 "validation_failed")


def test_routes_are_in_the_openapi_document_and_health_answers(world):
    spec = world.notify.get("/api/v1/openapi.json").json()
    assert {"/api/v1/notifications", "/api/v1/notifications/{notification_id}", "/api/v1/inbox/{recipient_id}",
            "/api/v1/inbox/{recipient_id}/messages/{message_id}/read"} <= set(spec["paths"])
    assert "recipient" in spec["components"]["schemas"]["Notification"]["properties"]
    assert world.notify.get("/readyz").json()["ready"] is True
    assert requests.delete(world.notify.base_url + "/api/v1/notifications", timeout=5).status_code == 405


def test_a_channel_without_a_gateway_is_logged_as_skipped(start_service):
    with notify_world(start_service, gateways=False) as world:
        world.publish(envelope("intake", "case_registered"))
        settled = world.settled(2)
        assert {(n["channel"], n["status"], n["error"]) for n in settled} == {
            ("sms", "skipped", "channel_not_configured"), ("inbox", "sent", None)}
        assert world.metric("onestop_notifications_total", channel="sms", result="skipped") == 1


def test_a_unit_the_directory_does_not_know_is_counted_and_nothing_is_guessed(world):
    data = {**COMPLETE[("routing", "case_escalated")], "to_unit": "140106:nowhere"}
    world.publish(envelope("routing", "case_escalated", data))
    wait_for(lambda: world.metric("onestop_notifications_total", result="unknown_unit") == 1,
             message="the unknown unit to be counted")
    assert world.metric("onestop_events_consumed_total", event_type="case_escalated", outcome="processed") == 1
    assert world.notifications() == []


def test_an_sms_too_long_is_refused_and_reported_while_the_inbox_gets_the_message(world):
    data = {**COMPLETE[("mediation", "session_scheduled")], "join_link": None, "place": "第三调解室" * 60}
    world.publish(envelope("mediation", "session_scheduled", data))
    notices = [n for n in world.settled(10, kind="session_scheduled") if n["recipient"]["kind"] == "party"]
    assert sorted((n["channel"], n["status"]) for n in notices) == [("inbox", "sent"), ("inbox", "sent"),
                                                                  ("sms", "failed"), ("sms", "failed")]
    assert all(n["error"].startswith("sms_too_long") and n["attempts"] == 0 for n in notices if n["channel"] == "sms")
    failed = world.emitted("notification_failed")
    assert len(failed) == 2 and {e["data"]["error"].split(":")[0] for e in failed} == {"sms_too_long"}
    assert world.sms() == []


def test_the_number_is_fetched_again_just_before_sending(world):
    night = NOW.replace(hour=15)  # 23:00 in Taiyuan: the receipt SMS waits for the morning
    world.clock.travel_to(night)
    world.publish(envelope("intake", "case_registered", occurred_at=night))
    world.settled(1, kind="case_received", channel="inbox")
    wait_for(lambda: world.notifications(kind="case_received", channel="sms"), message="the held SMS")
    StubIntake.parties[CASE["case_id"]][0]["phone"] = "13900001111"  # the applicant changed number overnight
    world.clock.travel_to(NOW.replace(day=24, hour=0, second=1))
    [sms] = world.settled(1, kind="case_received", channel="sms")
    assert sms["status"] == "sent" and sms["recipient"]["address"] == "139****1111"
    assert [call.body["to"] for call in world.sms()] == ["13900001111"]


def test_a_session_notice_arriving_after_its_cancellation_is_recorded_but_not_sent(world):
    called_off = envelope("mediation", "session_cancelled", occurred_at=NOW + timedelta(minutes=10))
    world.publish(called_off)
    world.settled(10, event_id=called_off["event_id"])
    late = envelope("mediation", "session_scheduled", occurred_at=NOW)
    world.publish(late)
    stale = world.settled(10, event_id=late["event_id"])
    assert {n["status"] for n in stale} == {"cancelled"}
    assert [h["status"] for h in stale[0]["history"]] == ["queued", "cancelled"]
    assert all("已取消" in call.body["text"] for call in world.sms()) and len(world.sms()) == 2
