"""The foundation's promises on the real RabbitMQ: delivery, idempotency, dead letters,
and no loss while the broker is away."""

import json
import time

from kombu import Connection, Exchange
from nameko.testing.utils import get_extension
from pymongo.errors import AutoReconnect

from services.common.consumers import ReliableEventHandler, consumes, dead_letter_queue, dead_letter_queue_name
from services.common.contracts import make_envelope
from services.common.deadletters import show_or_replay
from services.common.outbox import OutboxRelay
from services.common.platform import PlatformService
from services.intake.service import IntakeService
from services.routing.service import RoutingService
from tests.support.broker import drain, publish_event, publish_raw
from tests.support.infra import wait_for
from tests.support.samples import case_payload, distinct_case

CLERK = {"roles": ("intake_clerk",), "jurisdictions": ("140106",)}
DISPATCHER = {"roles": ("dispatcher",), "jurisdictions": ("140106",)}


def registered_event(case_id: str, case_code: str, summary: str, people_involved: int = 1) -> dict:
    """An intake.case_registered envelope for a walk-in labour case in 迎泽区."""
    return make_envelope("intake", "case_registered", case={
        "case_id": case_id, "case_code": case_code, "jurisdiction": "140106", "category": "labour"},
        data={"channel": "walk_in", "summary": summary, "severity": "general", "people_involved": people_involved,
              "registered_at": "2026-11-23T01:00:00Z"})


def routing_case(routing, code):
    response = routing.get(f"/api/v1/routing/cases/{code}", auth=DISPATCHER)
    return response.json() if response.status_code == 200 else None


def consumed(service, outcome, event_type="case_registered", source="intake"):
    for line in service.get("/metrics").text.splitlines():
        if (line.startswith("onestop_events_consumed_total{") and f'outcome="{outcome}"' in line
                and f'event_type="{event_type}"' in line and f'source="{source}"' in line):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_a_registered_case_reaches_routing(start_service):
    routing = start_service(RoutingService)
    intake = start_service(IntakeService)
    created = intake.post("/api/v1/cases", case_payload(), auth=CLERK).json()
    case = wait_for(lambda: routing_case(routing, created["case_code"]), message="routing to hold the case")
    assert case["case_id"] == created["case_id"]
    assert case["jurisdiction"] == "140106" and case["people_involved"] == 90
    outbox = intake.db.outbox.find_one({"envelope.case_id": created["case_id"]})
    assert outbox["status"] == "sent"


def test_the_same_event_delivered_twice_is_processed_once(start_service):
    routing = start_service(RoutingService)
    envelope = registered_event("dup-1", "140106-261123-LB-0900-0", "重复投递", people_involved=3)
    publish_event(routing.config["AMQP_URI"], envelope)
    publish_event(routing.config["AMQP_URI"], envelope)
    wait_for(lambda: consumed(routing, "duplicate") == 1, message="the repeat to be counted")
    assert consumed(routing, "processed") == 1
    assert routing.db.cases.count_documents({"_id": "dup-1"}) == 1
    assert routing.db.inbox.count_documents({"_id": envelope["event_id"]}) == 1
    assert routing.db.audit_log.count_documents({"case_code": "140106-261123-LB-0900-0"}) == 1


class AlwaysFailing(PlatformService):
    name = "failing_consumer"
    calls = []

    @consumes("intake", "case_registered")
    def handle_case_registered(self, event):
        AlwaysFailing.calls.append(event["event_id"])
        raise RuntimeError("downstream system refuses")


def test_a_handler_that_keeps_failing_ends_in_the_dead_letter_queue(start_service):
    AlwaysFailing.calls.clear()
    service = start_service(AlwaysFailing)
    amqp = service.config["AMQP_URI"]
    envelope = registered_event("poison-1", "140106-261123-LB-0901-0", "毒消息")
    publish_event(amqp, envelope)
    queue = dead_letter_queue_name("failing_consumer")
    messages = wait_for(lambda: drain(amqp, queue), timeout=15, message="the dead letter")
    assert len(messages) == 1
    # tried once, then after each configured delay (0.2 s, 0.4 s): three attempts in all
    assert AlwaysFailing.calls == [envelope["event_id"]] * 3
    assert json.loads(messages[0].body) == envelope
    headers = messages[0].headers
    assert headers["x-onestop-attempt"] == 3
    assert "downstream system refuses" in headers["x-onestop-error"]
    assert headers["x-onestop-original-queue"] == "evt-intake-case_registered--failing_consumer.handle_case_registered"
    assert consumed(service, "retried") == 2 and consumed(service, "dead_lettered") == 1


