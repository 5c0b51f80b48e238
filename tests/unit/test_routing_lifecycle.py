"""The routing case: assignment, lifecycle transitions, signals that stop clocks, the sweeper's
colours and escalations."""

from datetime import UTC, datetime, timedelta

import pytest
import yaml

from services.routing.dependencies import DEFAULT_DIRECTORY, DEFAULT_RULES, load_reference
from services.routing.domain import Reference
from services.routing.domain import case as cases
from services.routing.domain.decide import CaseFacts, decide

REF = load_reference(DEFAULT_DIRECTORY, DEFAULT_RULES)
T0 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # Monday 10:00 in Taiyuan


def facts(**changes) -> CaseFacts:
    values = {"case_id": "c1", "case_code": "140106-261123-LB-0001-X", "jurisdiction": "140106",
              "category": "labour", "channel": "walk_in", "registered_at": T0, "people_involved": 90,
              "risk_flags": ("mass_dispute",), "amount": 1_800_000}
    values.update(changes)
    return CaseFacts(**values)


def assigned(**changes) -> cases.Change:
    f = facts(**changes)
    return cases.assign_new(f, decide(f, REF.directory, REF.rules), T0, REF)


def events(change, event_type):
    return [data for kind, data in change.events if kind == event_type]


def clock(case, name):
    return [c for c in case["clocks"] if c["name"] == name][-1]


def sweep_at(case, minutes):
    return cases.sweep(case, T0 + timedelta(minutes=minutes), REF)


def test_the_wage_case_is_assigned_summoned_and_sent_to_mediation():
    change = assigned()
    case = change.case
    assert [kind for kind, _ in change.events] == ["case_assigned", "mediation_requested", "departments_summoned"]
    assignment = events(change, "case_assigned")[0]
    assert assignment["tier"] == "complex" and assignment["unit"] == "140106:centre"
    assert assignment["lead_department"] == "140106:hrss"
    assert assignment["rule"]["rule_id"] == "complex.mass_dispute"
    assert set(assignment["deadlines"]) == {"first_contact", "classification", "sign", "first_feedback", "resolve",
                                            "followup"}
    assert assignment["deadlines"]["first_contact"] == "2026-11-23T02:30:00Z"
    request = events(change, "mediation_requested")[0]
    assert request["committee"] == "140106:committee:labour" and request["deadline"] == "2026-12-02T02:00:00Z"
    summons = {s["department"]: s for s in events(change, "departments_summoned")[0]["summons"]}
    assert set(summons) == set(case["departments"])
    # Monday: 人社 and 住建 are stationed at the 迎泽 centre and report in 10 minutes; 总工会 is on call
    assert summons["140106:hrss"]["on_site"] and summons["140106:hrss"]["report_by"] == "2026-11-23T02:10:00Z"
    union = REF.directory.units["140106:trade_union"]
    assert not summons["140106:trade_union"]["on_site"]
    assert summons["140106:trade_union"]["report_by"] == cases.iso(T0 + timedelta(minutes=union.distance_minutes))
    assert case["colour"] == "none" and case["next_check_at"] == T0 + timedelta(minutes=24)
    assert change.assignments == [("complex", "county")]


def test_the_wage_case_turns_blue_yellow_red_and_climbs_one_rung_each_time():
    case = assigned().case
    assert sweep_at(case, 23).events == []
    seen = []
    for minutes, colour, rung, unit in ((25, "blue", "city", "140100:centre"),
                                        (31, "yellow", "inspection", "140100:inspection"),
                                        (61, "red", "discipline", "140100:discipline")):
        change = sweep_at(case, minutes)
        case = change.case
        assert [kind for kind, _ in change.events] == ["case_escalated", "sla_warning"]
        escalation, warning = events(change, "case_escalated")[0], events(change, "sla_warning")[0]
        assert (warning["colour"], warning["clock"], warning["rung"], warning["unit"]) == (
            colour, "first_contact", rung, unit)
        assert warning["level"] == "city"  # the rungs above the county backstop are city bodies
        assert escalation["to_rung"] == rung and escalation["to_unit"] == unit
        assert escalation["to_level"] == "city" and escalation["takes_over"] is False
        assert warning["reason"].startswith("30分钟内响应联系") and "2026-11-23 10:30" in warning["reason"]
        assert escalation["reason"] == f"{cases.COLOUR_NAMES[colour]}：{warning['reason']}"
        assert case["colour"] == colour and case["escalation"]["steps"] == len(seen) + 1
        assert {r["kind"] for r in change.records} == {"warning", "escalation"}
        seen.append((escalation["from_unit"], escalation["to_unit"]))
    assert seen[0][0] == "140106:centre" and seen[1][0] == seen[0][1] and seen[2][0] == seen[1][1]
    assert case["unit"] == "140106:centre"  # the county centre is the backstop: supervisors do not take it over
    assert sweep_at(case, 62).events == []


