"""Notify on the real RabbitMQ, with a real local SMTP server and a local HTTP gateway for
SMS and WeChat, and stub intake and routing services answering the agreed RPCs — and, for the
issue's "done when", the real intake and routing services."""

import json
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from nameko.standalone.rpc import ClusterRpcProxy
from nameko.testing.utils import get_extension

from services.common.contracts import iso
from services.intake.service import IntakeService
from services.notify.clock import Clock
from services.notify.service import NotifyService
from services.routing.service import RoutingService
from tests.support.infra import wait_for
from tests.support.notify_fakes import HttpGateway, SmtpSink, StubIntake, StubRouting
from tests.support.notify_samples import (
    APPLICANT_PHONE,
    CASE,
    COMPLETE,
    NOW,
    UNITS,
    envelope,
    unit,
)
from tests.support.notify_world import DAYTIME, DISPATCHER, SETTLED, SMS, WECHAT, notify_world
from tests.support.samples import case_payload

APPLICANT = "party-applicant-1"


@pytest.fixture
def world(start_service):
    with notify_world(start_service) as running:
        yield running


def registered():
    return envelope("intake", "case_registered")


def test_a_registered_case_gives_the_applicant_one_sms_and_one_inbox_entry_even_when_delivered_twice(world):
    event = registered()
    world.publish(event)
    world.publish(event)
    wait_for(lambda: world.metric("onestop_events_consumed_total", event_type="case_registered",
                                  outcome="duplicate") == 1, message="the second delivery to be skipped")
    sent = world.settled(2, event_id=event["event_id"])
    assert {(n["channel"], n["status"]) for n in sent} == {("sms", "sent"), ("inbox", "sent")}

    [sms] = world.sms()
    assert sms.body["to"] == APPLICANT_PHONE and CASE["case_code"] in sms.body["text"]
    assert sms.body["segments"] == 2
    assert sms.headers["Authorization"] == "Bearer sms-secret"
    sms_log = next(n for n in sent if n["channel"] == "sms")
    assert sms.headers["Idempotency-Key"] == sms_log["_id"] == sms.body["message_id"]
    assert world.db.inbox_messages.count_documents({"recipient_id": APPLICANT}) == 1

    inbox = world.notify.get(f"/api/v1/inbox/{APPLICANT}",
                             auth={"roles": (), "jurisdictions": ("140106",), "sub": APPLICANT}).json()
    assert inbox["total"] == 1 and inbox["unread"] == 1
    assert inbox["items"][0]["title"] == "纠纷受理回执" and CASE["case_code"] in inbox["items"][0]["body"]

    # the full number went to the gateway only: notify's database holds it nowhere
    for collection in ("notifications", "inbox_messages", "outbox", "audit_log", "cases"):
        stored = json.dumps(list(world.db[collection].find()), default=str)
        assert APPLICANT_PHONE not in stored, collection
    assert sms_log["recipient"]["address"] == "138****5678" and sms_log["recipient"]["display"] == "王**"
    # the address was asked for when the event came and again just before sending
    # (a redelivery racing the first may ask too, before either has committed)
    calls = [roles for _, roles in StubIntake.calls]
    assert len(calls) >= 2 and all(roles == ["applicant"] for roles in calls)

    outcomes = world.emitted("notification_sent")
    assert sorted(e["data"]["channel"] for e in outcomes) == ["inbox", "sms"]
    assert all(e["case_code"] == CASE["case_code"] and e["data"]["recipient_kind"] == "party" for e in outcomes)
    assert world.metric("onestop_notifications_total", kind="case_received", channel="sms", result="sent") == 1
    assert world.metric("onestop_notification_latency_seconds_count", channel="sms") == 1