def test_a_replayed_dead_letter_goes_back_to_its_handler_and_one_whose_queue_is_gone_stays_parked(
        start_service, capsys):
    AlwaysFailing.calls.clear()
    service = start_service(AlwaysFailing)
    amqp = service.config["AMQP_URI"]
    envelope = registered_event("replay-1", "140106-261123-LB-0903-0", "重放")
    publish_event(amqp, envelope)
    wait_for(lambda: consumed(service, "dead_lettered") == 1, timeout=15, message="the first dead letter")
    with Connection(amqp, transport_options={"confirm_publish": True}) as conn:  # one whose handler is gone
        parked = dead_letter_queue("failing_consumer")
        conn.Producer().publish(b"{}", exchange=parked.exchange, routing_key="failing_consumer",
                                headers={"x-onestop-original-queue": "evt-intake-case_closed--failing_consumer.gone"},
                                content_type="application/json", content_encoding="utf-8", delivery_mode=2)

    assert show_or_replay(service.config, "failing_consumer", replay=True, limit=10) == 1
    assert "1 event(s) kept" in capsys.readouterr().out
    # the replayed event is tried again (and, still failing, parked again); the other never left
    wait_for(lambda: consumed(service, "dead_lettered") == 2, timeout=15, message="the replayed event handled again")
    assert AlwaysFailing.calls == [envelope["event_id"]] * 6
    bodies = sorted(message.body for message in drain(amqp, dead_letter_queue_name("failing_consumer")))
    assert len(bodies) == 2 and "{}" in bodies and envelope["event_id"] in max(bodies, key=len)


def test_a_failed_event_the_broker_will_not_park_is_kept_and_retried_without_spinning(start_service):
    """The delay exchanges deleted under a running service: the copy is refused, the message is
    requeued (never dropped) after a pause, instead of coming straight back in a hot loop."""
    AlwaysFailing.calls.clear()
    service = start_service(AlwaysFailing)
    amqp = service.config["AMQP_URI"]
    topology = get_extension(service.container, ReliableEventHandler).retry_topology
    with Connection(amqp) as conn:
        for exchange in topology.delay_exchanges.values():
            Exchange(exchange.name).bind(conn.channel()).delete()
    envelope = registered_event("stuck-1", "140106-261123-LB-0904-0", "无法暂存")
    publish_event(amqp, envelope)
    wait_for(lambda: AlwaysFailing.calls, message="the first attempt")
    time.sleep(3)
    assert 2 <= len(AlwaysFailing.calls) <= 5  # about one a second, not hundreds
    assert consumed(service, "retried") == 0 and consumed(service, "dead_lettered") == 0


class DatabaseAway(PlatformService):
    name = "waiting_consumer"
    calls = []

    @consumes("intake", "case_registered")
    def handle_case_registered(self, event):
        DatabaseAway.calls.append(event["event_id"])
        if len(DatabaseAway.calls) <= 5:  # more outages in a row than the dead-letter limit (two)
            raise AutoReconnect("127.0.0.1:27017: connection refused")


def test_an_event_waits_out_a_database_outage_and_is_never_dead_lettered_for_it(start_service):
    DatabaseAway.calls.clear()
    service = start_service(DatabaseAway, EVENT_RETRY_DELAYS=[0.1, 0.2])
    envelope = registered_event("c-1", "140106-261123-LB-0902-0", "欠薪")
    publish_event(service.config["AMQP_URI"], envelope)
    wait_for(lambda: consumed(service, "processed") == 1, timeout=20,
             message="the event handled when the database is back")
    assert DatabaseAway.calls == [envelope["event_id"]] * 6
    assert consumed(service, "waiting") == 5 and consumed(service, "dead_lettered") == 0
    assert drain(service.config["AMQP_URI"], dead_letter_queue_name("waiting_consumer")) == []