def test_a_grid_case_climbs_grid_community_township_county():
    case = assigned(jurisdiction="140106", grid="140106001001-01", category="neighbour", people_involved=1,
                    risk_flags=(), amount=None).case
    assert (case["tier"], case["unit"]) == ("simple", "grid:140106001001-01")
    units = []
    for minutes in (25, 31, 61):
        change = sweep_at(case, minutes)
        case = change.case
        units.append((case["level"], case["unit"]))
    assert units == [("community", "140106001001:committee"), ("township", "140106001:office"),
                     ("county", "140106:centre")]
    escalated = events(change, "case_escalated")[0]
    assert (escalated["from_level"], escalated["to_level"], escalated["takes_over"]) == ("township", "county", True)


def test_warnings_missed_while_down_are_raised_in_order_when_it_comes_back():
    case = assigned().case
    change = sweep_at(case, 90)
    warnings = events(change, "sla_warning")
    assert [w["colour"] for w in warnings] == ["blue", "yellow", "red"]
    assert len(events(change, "case_escalated")) == 3
    records = [r for r in change.records if r["kind"] == "warning"]
    assert [r["due_at"] for r in records] == [T0 + timedelta(minutes=m) for m in (24, 30, 60)]
    assert all(r["at"] == T0 + timedelta(minutes=90) for r in records)


def test_a_met_clock_stops_colouring_the_case_and_another_clocks_blue_escalates_once_more():
    case = sweep_at(assigned().case, 25).case
    accepted = cases.accept(case, T0 + timedelta(minutes=26), "clerk", None, REF).case
    assert accepted["colour"] == "none" and clock(accepted, "first_contact")["status"] == "met"
    assert clock(accepted, "sign")["status"] == "met"
    later = cases.sweep(accepted, T0 + timedelta(hours=20), REF)  # classification turns blue at 19.2 h
    assert [(w["colour"], w["clock"]) for w in events(later, "sla_warning")] == [("blue", "classification")]
    assert [e["to_rung"] for e in events(later, "case_escalated")] == ["inspection"]
    assert later.case["escalated"] == ["first_contact:blue", "classification:blue"]
    assert cases.sweep(later.case, T0 + timedelta(hours=20), REF).events == []


def test_a_grid_case_signed_on_time_still_escalates_when_its_resolve_clock_runs_out():
    case = assigned(grid="140106001001-01", category="neighbour", people_involved=1, risk_flags=(),
                    amount=None).case
    case = cases.accept(case, T0 + timedelta(minutes=10), "grid-worker", None, REF).case
    late = cases.sweep(case, T0 + timedelta(hours=25), REF)  # classification: blue at 19.2 h, yellow at 24 h
    assert [e["to_rung"] for e in events(late, "case_escalated")] == ["community", "township"]
    case = cases.record_feedback(late.case, T0 + timedelta(hours=26), "township-clerk", "已告知", REF).case
    assert case["colour"] == "none" and case["peak_colour"] == "yellow"
    deadline = clock(case, "resolve")["deadline"]
    overdue = cases.sweep(case, deadline + timedelta(minutes=1), REF)
    warnings = events(overdue, "sla_warning")
    assert [(w["colour"], w["clock"]) for w in warnings] == [("blue", "resolve"), ("yellow", "resolve")]
    assert [(e["to_rung"], e["takes_over"]) for e in events(overdue, "case_escalated")] == [
        ("county", True), ("city", False)]
    assert (overdue.case["unit"], overdue.case["supervision"]["unit"]) == ("140106:centre", "140100:centre")
    assert warnings[-1]["unit"] == "140100:centre"