def test_a_summons_reaches_each_department_on_every_channel(world):
    world.publish(envelope("routing", "departments_summoned"))
    sent = world.settled(8, kind="summons")
    assert [(n["channel"], n["status"], n["error"]) for n in sent if n["status"] != "sent"] == []
    assert len(sent) == 8
    for summons in COMPLETE[("routing", "departments_summoned")]["summons"]:
        unit = UNITS[summons["department"]]
        report_by = "2026年11月23日 10:30" if summons["summons_id"] == "sm-hrss-1" else "2026年11月23日 10:40"
        [sms] = world.sms(unit["contacts"]["phone"])
        assert report_by in sms.body["text"] and f"/api/v1/summons/{summons['summons_id']}/ack" in sms.body["text"]
        [wechat] = [c for c in world.gateway.received(WECHAT) if c.body["touser"] == unit["contacts"]["wechat_openid"]]
        assert wechat.body["template"] == "summons" and wechat.body["url"].endswith(f"{summons['summons_id']}/ack")
        [mail] = world.smtp.to(unit["contacts"]["email"])
        assert mail["Subject"] == f"中心吹哨·部门报到通知｜案件{CASE['case_code']}"
        assert f"报到时限：{report_by}前" in world.smtp.text(mail)
        inbox = unit["contacts"]["inbox_id"] or unit["unit_id"]
        assert world.db.inbox_messages.count_documents({"recipient_id": inbox, "kind": "summons"}) == 1


def test_a_failing_gateway_is_retried_and_the_log_shows_every_attempt(world):
    world.gateway.script[SMS] = [(503, '{"error": "busy"}'), (502, "bad gateway")]
    world.publish(registered())
    world.settled(2)
    [entry] = [n for n in world.log()["items"] if n["channel"] == "sms"]
    assert entry["status"] == "sent" and entry["attempts"] == 3
    attempts = [(h["attempt"], h["status"], h["answer"]) for h in entry["history"] if h["attempt"]]
    assert attempts[0] == (1, "error", '503 {"error": "busy"}')
    assert attempts[1] == (2, "error", "502 bad gateway")
    assert attempts[2][0:2] == (3, "sent") and attempts[2][2].startswith("200 ")
    assert "138****5678" in attempts[2][2] and APPLICANT_PHONE not in attempts[2][2]  # the gateway echoed it
    assert len(world.sms()) == 3
    assert world.metric("onestop_notification_retries_total", channel="sms") == 2
    assert world.metric("onestop_gateway_errors_total", channel="sms") == 2


def test_a_gateway_that_never_recovers_fails_the_message_and_says_so(world):
    world.gateway.script[SMS] = [(503, "down")] * 3
    world.publish(registered())
    sent = world.settled(2)
    sms = next(n for n in sent if n["channel"] == "sms")
    assert sms["status"] == "failed" and sms["attempts"] == 3
    assert sms["error"] == "sms gateway answered 503"
    assert next(n for n in sent if n["channel"] == "inbox")["status"] == "sent"
    [failed] = world.emitted("notification_failed")
    assert failed["data"] == {"notification_id": sms["_id"], "kind": "case_received", "channel": "sms",
                              "recipient_kind": "party", "error": "sms gateway answered 503"}
    assert world.metric("onestop_notifications_total", kind="case_received", channel="sms", result="failed") == 1


def test_a_refused_number_is_not_retried(world):
    world.gateway.script[SMS] = [(400, '{"error": "invalid number"}')]
    world.publish(registered())
    sms = next(n for n in world.settled(2) if n["channel"] == "sms")
    assert sms["status"] == "failed" and sms["attempts"] == 1 and len(world.sms()) == 1


def test_a_gateway_that_hangs_does_not_hold_up_other_channels(world):
    world.gateway.hang.add(SMS)
    world.publish(envelope("routing", "departments_summoned"))
    others = world.settled(6, kind="summons", channel={"$ne": "sms"})
    assert all(n["status"] == "sent" for n in others)
    assert len(world.smtp.messages) == 2
    in_flight = world.notifications(kind="summons", channel="sms")
    assert {n["status"] for n in in_flight} <= {"queued", "sending"} and in_flight


def test_quiet_hours_hold_a_receipt_sms_until_morning_but_not_a_summons(world):
    night = NOW.replace(hour=15)  # 23:00 in Taiyuan
    world.clock.travel_to(night)
    world.publish(registered())
    world.publish(envelope("routing", "departments_summoned", occurred_at=night))
    world.settled(2, kind="summons", channel="sms")  # urgent: it went at night
    receipt = world.settled(1, kind="case_received", channel="inbox")[0]
    assert receipt["status"] == "sent"
    [held] = world.notifications(kind="case_received", channel="sms")
    assert held["status"] == "queued" and held["attempts"] == 0
    assert held["next_attempt_at"] == held["deferred_until"] == NOW.replace(day=24, hour=0)  # 08:00 local
    assert [h["status"] for h in held["history"]] == ["queued", "deferred"]
    assert world.sms(APPLICANT_PHONE) == []
    assert world.metric("onestop_notifications_total", kind="case_received", channel="sms", result="deferred") == 1

    world.clock.travel_to(NOW.replace(day=24, hour=0, second=1))
    [sent] = world.settled(1, kind="case_received", channel="sms")
    assert sent["status"] == "sent" and len(world.sms(APPLICANT_PHONE)) == 1


