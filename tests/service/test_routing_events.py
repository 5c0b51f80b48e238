"""Routing on the bus: what it does with other services' events, and its SLA sweeper."""

from datetime import UTC, datetime, timedelta

from nameko.testing.services import entrypoint_hook

from services.common.consumers import dead_letter_queue_name
from services.routing.service import SWEEP_BATCH, RoutingService
from tests.support.broker import drain, publish_event
from tests.support.infra import wait_for
from tests.support.routing_support import (
    DISPATCHER,
    HRSS,
    advance,
    bind_capture,
    clock,
    emitted,
    event_about,
    metric,
    read_capture,
    registered,
)

FAST = {"ROUTING_SWEEP_SECONDS": 0.1, "ROUTING_SWEEP_LEASE_SECONDS": 1}


def publish(routing, envelope):
    publish_event(routing.config["AMQP_URI"], envelope)


def held(routing, envelope, **match):
    def check():
        case = routing.db.cases.find_one({"_id": envelope["case_id"]})
        return case if case and all(case.get(k) == v for k, v in match.items()) else None
    return wait_for(check, message=f"routing to hold {envelope['case_code']} with {match}")


def clock_status(case, name):
    return [c for c in case["clocks"] if c["name"] == name][-1]["status"]


def test_a_registered_case_is_assigned_and_its_events_reach_the_bus(start_service):
    routing = start_service(RoutingService, ROUTING_SWEEP_SECONDS=3600)
    amqp = routing.config["AMQP_URI"]
    bind_capture(amqp)
    envelope = registered()
    publish(routing, envelope)
    held(routing, envelope)
    published = []
    wait_for(lambda: published.extend(read_capture(amqp)) or len(published) >= 3, message="three events on the bus")
    by_type = {event["event_type"]: event for event in published}
    assert set(by_type) == {"case_assigned", "mediation_requested", "departments_summoned"}
    assigned = by_type["case_assigned"]
    assert assigned["case_code"] == envelope["case_code"] and assigned["source"] == "routing"
    assert assigned["data"]["tier"] == "complex" and assigned["data"]["lead_department"] == "140106:hrss"
    summons = by_type["departments_summoned"]["data"]["summons"]
    assert {s["department"] for s in summons} == set(assigned["data"]["departments"])
    assert all(s["report_by"] for s in summons)
    assert routing.db.summons.count_documents({"case_id": envelope["case_id"], "status": "outstanding"}) == 6
    assert metric(routing, "onestop_routing_assignments_total", tier="complex", level="county") == 1


def test_the_90_worker_wage_case_turns_blue_yellow_red_escalating_each_step(start_service):
    routing = start_service(RoutingService, **FAST)
    envelope = registered()  # 140106, labour, 90 people, mass_dispute
    publish(routing, envelope)
    case = held(routing, envelope)
    assert (case["tier"], case["level"], case["unit"], case["lead_department"]) == (
        "complex", "county", "140106:centre", "140106:hrss")
    assert len(emitted(routing, "departments_summoned", envelope["case_id"])[0]["data"]["summons"]) == 6
    path = f"/api/v1/routing/cases/{envelope['case_code']}"
    steps = [(25, "blue", "city", "140100:centre"), (6, "yellow", "inspection", "140100:inspection"),
             (30, "red", "discipline", "140100:discipline")]
    for number, (minutes, colour, rung, unit) in enumerate(steps, start=1):
        advance(routing, minutes=minutes)
        view = wait_for(lambda colour=colour: (v := routing.get(path, auth=DISPATCHER).json())["colour"] == colour
                        and v, message=f"the case to turn {colour}")
        assert view["escalation"]["steps"] == number and view["supervision"]["unit"] == unit
        warnings = emitted(routing, "sla_warning", envelope["case_id"])
        escalations = emitted(routing, "case_escalated", envelope["case_id"])
        assert [w["data"]["colour"] for w in warnings] == [c for _, c, _, _ in steps[:number]]
        assert escalations[-1]["data"]["to_rung"] == rung and escalations[-1]["data"]["to_unit"] == unit
        assert len(escalations) == number
        assert metric(routing, "onestop_sla_warnings_total", colour=colour) == 1
    assert metric(routing, "onestop_escalations_total") == 3
    wait_for(lambda: metric(routing, "onestop_open_cases", colour="red") == 1, message="the red gauge")
    stored = list(routing.db.sla_events.find({"case_id": envelope["case_id"]}).sort("at", 1))
    assert [(r["kind"], r.get("colour") or r["to_rung"]) for r in stored] == [
        ("escalation", "city"), ("warning", "blue"), ("escalation", "inspection"), ("warning", "yellow"),
        ("escalation", "discipline"), ("warning", "red")]
    board = routing.get("/api/v1/board", auth=DISPATCHER).json()
    assert board["open"]["by_colour"]["red"] == 1 and board["overdue"][0]["case_code"] == envelope["case_code"]
    assert routing.db.audit_log.count_documents({"action": "case.sla"}) == 3