def test_an_immediate_red_cases_later_overdue_clock_still_warns_and_escalates():
    case = assigned(immediate_red=True, severity="critical").case
    assert case["colour"] == "red" and case["escalation"]["steps"] == 0
    change = sweep_at(case, 25)
    assert [(w["colour"], w["clock"]) for w in events(change, "sla_warning")] == [("blue", "first_contact")]
    escalated = events(change, "case_escalated")
    assert [(e["from_unit"], e["to_unit"]) for e in escalated] == [("140106:centre", "140100:centre")]
    assert change.case["colour"] == "red"  # the critical risk keeps it red until resolved


def test_nothing_escalates_twice_for_the_same_clock_colour():
    case = sweep_at(assigned().case, 25).case
    assert case["escalation"]["steps"] == 1
    assert sweep_at(case, 25).events == [] and sweep_at(case, 29).events == []
    paused = cases.pause(case, T0 + timedelta(minutes=26), "clerk", "等待", ["first_contact"], REF).case
    resumed = cases.resume(paused, T0 + timedelta(minutes=40), "clerk", REF).case
    assert cases.sweep(resumed, T0 + timedelta(minutes=43), REF).events == []  # blue is not raised again
    yellow = cases.sweep(resumed, T0 + timedelta(minutes=45), REF)  # 4 minutes were left at the pause
    assert [w["colour"] for w in events(yellow, "sla_warning")] == ["yellow"]
    assert len(events(yellow, "case_escalated")) == 1 and yellow.case["escalation"]["steps"] == 2
    assert cases.sweep(yellow.case, T0 + timedelta(minutes=45), REF).events == []
    assert yellow.case["escalated"] == ["first_contact:blue", "first_contact:yellow"]


def test_the_ladder_caps_escalation_but_every_warning_is_still_raised():
    change = sweep_at(assigned().case, 61)  # first contact: city, inspection, discipline — the top
    later = cases.sweep(change.case, T0 + timedelta(hours=20), REF)
    warnings = events(later, "sla_warning")
    assert sorted((w["clock"], w["colour"]) for w in warnings) == [("classification", "blue"), ("sign", "blue")]
    assert events(later, "case_escalated") == [] and {w["unit"] for w in warnings} == {"140100:discipline"}


def test_a_re_routed_case_escalates_afresh_from_its_new_unit():
    case = assigned(category="consumer", people_involved=1, risk_flags=(), amount=None).case
    case = sweep_at(case, 25).case  # blue: the market bureau's case goes up to the county centre
    assert case["unit"] == "140106:centre" and case["escalated"] == ["first_contact:blue"]
    returned = cases.return_case(case, T0 + timedelta(minutes=27), "centre", "实为物业纠纷", "140106:housing", REF)
    case = returned.case
    assert case["escalated"] == [] and case["escalation"]["rung"] == "county" and case["unit"] == "140106:housing"
    change = cases.sweep(case, T0 + timedelta(minutes=27 + 25), REF)  # first_contact#2 turns blue
    assert [w["clock"] for w in events(change, "sla_warning")] == ["first_contact"]
    assert [e["to_unit"] for e in events(change, "case_escalated")] == ["140106:centre"]


def test_immediate_red_is_red_at_once_and_names_the_handling_unit():
    change = assigned(immediate_red=True, severity="critical")
    warning = events(change, "sla_warning")[0]
    assert warning["colour"] == "red" and warning["clock"] == "critical_risk"
    assert warning["unit"] == "140106:centre"
    assert change.case["colour"] == change.case["peak_colour"] == "red"
    assert events(change, "case_escalated") == []
    resolved = cases.resolve(cases.accept(change.case, T0, "c", None, REF).case, T0, "c", None, REF).case
    assert resolved["colour"] == "none"


def test_accept_then_resolve_and_what_is_not_allowed():
    case = assigned().case
    with pytest.raises(cases.TransitionNotAllowed):
        cases.resolve(case, T0, "clerk", None, REF)
    accepted = cases.accept(case, T0 + timedelta(minutes=5), "clerk", None, REF)
    assert events(accepted, "case_accepted")[0] == {"unit": "140106:centre", "actor": "clerk", "reason": None,
                                                    "suggested_unit": None}
    with pytest.raises(cases.TransitionNotAllowed):
        cases.accept(accepted.case, T0, "clerk", None, REF)
    with pytest.raises(cases.TransitionNotAllowed):
        cases.return_case(accepted.case, T0, "clerk", "不归我管", "140106:housing", REF)
    done = cases.resolve(accepted.case, T0 + timedelta(days=1), "clerk", "已协调支付", REF)
    assert done.case["state"] == "resolved" and not done.case["open"]
    assert clock(done.case, "resolve")["on_time"] is True
    assert clock(done.case, "followup")["status"] == "running"  # the follow-up visit is still owed
    assert case["state"] == "assigned"  # the input was not touched