def test_a_session_called_off_overnight_voids_the_notice_still_waiting(world):
    night = NOW.replace(hour=15)  # 23:00 in Taiyuan: session SMS wait for the morning
    world.clock.travel_to(night)
    booked = envelope("mediation", "session_scheduled", occurred_at=night)
    world.publish(booked)
    world.settled(6, event_id=booked["event_id"], channel={"$ne": "sms"})  # inboxes, WeChat and e-mail go now
    held = world.notifications(event_id=booked["event_id"], channel="sms")
    assert len(held) == 2 and {n["status"] for n in held} == {"queued"}

    called_off = envelope("mediation", "session_cancelled", occurred_at=night + timedelta(minutes=20))
    world.publish(called_off)
    wait_for(lambda: {n["status"] for n in world.notifications(event_id=booked["event_id"], channel="sms")}
             == {"cancelled"}, message="the waiting session SMS to be cancelled")
    world.clock.travel_to(NOW.replace(day=24, hour=0, second=1))  # 08:00
    world.settled(2, event_id=called_off["event_id"], channel="sms")
    texts = [call.body["text"] for call in world.sms()]
    assert len(texts) == 2 and all("已取消" in text for text in texts)  # nobody hears of the void session
    assert world.metric("onestop_notifications_total", kind="session_scheduled", channel="sms",
                        result="cancelled") == 2


def test_a_stuck_court_message_reaches_the_court_clerk_and_a_closing_window_the_parties(world):
    world.publish(envelope("court_bridge", "message_stuck"))
    stuck = world.settled(4, kind="court_message_stuck")
    assert {(n["recipient"]["id"], n["channel"], n["status"]) for n in stuck} == {
        ("140106:court", "wechat", "sent"), ("140106:court", "email", "sent"), ("140106:court", "inbox", "sent"),
        ("140106:centre", "inbox", "sent")}
    court = UNITS["140106:court"]["contacts"]
    [mail] = world.smtp.to(court["email"])
    assert mail["Subject"] == f"诉调对接消息滞留提醒｜案件{CASE['case_code']}"
    assert "调解结果反馈消息向你院业务系统推送已连续失败6次" in world.smtp.text(mail)
    [wechat] = [c for c in world.gateway.received(WECHAT) if c.body["touser"] == court["wechat_openid"]]
    assert wechat.body["template"] == "court_message_stuck"

    world.publish(envelope("routing", "case_assigned"))  # notify learns who handles the case
    world.settled(1, kind="assignment", channel="inbox", **{"recipient.id": "140106:centre"})
    world.publish(envelope("court_bridge", "confirmation_due"))
    due = world.settled(7, kind="confirmation_due_soon")
    assert {n["status"] for n in due} == {"sent"}
    assert {n["recipient"]["id"] for n in due} == {"party-applicant-1", "party-respondent-1", "140106:centre"}
    texts = [call.body["text"] for call in world.sms() if "司法确认" in call.body["text"]]
    assert len(texts) == 2 and all("期限至2026年11月26日 10:00届满" in text for text in texts)