def test_warnings_missed_while_routing_was_down_are_raised_when_it_returns(start_service):
    routing = start_service(RoutingService, ROUTING_SWEEP_SECONDS=3600)
    envelope = registered()
    publish(routing, envelope)
    held(routing, envelope)
    routing.container.stop()
    # Back 90 minutes later (the clock offset stands in for the time it was away).
    back = start_service(RoutingService, ROUTING_SWEEP_SECONDS=3600, ROUTING_CLOCK_OFFSET_SECONDS=90 * 60)
    wait_for(lambda: len(emitted(back, "sla_warning", envelope["case_id"])) == 3, message="the missed warnings")
    warnings = emitted(back, "sla_warning", envelope["case_id"])
    assert [w["data"]["colour"] for w in warnings] == ["blue", "yellow", "red"]
    assert len(emitted(back, "case_escalated", envelope["case_id"])) == 3
    due = [r["due_at"] for r in back.db.sla_events.find({"kind": "warning"}).sort("due_at", 1)]
    assert (due[1] - due[0]).total_seconds() == 360 and (due[2] - due[1]).total_seconds() == 1800


def test_the_sweeper_raises_each_warning_once_however_often_it_runs(start_service):
    routing = start_service(RoutingService, ROUTING_SWEEP_SECONDS=3600)
    envelope = registered()
    publish(routing, envelope)
    held(routing, envelope)
    advance(routing, minutes=31)
    with entrypoint_hook(routing.container, "sweep_sla") as sweep:
        for _ in range(3):
            sweep()
    assert [w["data"]["colour"] for w in emitted(routing, "sla_warning")] == ["blue", "yellow"]
    assert routing.db.sla_events.count_documents({}) == 4


def test_an_immediate_red_warns_the_leaders_at_once(start_service):
    routing = start_service(RoutingService, ROUTING_SWEEP_SECONDS=3600)
    # what intake emits for "扬言跳楼": classification.yaml's self_harm_threat, critical, immediate red
    envelope = registered(severity="critical", immediate_red=True, flags=("self_harm_threat",), people=1,
                          category="neighbour", amount=None)
    publish(routing, envelope)
    case = held(routing, envelope)
    assert case["colour"] == "red" and case["tier"] == "complex" and case["rule"]["rule_id"] == "complex.critical_risk"
    warning = emitted(routing, "sla_warning", envelope["case_id"])[0]["data"]
    assert warning["colour"] == "red" and warning["clock"] == "critical_risk" and warning["unit"] == "140106:centre"
    assert {"140106:police", "140106:health"} <= set(case["departments"])
    summoned = emitted(routing, "departments_summoned", envelope["case_id"])[0]["data"]["summons"]
    assert "140106:police" in {s["department"] for s in summoned}


def test_a_repeated_announcement_of_the_same_case_changes_nothing(start_service):
    routing = start_service(RoutingService, ROUTING_SWEEP_SECONDS=3600)
    envelope = registered()
    publish(routing, envelope)
    held(routing, envelope)
    again = registered(case_id=envelope["case_id"], code=envelope["case_code"])  # a new event id
    publish(routing, again)
    wait_for(lambda: routing.db.inbox.count_documents({}) == 2, message="the second event to be consumed")
    assert routing.db.cases.count_documents({}) == 1 and len(emitted(routing, "case_assigned")) == 1