def test_a_return_reroutes_counts_and_restarts_the_units_clocks():
    case = assigned(category="consumer", people_involved=1, risk_flags=(), amount=None).case
    assert case["unit"] == "140106:market"
    change = cases.return_case(case, T0 + timedelta(minutes=20), "market-clerk", "属于物业纠纷", "140106:housing", REF)
    new = change.case
    assert change.returned and new["returns"] == 1 and new["unit"] == "140106:housing"
    assert new["lead_department"] == "140106:housing" and new["rule"]["rule_id"] == "manual.return"
    returned = events(change, "case_returned")[0]
    assert returned == {"unit": "140106:market", "actor": "market-clerk", "reason": "属于物业纠纷",
                        "suggested_unit": "140106:housing"}
    assert events(change, "case_assigned")[0]["unit"] == "140106:housing"
    first = [c for c in new["clocks"] if c["name"] == "first_contact"]
    assert [c["status"] for c in first] == ["stopped", "running"] and first[1]["id"] == "first_contact#2"
    assert first[1]["deadline"] == T0 + timedelta(minutes=50)
    assert clock(new, "resolve")["started_at"] == T0  # the citizen's 13710 clock keeps running
    with pytest.raises(cases.InvalidInput):
        cases.return_case(case, T0, "x", "y", "140106:nowhere", REF)
    with pytest.raises(cases.InvalidInput):
        cases.return_case(case, T0, "x", "y", "140105:housing", REF)  # another county's department


def test_dispatch_takes_a_case_out_of_triage_and_only_then_requests_mediation():
    change = assigned(jurisdiction="140106999")
    case = change.case
    assert case["triage"] and case["unit"] == "140106:centre"
    assert [kind for kind, _ in change.events] == ["case_assigned"]
    dispatched = cases.dispatch(case, T0, "dispatcher", "140106001:office", "核实为柳巷街道辖区", REF)
    new = dispatched.case
    assert not new["triage"] and new["unit"] == "140106001:office" and new["level"] == "township"
    assert new["location"]["township"] == "140106001" and new["location"]["problem"] is None
    assert [kind for kind, _ in dispatched.events] == ["case_assigned", "mediation_requested", "departments_summoned"]
    assert new["committee"] == "140106:committee:labour" and new["returns"] == 0


def test_escalate_by_hand_and_the_top_of_the_ladder():
    case = assigned().case
    for rung in ("city", "inspection", "discipline"):
        change = cases.escalate(case, T0, "leader", "群众情绪激动", REF)
        case = change.case
        assert events(change, "case_escalated")[0]["to_rung"] == rung
    with pytest.raises(cases.TransitionNotAllowed, match="top"):
        cases.escalate(case, T0, "leader", "再升", REF)


def test_a_department_handled_case_escalates_to_its_county_centre_first():
    case = assigned(category="consumer", people_involved=1, risk_flags=(), amount=None).case
    change = cases.escalate(case, T0, "clerk", "需要统筹", REF)
    assert (change.case["level"], change.case["unit"]) == ("county", "140106:centre")


def test_pause_and_resume_hold_the_warnings_back():
    case = assigned().case
    paused = cases.pause(case, T0 + timedelta(minutes=10), "clerk", "等待劳动监察调取工资台账", None, REF).case
    assert paused["next_check_at"] is None
    assert cases.sweep(paused, T0 + timedelta(hours=3), REF).events == []
    with pytest.raises(cases.TransitionNotAllowed):
        cases.pause(paused, T0, "clerk", "again", None, REF)
    resumed = cases.resume(paused, T0 + timedelta(hours=3), "clerk", REF).case
    assert clock(resumed, "first_contact")["deadline"] == T0 + timedelta(hours=3, minutes=20)
    only = cases.pause(case, T0, "clerk", "等待", ["resolve"], REF).case
    assert clock(only, "resolve")["status"] == "paused" and clock(only, "first_contact")["status"] == "running"