def test_registering_and_routing_a_complex_case_notifies_applicant_and_departments_once(world):
    """Done when: the applicant's receipt with the case code and each department's summons with
    its report-by time reach real local SMTP / HTTP receivers, and the log shows each once."""
    summons = [{"summons_id": f"sm-{key}", "department": f"140106:{key}", "on_site": False,
                "report_by": iso(NOW + timedelta(minutes=minutes))}
               for key, minutes in (("hrss", 20), ("housing", 30), ("judicial", 40))]
    events = [registered(), envelope("routing", "case_assigned"),
              envelope("routing", "departments_summoned", {"summons": summons})]
    for event in events + events:  # everything delivered twice
        world.publish(event)
    wait_for(lambda: world.metric("onestop_events_consumed_total", outcome="duplicate") == 3,
             message="the three repeats to be skipped")
    world.settled(2 + 2 + 12 + 12, case_code=CASE["case_code"])

    [receipt] = [c for c in world.sms(APPLICANT_PHONE) if "已登记受理" in c.body["text"]]
    assert CASE["case_code"] in receipt.body["text"]
    for item, local in zip(summons, ("10:20", "10:30", "10:40"), strict=True):
        unit = UNITS[item["department"]]
        [mail] = [m for m in world.smtp.to(unit["contacts"]["email"]) if "报到" in m["Subject"]]
        assert f"报到时限：2026年11月23日 {local}前" in world.smtp.text(mail)
        [text] = [c for c in world.sms(unit["contacts"]["phone"]) if "中心吹哨" in c.body["text"]]
        assert f"2026年11月23日 {local}前" in text.body["text"]

    log = world.log()["items"]
    keys = [(n["kind"], n["recipient"]["id"], n["channel"]) for n in log]
    assert len(keys) == len(set(keys)) == 28
    by_status = {}
    for entry in log:
        by_status.setdefault(entry["status"], []).append((entry["kind"], entry["recipient"]["id"], entry["channel"]))
    # the judicial bureau has no WeChat account in the directory: logged as skipped, never sent
    assert sorted(by_status.pop("skipped")) == [("assignment", "140106:judicial", "wechat"),
                                                ("summons", "140106:judicial", "wechat")]
    assert list(by_status) == ["sent"]
    assert len(world.gateway.calls) == len([k for k in by_status["sent"] if k[2] in ("sms", "wechat")])
    assert len(world.smtp.messages) == len([k for k in by_status["sent"] if k[2] == "email"])


def local_time(moment: str) -> str:
    """A time as the messages show it: Taiyuan's clock."""
    local = datetime.fromisoformat(moment).astimezone(ZoneInfo("Asia/Shanghai"))
    return f"{local.year}年{local.month}月{local.day}日 {local:%H:%M}"


def test_done_when_a_case_registered_and_routed_as_complex_reaches_the_applicant_and_each_department(start_service):
    """Issue 7's "done when" with the real services: registering a case (intake) that routing routes as
    complex produces, on the local SMTP and HTTP receivers, the applicant's receipt with the case code
    and each summoned department's summons with its report-by time; the delivery log shows each once."""
    gateway, smtp = HttpGateway(), SmtpSink()
    try:
        routing = start_service(RoutingService, ROUTING_SWEEP_SECONDS=3600)
        notify = start_service(NotifyService, NOTIFY_DISPATCH_SECONDS=0.1, RPC_TIMEOUT_SECONDS=10,
                               SMS_GATEWAY_URL=gateway.url(SMS), WECHAT_GATEWAY_URL=gateway.url(WECHAT),
                               SMTP_HOST="127.0.0.1", SMTP_PORT=smtp.port, SMTP_FROM="notify@yingze.example.cn")
        # Daytime in Taiyuan whatever the machine's clock says: the receipt SMS is not urgent.
        get_extension(notify.container, Clock).travel_to(DAYTIME)
        intake = start_service(IntakeService)
        created = intake.post("/api/v1/cases", case_payload(), auth={"roles": ("intake_clerk",),
                                                                     "jurisdictions": ("140106",)})
        assert created.status_code == 201, created.text
        code = created.json()["case_code"]

        def routed():
            response = routing.get(f"/api/v1/routing/cases/{code}", auth=DISPATCHER)
            return response.status_code == 200 and response.json()["summons"] and response.json()
        view = wait_for(routed, timeout=20, message="routing to route the case and summon its departments")
        assert view["tier"] == "complex"
        summons = view["summons"]
        with ClusterRpcProxy({"AMQP_URI": routing.config["AMQP_URI"]}, timeout=10) as proxy:
            contacts = {s["department"]: proxy.routing.lookup_unit(s["department"])["contacts"] for s in summons}

        def delivered():
            log = notify.get("/api/v1/notifications", auth=DISPATCHER, params={"case_code": code, "limit": 200})
            items = log.json()["items"]
            kinds = [n["kind"] for n in items]
            # each event's messages are stored at once: all three events are in when each kind shows
            every_event = kinds.count("case_received") == 2 and kinds.count("summons") == 4 * len(summons) \
                and "assignment" in kinds
            return items if every_event and all(n["status"] in SETTLED for n in items) else None
        log = wait_for(delivered, timeout=30, message="the receipt and every summons to be delivered")

        [receipt] = [call for call in gateway.received(SMS) if call.body["to"] == APPLICANT_PHONE
                     and "已登记受理" in call.body["text"]]
        assert code in receipt.body["text"] and f"/api/v1/public/progress/{code}" in receipt.body["text"]
        for item in summons:
            unit, report_by = contacts[item["department"]], local_time(item["report_by"])
            [mail] = [m for m in smtp.to(unit["email"]) if "报到" in m["Subject"]]
            assert mail["Subject"] == f"中心吹哨·部门报到通知｜案件{code}"
            assert f"报到时限：{report_by}前" in SmtpSink.text(mail)
            [sms] = [c for c in gateway.received(SMS) if c.body["to"] == unit["phone"] and "中心吹哨" in c.body["text"]]
            assert f"{report_by}前" in sms.body["text"] and item["summons_id"] in sms.body["text"]
            if unit.get("wechat_openid"):
                [wechat] = [c for c in gateway.received(WECHAT)
                            if c.body["touser"] == unit["wechat_openid"] and c.body["template"] == "summons"]
                assert report_by in wechat.body["content"]

        keys = [(n["kind"], n["recipient"]["kind"], n["recipient"]["id"], n["channel"]) for n in log]
        assert len(keys) == len(set(keys)), "a message logged twice"
        [logged_receipt] = [n for n in log if n["kind"] == "case_received" and n["channel"] == "sms"]
        assert logged_receipt["status"] == "sent" and logged_receipt["notification_id"] == receipt.body["message_id"]
        assert {n["status"] for n in log if n["kind"] == "summons"} <= {"sent", "skipped"}
        assert [n for n in log if n["kind"] == "summons" and n["status"] == "skipped"] == [
            n for n in log if n["kind"] == "summons" and n["channel"] == "wechat"
            and not contacts[n["recipient"]["id"]].get("wechat_openid")]
        # each message sent reached its receiver once: one gateway call or one e-mail per logged message
        for channel, calls in ((SMS, gateway.received(SMS)), (WECHAT, gateway.received(WECHAT))):
            ids = [call.body["message_id"] for call in calls]
            assert len(ids) == len(set(ids)), channel
            assert set(ids) == {n["notification_id"] for n in log if n["channel"] == channel[1:]
                                and n["status"] == "sent"}
        assert len(smtp.messages) == len([n for n in log if n["channel"] == "email" and n["status"] == "sent"])
    finally:
        gateway.close()
        smtp.close()