def test_a_merged_duplicate_stops_its_clocks_and_cancels_its_summons(start_service):
    routing = start_service(RoutingService, ROUTING_SWEEP_SECONDS=3600)
    survivor, duplicate = registered(), registered()
    publish(routing, survivor)
    publish(routing, duplicate)
    held(routing, survivor)
    held(routing, duplicate)
    publish(routing, event_about(survivor, "intake", "case_merged", {
        "duplicate_case_id": duplicate["case_id"], "duplicate_case_code": duplicate["case_code"],
        "channel": "hotline"}))
    case = held(routing, duplicate, state="merged")
    assert case["merged_into"] == survivor["case_code"] and not case["open"] and case["next_check_at"] is None
    assert all(clock["status"] == "stopped" for clock in case["clocks"])
    assert routing.db.summons.count_documents({"case_id": duplicate["case_id"], "status": "cancelled"}) == 6
    assert routing.db.cases.find_one({"_id": survivor["case_id"]})["state"] == "assigned"


def test_a_merge_that_overtakes_the_registration_is_remembered(start_service):
    routing = start_service(RoutingService, ROUTING_SWEEP_SECONDS=3600)
    survivor, duplicate = registered(), registered()
    publish(routing, event_about(survivor, "intake", "case_merged", {
        "duplicate_case_id": duplicate["case_id"], "duplicate_case_code": duplicate["case_code"],
        "channel": "hotline"}))
    wait_for(lambda: routing.db.merged_cases.find_one({"_id": duplicate["case_id"]}), message="the tombstone")
    publish(routing, duplicate)
    case = held(routing, duplicate, state="merged")
    assert case["next_check_at"] is None and emitted(routing, "case_assigned", duplicate["case_id"]) == []
    assert routing.db.summons.count_documents({"case_id": duplicate["case_id"]}) == 0


def test_outcomes_followups_ratings_and_closing_stop_their_clocks(start_service):
    routing = start_service(RoutingService, ROUTING_SWEEP_SECONDS=3600)
    referral = {"court_id": "140106-court", "referral_id": "R-1", "batch_id": "B-1",
                "deadline": "2026-12-23T00:00:00Z"}
    court, wage = registered(channel="court_referral", court_referral=referral, people=2, flags=()), registered()
    for envelope in (court, wage):
        publish(routing, envelope)
        held(routing, envelope)
    assert clock_status(routing.db.cases.find_one({"_id": court["case_id"]}), "presuit") == "running"
    publish(routing, event_about(court, "mediation", "session_scheduled", {
        "session_id": "s1", "kind": "on_site", "starts_at": "2026-11-24T01:00:00Z",
        "ends_at": "2026-11-24T02:00:00Z", "mediator_id": "m1"}))
    case = wait_for(lambda: (c := routing.db.cases.find_one({"_id": court["case_id"]}))
                    and clock_status(c, "first_feedback") == "met" and c, message="the session to count as feedback")
    assert clock_status(case, "classification") == "met"
    publish(routing, event_about(court, "mediation", "agreement_reached", {
        "agreement_id": "a1", "confirmation_requested": True, "agreement_hash": "h", "court_referred": True}))
    case = held(routing, court, outcome="agreement")
    assert case["state"] == "ended" and clock_status(case, "presuit") == "met"
    assert clock_status(case, "resolve") == "met"

    publish(routing, event_about(wage, "mediation", "mediation_failed", {"reason": "企业拒绝调解"}))
    held(routing, wage, mediation_outcome="failed")
    publish(routing, event_about(wage, "court_bridge", "case_filed", {
        "court_id": "140106-court", "track": "priority", "docket_number": "(2026)晋0106民初123号"}))
    case = held(routing, wage, outcome="filed")
    assert case["filed"]["docket_number"] == "(2026)晋0106民初123号"
    publish(routing, event_about(wage, "intake", "rating_submitted", {"score": 2}))
    publish(routing, event_about(wage, "mediation", "followup_recorded", {
        "followup_id": "f1", "visit_number": 1, "state": "stable", "green": True}))
    case = wait_for(lambda: (c := routing.db.cases.find_one({"_id": wage["case_id"]})) and c.get("rating")
                    and clock_status(c, "followup") == "met" and c, message="the rating and the visit")
    assert case["rating"]["score"] == 2
    publish(routing, event_about(wage, "intake", "case_closed", {"final_status": "closed",
                                                                 "closed_at": "2026-11-30T00:00:00Z"}))
    case = held(routing, wage, state="closed")
    assert all(clock["status"] in ("met", "stopped") for clock in case["clocks"])
    kpi = routing.get("/api/v1/reports/kpi?jurisdiction=140106&period=day", auth=DISPATCHER).json()["kpis"]
    assert kpi["presuit_success_rate"] == 1.0 and kpi["counts"]["filed"] == 1 and kpi["satisfaction"] == 2.0


