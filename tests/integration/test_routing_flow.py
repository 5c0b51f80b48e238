"""Routing with intake on the real broker, and two routing replicas sharing the SLA sweep."""

from collections import Counter

import eventlet
from nameko.testing.services import entrypoint_hook

from services.intake.service import IntakeService
from services.routing.service import RoutingService
from tests.support.broker import publish_event
from tests.support.infra import wait_for
from tests.support.routing_support import DISPATCHER, advance, bind_capture, emitted, metric, read_capture, registered
from tests.support.samples import case_payload

CLERK = {"roles": ("intake_clerk",), "jurisdictions": ("140106",)}


def test_a_case_registered_on_intake_is_assigned_and_its_departments_summoned(start_service):
    routing = start_service(RoutingService, ROUTING_SWEEP_SECONDS=3600)
    intake = start_service(IntakeService)
    amqp = routing.config["AMQP_URI"]
    bind_capture(amqp)
    created = intake.post("/api/v1/cases", case_payload(), auth=CLERK)
    assert created.status_code == 201, created.text
    code = created.json()["case_code"]
    view = wait_for(lambda: (r := routing.get(f"/api/v1/routing/cases/{code}", auth=DISPATCHER)).status_code == 200
                    and r.json(), message="routing to assign the case")
    assert (view["tier"], view["unit"], view["lead_department"]) == ("complex", "140106:centre", "140106:hrss")
    seen = []
    wait_for(lambda: seen.extend(read_capture(amqp)) or {e["event_type"] for e in seen} >= {
        "case_assigned", "mediation_requested", "departments_summoned"}, message="routing's events on the bus")
    summoned = next(e for e in seen if e["event_type"] == "departments_summoned")
    assert summoned["case_id"] == created.json()["case_id"]
    assert {s["department"] for s in summoned["data"]["summons"]} == set(view["departments"])
    assert [s["summons_id"] for s in view["summons"]] == [
        s["summons_id"] for s in sorted(summoned["data"]["summons"], key=lambda s: s["report_by"])]


def test_two_replicas_escalate_each_late_case_exactly_once(start_service):
    # No lease between them (0 s) and both sweeping at the same moment: only the conditional writes
    # and the unique warning ids keep each warning and escalation single.
    settings = {"ROUTING_SWEEP_SECONDS": 3600, "ROUTING_SWEEP_LEASE_SECONDS": 0}
    first = start_service(RoutingService, **settings)
    second = start_service(RoutingService, **settings)
    envelopes = [registered() for _ in range(8)]
    for envelope in envelopes:
        publish_event(first.config["AMQP_URI"], envelope)
    wait_for(lambda: first.db.cases.count_documents({}) == 8, message="the replicas to take the cases")
    advance(first, second, minutes=90)  # past blue, yellow and red of the 30-minute first contact

    def sweep(replica):
        with entrypoint_hook(replica.container, "sweep_sla") as hook:
            hook()

    racers = [eventlet.spawn(sweep, replica) for replica in (first, second, first, second)]
    for racer in racers:
        racer.wait()
    escalations = emitted(first, "case_escalated")
    warnings = emitted(first, "sla_warning")
    assert Counter(e["case_id"] for e in escalations) == {e["case_id"]: 3 for e in envelopes}
    assert Counter((w["case_id"], w["data"]["colour"]) for w in warnings) == {
        (e["case_id"], colour): 1 for e in envelopes for colour in ("blue", "yellow", "red")}
    assert first.db.sla_events.count_documents({}) == 8 * 6
    assert metric(first, "onestop_escalations_total") + metric(second, "onestop_escalations_total") == 24
    for envelope in envelopes:
        case = first.db.cases.find_one({"_id": envelope["case_id"]})
        assert case["escalation"]["steps"] == 3 and case["supervision"]["unit"] == "140100:discipline"
        assert case["colour"] == "red"


def test_the_sweeper_of_two_replicas_runs_on_its_timer(start_service):
    settings = {"ROUTING_SWEEP_SECONDS": 0.1, "ROUTING_SWEEP_LEASE_SECONDS": 0.5}
    first = start_service(RoutingService, **settings)
    second = start_service(RoutingService, **settings)
    envelopes = [registered() for _ in range(3)]
    for envelope in envelopes:
        publish_event(first.config["AMQP_URI"], envelope)
    wait_for(lambda: first.db.cases.count_documents({}) == 3, message="the replicas to take the cases")
    advance(first, second, minutes=31)
    wait_for(lambda: first.db.sla_events.count_documents({}) == 3 * 4, message="blue and yellow with escalations")
    first.container.stop()  # the lease holder may go: the other replica carries on
    advance(second, minutes=30)
    wait_for(lambda: first.db.sla_events.count_documents({}) == 3 * 6, message="red from the remaining replica")
    assert Counter(e["data"]["colour"] for e in emitted(second, "sla_warning")) == {"blue": 3, "yellow": 3, "red": 3}