def test_mediation_and_court_outcomes_stop_the_clocks():
    case = cases.accept(assigned().case, T0, "clerk", None, REF).case
    agreed = cases.outcome(case, T0 + timedelta(days=2), "agreement", "event:mediation.agreement_reached", REF).case
    assert agreed["state"] == "ended" and agreed["outcome"] == "agreement" and agreed["resolved_at"]
    assert all(clock(agreed, name)["status"] == "met" for name in ("classification", "first_feedback", "resolve"))
    failed = cases.outcome(case, T0, "failed", "event:mediation.mediation_failed", REF).case
    filed = cases.outcome(failed, T0 + timedelta(days=3), "filed", "event:court_bridge.case_filed", REF,
                          court_id="c", track="priority", docket_number="(2026)晋0106民初1号").case
    assert filed["outcome"] == "filed" and filed["mediation_outcome"] == "failed"
    assert filed["filed"]["track"] == "priority"


def test_a_court_referral_runs_the_30_day_clock_until_mediation_ends():
    referral_deadline = T0 + timedelta(days=30)
    change = assigned(channel="court_referral", court_referred=True, people_involved=2, risk_flags=(),
                      category="lending", referral_deadline=referral_deadline)
    case = change.case
    assert clock(case, "presuit")["deadline"] == referral_deadline
    assert events(change, "mediation_requested")[0]["deadline"] == cases.iso(referral_deadline)
    assert events(change, "mediation_requested")[0]["court_referred"] is True
    ended = cases.outcome(case, T0 + timedelta(days=10), "withdrawn", "event", REF).case
    assert clock(ended, "presuit")["status"] == "met" and clock(ended, "presuit")["on_time"]


def test_followup_feedback_and_session_signals():
    case = assigned().case
    assert clock(cases.record_feedback(case, T0, "clerk", "已电话告知", REF).case, "first_feedback")["status"] == "met"
    session = cases.session_scheduled(case, T0, REF).case
    assert clock(session, "classification")["status"] == "met"
    visited = cases.followup_recorded(case, T0, {"followup_id": "f1", "visit_number": 1}, REF).case
    assert clock(visited, "followup")["status"] == "met" and visited["followups"][0]["followup_id"] == "f1"


def test_merge_and_close_stop_everything():
    case = assigned().case
    merged = cases.merged(case, T0, "140106-261123-LB-0002-X", REF).case
    assert merged["state"] == "merged" and not merged["open"] and merged["next_check_at"] is None
    assert all(c["status"] == "stopped" for c in merged["clocks"])
    with pytest.raises(cases.TransitionNotAllowed):
        cases.set_tags(merged, T0, "d", ["key_project"], [], REF)
    closed = cases.closed(case, T0, "closed", REF).case
    assert closed["state"] == "closed" and all(c["status"] == "stopped" for c in closed["clocks"])


def test_tags_leader_and_rating():
    case = assigned().case
    tagged = cases.set_tags(case, T0, "d", ["key_project", "petition_risk"], [], REF).case
    assert cases.set_tags(tagged, T0, "d", [], ["key_project"], REF).case["tags"] == ["petition_risk"]
    with pytest.raises(cases.InvalidInput):
        cases.set_tags(case, T0, "d", ["vip"], [], REF)
    lead = cases.leader_assign(case, T0, "leader-1", "leader:140106:centre:3", "三日内化解", REF)
    assert events(lead, "leader_assigned")[0] == {"leader": "leader:140106:centre:3", "instruction": "三日内化解"}
    assert cases.rated(case, T0, 5).case["rating"]["score"] == 5