def test_an_event_about_a_case_routing_never_received_is_retried_then_dead_lettered(start_service):
    routing = start_service(RoutingService, ROUTING_SWEEP_SECONDS=3600)
    stranger = registered()
    publish(routing, event_about(stranger, "mediation", "agreement_reached", {
        "agreement_id": "a1", "confirmation_requested": False, "agreement_hash": "h"}))
    parked = wait_for(lambda: drain(routing.config["AMQP_URI"], dead_letter_queue_name("routing")), timeout=10,
                      message="the dead letter")
    assert "not known to routing" in parked[0].headers["x-onestop-error"]
    assert routing.db.cases.count_documents({}) == 0


def test_the_accept_route_and_the_sweeper_share_the_clock(start_service):
    routing = start_service(RoutingService, **FAST)
    envelope = registered()
    publish(routing, envelope)
    held(routing, envelope)
    advance(routing, minutes=20)
    response = routing.post(f"/api/v1/routing/cases/{envelope['case_code']}/accept", auth=HRSS)
    assert response.status_code == 200
    advance(routing, hours=2)
    with entrypoint_hook(routing.container, "sweep_sla") as sweep:
        sweep()
    case = routing.db.cases.find_one({"_id": envelope["case_id"]})
    first = [c for c in case["clocks"] if c["name"] == "first_contact"][0]
    assert first["on_time"] is True and first["raised"] == {} and case["colour"] == "none"
    assert emitted(routing, "sla_warning") == []


def test_one_case_the_sweeper_cannot_process_does_not_hold_back_the_others(start_service):
    routing = start_service(RoutingService, ROUTING_SWEEP_SECONDS=3600)
    broken_due = datetime(2026, 1, 1, tzinfo=UTC)  # earlier than any real case: swept first
    routing.db.cases.insert_one({"_id": "broken", "case_code": "140106-260101-LB-0001-X", "next_check_at": broken_due,
                                 "version": 1})
    envelope = registered()
    publish(routing, envelope)
    held(routing, envelope)
    advance(routing, minutes=31)
    with entrypoint_hook(routing.container, "sweep_sla") as sweep:
        sweep()
    assert [w["data"]["colour"] for w in emitted(routing, "sla_warning")] == ["blue", "yellow"]
    broken = routing.db.cases.find_one({"_id": "broken"})
    now = clock(routing).now()
    # put off (a minute, then two, four … up to an hour) so it no longer heads every batch; counted
    assert broken["sweep_failures"] == 1 and now < broken["next_check_at"] <= now + timedelta(seconds=60)
    assert metric(routing, "onestop_sla_sweep_failures_total") == 1
    with entrypoint_hook(routing.container, "sweep_sla") as sweep:
        sweep()  # not due yet: not tried, not counted again
    assert metric(routing, "onestop_sla_sweep_failures_total") == 1
    advance(routing, minutes=2)
    with entrypoint_hook(routing.container, "sweep_sla") as sweep:
        sweep()
    broken = routing.db.cases.find_one({"_id": "broken"})
    assert broken["sweep_failures"] == 2 and broken["next_check_at"] > clock(routing).now() + timedelta(seconds=90)
    assert metric(routing, "onestop_sla_sweep_failures_total") == 2