def test_an_event_that_breaks_its_contract_is_dead_lettered_at_once(start_service):
    AlwaysFailing.calls.clear()
    service = start_service(AlwaysFailing)
    amqp = service.config["AMQP_URI"]
    broken = {"event_type": "case_registered", "source": "intake", "case_id": "x"}
    publish_event(amqp, broken, source="intake")
    messages = wait_for(lambda: drain(amqp, dead_letter_queue_name("failing_consumer")), timeout=10,
                        message="the invalid event to be dead-lettered")
    assert json.loads(messages[0].body) == broken
    assert "envelope is invalid" in messages[0].headers["x-onestop-error"]
    assert AlwaysFailing.calls == []
    assert consumed(service, "invalid") == 1


def test_a_body_that_cannot_be_decoded_is_dead_lettered_not_dropped(start_service):
    AlwaysFailing.calls.clear()
    service = start_service(AlwaysFailing)
    amqp = service.config["AMQP_URI"]
    publish_raw(amqp, "intake", "case_registered", b"not json{", "application/json")
    publish_raw(amqp, "intake", "case_registered", b"<case/>", "application/xml")
    messages = []

    def both_parked():
        messages.extend(drain(amqp, dead_letter_queue_name("failing_consumer")))
        return len(messages) == 2

    wait_for(both_parked, timeout=10, message="both undecodable messages dead-lettered")
    assert sorted(message.body for message in messages) == ["<case/>", "not json{"]
    assert all("undecodable body" in message.headers["x-onestop-error"] for message in messages)
    assert AlwaysFailing.calls == []
    assert consumed(service, "invalid") == 2


def test_cases_posted_while_the_broker_is_unreachable_are_delivered_when_it_returns(start_service):
    routing = start_service(RoutingService)
    intake = start_service(IntakeService)
    relay = get_extension(intake.container, OutboxRelay)
    live_uri = relay.amqp_uri
    relay.amqp_uri = "amqp://guest:guest@127.0.0.1:1/"  # a port where no broker listens
    codes = []
    for index in range(3):
        response = intake.post("/api/v1/cases", distinct_case(index), auth=CLERK)
        assert response.status_code == 201
        codes.append(response.json()["case_code"])
    wait_for(lambda: intake.db.outbox.count_documents({"last_error": {"$regex": "^broker"}}) == 3,
             message="the relay to fail against the dead port")
    assert intake.db.outbox.count_documents({"status": "pending"}) == 3
    assert all(routing_case(routing, code) is None for code in codes)
    wait_for(lambda: 'onestop_outbox_pending_events{service="intake"} 3.0' in intake.get("/metrics").text,
             message="the backlog gauge to show 3")

    relay.amqp_uri = live_uri
    for code in codes:
        wait_for(lambda code=code: routing_case(routing, code), timeout=20, message=f"{code} to arrive")
    wait_for(lambda: intake.db.outbox.count_documents({"status": "sent", "event_type": "case_registered"}) == 3,
             message="all marked sent")
    assert routing.db.cases.count_documents({}) == 3
    assert consumed(routing, "processed") == 3 and consumed(routing, "duplicate") == 0


def test_a_relay_crash_between_publish_and_mark_sent_is_absorbed(start_service):
    """Publish again what was published but not marked sent: routing applies it once."""
    routing = start_service(RoutingService)
    intake = start_service(IntakeService)
    created = intake.post("/api/v1/cases", case_payload(), auth=CLERK).json()
    wait_for(lambda: routing_case(routing, created["case_code"]), message="first delivery")
    entry = intake.db.outbox.find_one({"envelope.case_id": created["case_id"]})
    intake.db.outbox.update_one({"_id": entry["_id"]},
                                {"$set": {"status": "pending", "lease_until": entry["created_at"]},
                                 "$unset": {"sent_at": ""}})
    wait_for(lambda: consumed(routing, "duplicate") == 1, message="the republished event to be skipped")
    assert routing.db.cases.count_documents({"_id": created["case_id"]}) == 1