def test_a_case_signed_for_can_be_transferred_and_the_new_unit_signs_afresh():
    case = cases.accept(assigned().case, T0 + timedelta(minutes=5), "centre-clerk", None, REF).case
    change = cases.dispatch(case, T0 + timedelta(hours=2), "dispatcher", "140106:hrss", "欠薪事实清楚，由人社局办理",
                            REF)
    moved = change.case
    assert (moved["state"], moved["unit"], moved["lead_department"]) == ("assigned", "140106:hrss", "140106:hrss")
    assert moved["accepted_at"] is None and moved["returns"] == 0 and not change.returned
    assert moved["rule"]["rule_id"] == "manual.transfer" and "转办" in moved["rule"]["reason"]
    assert [kind for kind, _ in change.events] == ["case_assigned"]  # mediation and summons were done already
    assert events(change, "case_assigned")[0]["unit"] == "140106:hrss"
    signs = [c for c in moved["clocks"] if c["name"] in ("first_contact", "sign")]
    assert [(c["id"], c["status"]) for c in signs] == [
        ("first_contact", "met"), ("sign", "met"), ("first_contact#2", "running"), ("sign#2", "running")]
    assert clock(moved, "first_contact")["deadline"] == T0 + timedelta(hours=2, minutes=30)
    assert clock(moved, "resolve")["started_at"] == T0  # the citizen's clock keeps running
    assert moved["history"][-1]["details"]["from_state"] == "accepted"
    signed = cases.accept(moved, T0 + timedelta(hours=2, minutes=10), "hrss-clerk", None, REF).case
    assert signed["state"] == "accepted" and clock(signed, "sign")["status"] == "met"
    done = cases.resolve(signed, T0 + timedelta(days=1), "hrss-clerk", None, REF).case
    with pytest.raises(cases.TransitionNotAllowed):
        cases.dispatch(done, T0 + timedelta(days=2), "dispatcher", "140106:centre", "再转", REF)


def test_re_tier_marks_what_intake_cannot_know_and_moves_the_case_up():
    case = assigned(category="consumer", people_involved=1, risk_flags=(), amount=None).case
    assert (case["tier"], case["unit"]) == ("simple", "140106:market")
    change = cases.retier(case, T0 + timedelta(hours=1), "dispatcher", ["cross_department"], [], "涉及市场监管与住建",
                          REF)
    new = change.case
    assert new["marks"] == ["cross_department"] and new["risk_flags"] == []
    assert (new["tier"], new["level"], new["unit"]) == ("complex", "county", "140106:centre")
    assert new["rule"]["rule_id"] == "complex.cross_department" and "涉及市场监管与住建" in new["rule"]["reason"]
    assert [kind for kind, _ in change.events] == ["case_assigned", "mediation_requested", "departments_summoned"]
    summoned = {s["department"] for s in events(change, "departments_summoned")[0]["summons"]}
    assert summoned == {"140106:market", "140106:justice"} == set(new["departments"])
    assert [entry["action"] for entry in new["history"]][-3:] == ["retiered", "reassigned", "summoned"]
    cross = cases.retier(new, T0 + timedelta(hours=2), "dispatcher", ["cross_region"], [], "涉及小店区", REF)
    assert (cross.case["level"], cross.case["unit"]) == ("city", "140100:centre")
    assert {s["department"] for s in events(cross, "departments_summoned")[0]["summons"]} == {"140106:petition"}
    back = cases.retier(new, T0 + timedelta(hours=3), "dispatcher", [], ["cross_department"], "核实为单一部门", REF)
    assert back.case["tier"] == "simple" and back.case["unit"] == "140106:centre"  # never moved down
    assert set(back.case["departments"]) == {"140106:market", "140106:justice"}  # summoned ones stay
    assert [kind for kind, _ in back.events] == ["case_assigned"]
    with pytest.raises(cases.InvalidInput, match="unknown marks"):
        cases.retier(case, T0, "d", ["mass_dispute"], [], "x", REF)  # intake's flag, not a dispatcher's mark
    with pytest.raises(cases.InvalidInput, match="already marked"):
        cases.retier(new, T0, "d", ["cross_department"], [], "x", REF)


def test_re_tier_of_a_triage_case_changes_the_tier_and_waits_for_the_dispatch():
    change = cases.retier(assigned(jurisdiction="140106999", people_involved=1, risk_flags=(), amount=None).case,
                          T0, "dispatcher", ["cross_department"], [], "多部门", REF)
    assert change.case["tier"] == "complex" and change.case["triage"] and change.case["unit"] == "140106:centre"
    assert [kind for kind, _ in change.events] == ["case_assigned"]
    dispatched = cases.dispatch(change.case, T0, "dispatcher", "140106001:office", "柳巷街道", REF)
    assert dispatched.case["lead_department"] == "140106:hrss"
    summons = events(dispatched, "departments_summoned")[0]["summons"]
    assert {s["department"] for s in summons} == set(dispatched.case["departments"]) >= {"140106:hrss"}