def test_a_batch_of_broken_cases_does_not_starve_the_healthy_ones(start_service):
    routing = start_service(RoutingService, ROUTING_SWEEP_SECONDS=3600)
    early = datetime(2026, 1, 1, tzinfo=UTC)
    routing.db.cases.insert_many([{"_id": f"broken-{n}", "case_code": f"broken-{n}", "next_check_at": early,
                                   "version": 1} for n in range(SWEEP_BATCH)])
    envelope = registered()
    publish(routing, envelope)
    held(routing, envelope)
    advance(routing, minutes=25)
    with entrypoint_hook(routing.container, "sweep_sla") as sweep:
        sweep()  # the whole batch is broken cases: each is put off
        sweep()  # so the next sweep reaches the healthy case
    assert [w["data"]["colour"] for w in emitted(routing, "sla_warning")] == ["blue"]
    assert metric(routing, "onestop_sla_sweep_failures_total") == SWEEP_BATCH


def test_a_courts_extension_moves_the_presuit_clock_once(start_service):
    routing = start_service(RoutingService, ROUTING_SWEEP_SECONDS=3600)
    referral = {"court_id": "140106-court", "referral_id": "R-9", "batch_id": "B-2", "deadline": "2026-12-23T00:00:00Z"}
    court = registered(channel="court_referral", court_referral=referral, people=2, flags=(), category="lending")
    publish(routing, court)
    held(routing, court)
    extension = {"court_id": "140106-court", "referral_id": "R-9", "previous_deadline": "2026-12-23T00:00:00Z",
                 "deadline": "2027-01-07T00:00:00Z", "reason": "双方同意延长调解期限十五日"}
    publish(routing, event_about(court, "court_bridge", "referral_extended", extension))
    case = wait_for(lambda: (c := routing.db.cases.find_one({"_id": court["case_id"]})) and c["presuit_extensions"]
                    and c, message="the extension to be applied")
    presuit = [c for c in case["clocks"] if c["name"] == "presuit"][-1]
    assert presuit["deadline"] == datetime(2027, 1, 7, tzinfo=UTC) and presuit["status"] == "running"
    entry = [h for h in case["history"] if h["action"] == "presuit_extended"]
    assert len(entry) == 1 and entry[0]["details"]["reason"] == "双方同意延长调解期限十五日"
    assert entry[0]["actor"] == "event:court_bridge.referral_extended"
    audit = routing.db.audit_log.find_one({"action": "case.presuit_extend"})
    assert audit["case_code"] == court["case_code"]
    view = routing.get(f"/api/v1/routing/cases/{court['case_code']}", auth=DISPATCHER).json()
    assert view["deadlines"]["presuit"] == "2027-01-07T00:00:00Z"

    # told again under another event id (a resend): nothing changes twice
    version = case["version"]
    publish(routing, event_about(court, "court_bridge", "referral_extended", extension))
    wait_for(lambda: routing.db.inbox.count_documents({}) == 3, message="the resend to be consumed")
    again = routing.db.cases.find_one({"_id": court["case_id"]})
    assert again["version"] == version and len(again["presuit_extensions"]) == 1
    assert routing.db.audit_log.count_documents({"action": "case.presuit_extend"}) == 1


def test_an_extension_of_a_referral_the_case_does_not_hold_is_dead_lettered(start_service):
    routing = start_service(RoutingService, ROUTING_SWEEP_SECONDS=3600)
    wage = registered()
    publish(routing, wage)
    held(routing, wage)
    publish(routing, event_about(wage, "court_bridge", "referral_extended", {
        "court_id": "140106-court", "referral_id": "R-404", "previous_deadline": "2026-12-23T00:00:00Z",
        "deadline": "2027-01-07T00:00:00Z", "reason": "延长"}))
    parked = wait_for(lambda: drain(routing.config["AMQP_URI"], dead_letter_queue_name("routing")), timeout=15,
                      message="the dead letter")
    assert "not held for referral R-404" in parked[0].headers["x-onestop-error"]
    assert routing.db.cases.find_one({"_id": wage["case_id"]})["history"][-1]["action"] != "presuit_extended"