@pytest.mark.parametrize("batch", [1, 50])  # one message per claim, the replicas interleave; whole batches race
def test_two_replicas_send_each_message_once(start_service, batch):
    departments = [f"140106:dept{number:02d}" for number in range(15)]
    with notify_world(start_service, NOTIFY_BATCH=batch) as world:
        for number, unit_id in enumerate(departments):
            StubRouting.units[unit_id] = unit(unit_id, f"第{number}号部门", "department", phone=f"0351600{number:04d}",
                                              email=f"dept{number}@yingze.example.cn", wechat=f"oDept{number:010d}")
        replica = start_service(NotifyService, **{key: value for key, value in world.notify.config.items()
                                                  if key != "WEB_SERVER_ADDRESS"})
        get_extension(replica.container, Clock).travel_to(DAYTIME)
        summons = [{"summons_id": f"sm-{number}", "department": unit_id, "report_by": iso(NOW + timedelta(minutes=30))}
                   for number, unit_id in enumerate(departments)]
        world.publish(envelope("routing", "departments_summoned", {"summons": summons}))
        sent = world.settled(60, kind="summons")
        assert {n["status"] for n in sent} == {"sent"} and {n["attempts"] for n in sent} == {1}
        for path in (SMS, WECHAT):
            ids = [call.body["message_id"] for call in world.gateway.received(path)]
            assert len(ids) == len(set(ids)) == 15
        assert len(world.smtp.messages) == 15
        assert world.db.inbox_messages.count_documents({"kind": "summons"}) == 15
        assert len(world.emitted("notification_sent")) == 60
        shares = [running_metric(running, "onestop_notifications_total", result="sent")
                  for running in (world.notify, replica)]
        assert sum(shares) == 60, shares  # none sent twice
        assert batch > 1 or min(shares) > 0, shares  # claimed one by one, both replicas sent


def running_metric(running, name, **labels) -> float:
    total = 0.0
    for line in running.get("/metrics").text.splitlines():
        if line.startswith(name + "{") and all(f'{key}="{value}"' in line for key, value in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total