def test_the_presuit_clock_runs_from_the_courts_referral_when_its_deadline_says_so():
    court = {"channel": "court_referral", "court_referred": True, "people_involved": 2, "risk_flags": (),
             "category": "lending"}
    referred_earlier = assigned(**court, referral_deadline=T0 + timedelta(days=28)).case
    presuit = clock(referred_earlier, "presuit")
    assert presuit["started_at"] == T0 - timedelta(days=2) and presuit["deadline"] == T0 + timedelta(days=28)
    assert presuit["due"]["blue"] == T0 + timedelta(days=22)  # 80 % of the court's 30 days
    longer = clock(assigned(**court, referral_deadline=T0 + timedelta(days=45)).case, "presuit")
    assert longer["started_at"] == T0 and longer["deadline"] == T0 + timedelta(days=45)
    without = clock(assigned(**court).case, "presuit")
    assert without["started_at"] == T0 and without["deadline"] == T0 + timedelta(days=30)


def test_deadlines_of_a_case_assigned_on_the_eve_of_national_day():
    eve = datetime(2026, 9, 30, 2, 0, tzinfo=UTC)  # Wednesday 10:00 in Taiyuan; 1-7 October off
    f = facts(registered_at=eve, grid="140106001001-01", category="neighbour", people_involved=1, risk_flags=(),
              amount=None)
    change = cases.assign_new(f, decide(f, REF.directory, REF.rules), eve, REF)
    assert events(change, "case_assigned")[0]["deadlines"] == {
        "first_contact": "2026-09-30T02:30:00Z",   # 30 minutes, natural time
        "classification": "2026-10-01T02:00:00Z",  # 24 hours, holiday or not
        "sign": "2026-10-08T02:00:00Z",            # the first working day after the holiday
        "first_feedback": "2026-10-10T02:00:00Z",  # Saturday 10 October is a make-up working day
        "resolve": "2026-10-15T02:00:00Z",         # Sunday 11 October is not
        "followup": "2026-10-20T02:00:00Z",
    }
    blue = clock(change.case, "sign")["due"]["blue"]
    assert blue == datetime(2026, 10, 7, 21, 12, tzinfo=UTC)  # 80 % of the working day: 8 October 05:12


def test_resume_when_the_rules_no_longer_name_a_paused_clock():
    case = cases.pause(assigned().case, T0 + timedelta(hours=1), "clerk", "等待鉴定", ["first_feedback"], REF).case
    with open(DEFAULT_DIRECTORY, encoding="utf-8") as handle:
        directory = yaml.load(handle, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    with open(DEFAULT_RULES, encoding="utf-8") as handle:
        rules = yaml.safe_load(handle)
    del rules["clocks"]["first_feedback"]
    trimmed = Reference.from_data(directory, rules)
    resumed = cases.resume(case, T0 + timedelta(hours=2), "clerk", trimmed).case
    again = clock(resumed, "first_feedback")
    assert again["status"] == "running" and set(again["due"]) == {"blue", "yellow", "red"}  # default thresholds
    assert cases.resolve(cases.accept(resumed, T0, "c", None, trimmed).case, T0, "c", None, trimmed).case[
        "state"] == "resolved"


def test_a_courts_extension_moves_the_presuit_deadline_once():
    deadline = T0 + timedelta(days=30)
    case = assigned(channel="court_referral", court_referred=True, people_involved=2, risk_flags=(),
                    category="lending", referral_deadline=deadline,
                    referral={"court_id": "140106-court", "referral_id": "R-7", "batch_id": "B-1"}).case
    extension = {"court_id": "140106-court", "referral_id": "R-7", "previous_deadline": deadline,
                 "deadline": deadline + timedelta(days=15), "reason": "双方同意延长调解期限"}
    change = cases.referral_extended(case, T0 + timedelta(days=20), extension, "event:court_bridge.referral_extended",
                                     REF)
    moved = change.case
    assert clock(moved, "presuit")["deadline"] == deadline + timedelta(days=15)
    assert cases.deadlines(moved)["presuit"] == cases.iso(deadline + timedelta(days=15))
    assert moved["history"][-1]["action"] == "presuit_extended"
    assert moved["history"][-1]["details"]["reason"] == "双方同意延长调解期限"
    assert moved["presuit_extensions"][0]["previous_deadline"] == deadline
    assert cases.referral_extended(moved, T0 + timedelta(days=21), extension, "event", REF) is None
    with pytest.raises(cases.ReferralMismatch):
        cases.referral_extended(case, T0, {**extension, "referral_id": "R-8"}, "event", REF)
    with pytest.raises(cases.ReferralMismatch):
        cases.referral_extended(assigned().case, T0, extension, "event", REF)