def test_an_event_whose_consumer_has_not_started_waits_for_it_and_is_delivered(start_service):
    intake = start_service(IntakeService)  # routing, which subscribes, has never declared its queue
    created = intake.post("/api/v1/cases", case_payload(), auth=CLERK).json()
    def attempts():
        return (intake.db.outbox.find_one({"envelope.case_id": created["case_id"]}) or {}).get("attempts", 0)

    wait_for(lambda: attempts() >= 2, timeout=30, message="the unroutable event to be tried again")
    entry = intake.db.outbox.find_one({"envelope.case_id": created["case_id"]})
    assert entry["status"] == "pending" and entry["last_error"] == "unroutable"
    assert 'onestop_outbox_pending_events{service="intake"} 1.0' in intake.get("/metrics").text
    routing = start_service(RoutingService)
    wait_for(lambda: routing_case(routing, created["case_code"]), timeout=60,
             message="the event to reach routing once its queue exists")
    wait_for(lambda: intake.db.outbox.find_one({"envelope.case_id": created["case_id"]})["status"] == "sent",
             message="the event to be marked sent")


def test_an_event_nobody_here_consumes_is_published_to_whoever_listens_and_marked_sent(start_service):
    intake = start_service(IntakeService, OUTBOX_NOT_CONSUMED_HERE=["intake.case_registered"])
    created = intake.post("/api/v1/cases", case_payload(), auth=CLERK).json()
    entry = wait_for(lambda: intake.db.outbox.find_one({"envelope.case_id": created["case_id"], "status": "sent"}),
                     timeout=20, message="the event marked sent though no queue is bound")
    assert entry["event_type"] == "case_registered" and entry["attempts"] == 0  # the writer's own publish
    wait_for(lambda: 'onestop_outbox_pending_events{service="intake"} 0.0' in intake.get("/metrics").text,
             message="the backlog to exclude it")
    assert 'onestop_outbox_publish_failures_total' not in intake.get("/metrics").text.replace(
        "# HELP onestop_outbox_publish_failures_total", "").replace("# TYPE onestop_outbox_publish_failures_total", "")


def test_a_broker_that_closes_the_channel_postpones_the_event_and_the_service_stays_up(start_service, amqp_uri):
    """DECLARE_EVENT_EXCHANGES=false and the definitions not loaded: the exchange is missing, the
    broker closes the publishing channel (NOT_FOUND). The write stands, the event waits, the
    service answers, and once the exchange exists the event goes out."""
    def declare(*services):
        with Connection(amqp_uri) as conn:
            for name in services:
                Exchange(f"{name}.events", type="topic", durable=True).bind(conn.channel()).declare()

    declare("routing", "mediation", "court_bridge")  # what intake listens to; its own is missing

    intake = start_service(IntakeService, DECLARE_EVENT_EXCHANGES=False)
    created = intake.post("/api/v1/cases", case_payload(), auth=CLERK)
    assert created.status_code == 201, created.text
    case_id = created.json()["case_id"]

    def entry():
        return intake.db.outbox.find_one({"envelope.case_id": case_id}) or {}

    wait_for(lambda: entry().get("attempts", 0) >= 2, timeout=30, message="the event to be tried again")
    assert entry()["status"] == "pending" and entry()["last_error"].startswith("broker: ")
    assert intake.get("/healthz").status_code == 200
    assert intake.post("/api/v1/cases", distinct_case(1), auth=CLERK).status_code == 201  # still serving
    wait_for(lambda: 'onestop_outbox_pending_events{service="intake"} 2.0' in intake.get("/metrics").text,
             timeout=20, message="the backlog gauge to show both events")

    declare("intake")
    routing = start_service(RoutingService)
    wait_for(lambda: routing_case(routing, created.json()["case_code"]), timeout=90,
             message="the event to reach routing once the exchange exists")
