"""Routing's HTTP routes: the case view, lifecycle actions, summons, board, reports, directory."""

import json

import pytest
import requests
from nameko.standalone.rpc import ClusterRpcProxy

from services.common.case_codes import format_code
from services.routing.service import RoutingService
from tests.support.broker import publish_event
from tests.support.infra import wait_for
from tests.support.routing_support import DISPATCHER, HRSS, LEADER, advance, emitted, metric, registered

MARKET = {"roles": ("department",), "jurisdictions": ("140106",), "agency": "140106:market", "sub": "market-clerk"}
HOUSING = {"roles": ("department",), "jurisdictions": ("140106",), "agency": "140106:housing", "sub": "zjj"}
OTHER_COUNTY = {"roles": ("dispatcher",), "jurisdictions": ("140105",), "agency": "140105:centre"}
EVERYWHERE = {"roles": ("dispatcher",), "jurisdictions": ("140000", "620000", "360000")}


@pytest.fixture
def routing(start_service):
    return start_service(RoutingService, ROUTING_SWEEP_SECONDS=3600)


def seed(routing, **changes) -> tuple[dict, dict]:
    envelope = registered(**changes)
    publish_event(routing.config["AMQP_URI"], envelope)
    path = f"/api/v1/routing/cases/{envelope['case_code']}"
    response = wait_for(lambda: (r := routing.get(path, auth=EVERYWHERE)).status_code == 200 and r,
                        message="routing to hold the case")
    return envelope, response.json()


def post(routing, envelope, action, body=None, auth=DISPATCHER):
    return routing.post(f"/api/v1/routing/cases/{envelope['case_code']}/{action}", body, auth=auth)


def assert_error(response, status, code=None):
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "message", "fields"}
    if code:
        assert body["error"] == code
    return body


def stored(routing, envelope):
    return routing.db.cases.find_one({"_id": envelope["case_id"]})


def test_the_case_view_has_what_design_5_promises(routing):
    envelope, view = seed(routing)
    for key in ("case_id", "case_code", "tier", "level", "unit", "lead_department", "departments", "colour",
                "deadlines", "summons", "rule", "history"):
        assert key in view
    assert view["case_id"] == envelope["case_id"] and view["tier"] == "complex" and view["colour"] == "none"
    assert view["lead_department"] == "140106:hrss" and view["unit_name"] == "迎泽区社会治安综合治理中心"
    assert view["rule"]["rule_id"] == "complex.mass_dispute" and view["rule"]["reason"]
    summons = view["summons"][0]
    assert set(summons) >= {"summons_id", "department", "report_by", "acknowledged_at"}
    compact = envelope["case_code"].replace("-", "").lower()
    assert routing.get(f"/api/v1/routing/cases/{compact}", auth=DISPATCHER).json()["case_id"] == envelope["case_id"]


def test_unknown_foreign_and_malformed_codes(routing):
    envelope, _ = seed(routing)
    unknown = format_code("140106261123LB9999")
    assert_error(routing.get(f"/api/v1/routing/cases/{unknown}", auth=DISPATCHER), 404, "not_found")
    mistyped = unknown[:-1] + ("0" if unknown[-1] != "0" else "1")
    assert_error(routing.get(f"/api/v1/routing/cases/{mistyped}", auth=DISPATCHER), 400, "invalid_case_code")
    assert_error(routing.get(f"/api/v1/routing/cases/{envelope['case_code']}", auth=OTHER_COUNTY), 404)
    assert_error(routing.get("/api/v1/routing/cases/nonsense", auth=DISPATCHER), 400, "invalid_case_code")
    assert_error(routing.get(f"/api/v1/routing/cases/{envelope['case_code']}"), 401, "token_missing")


def test_accept_then_resolve_with_events_and_audit(routing):
    envelope, _ = seed(routing)
    accepted = post(routing, envelope, "accept", auth=HRSS)
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["state"] == "accepted"
    case = stored(routing, envelope)
    assert case["state"] == "accepted" and case["accepted_by"] == "hrss-clerk"
    assert [c["status"] for c in case["clocks"] if c["name"] in ("first_contact", "sign")] == ["met", "met"]
    event = emitted(routing, "case_accepted", envelope["case_id"])[0]
    assert event["data"]["unit"] == "140106:centre" and event["data"]["actor"] == "hrss-clerk"
    audit = routing.db.audit_log.find_one({"action": "case.accept"})
    assert audit["case_code"] == envelope["case_code"] and audit["actor"]["sub"] == "hrss-clerk"

    version = stored(routing, envelope)["version"]
    assert_error(post(routing, envelope, "accept", auth=HRSS), 422, "invalid_transition")
    assert stored(routing, envelope)["version"] == version
    resolved = post(routing, envelope, "resolve", {"note": "企业已分期支付欠薪"}, auth=HRSS)
    assert resolved.status_code == 200 and resolved.json()["state"] == "resolved"
    assert emitted(routing, "case_resolved", envelope["case_id"])[0]["data"]["reason"] == "企业已分期支付欠薪"
    assert_error(post(routing, envelope, "resolve", auth=HRSS), 422, "invalid_transition")


def test_wrong_unit_wrong_county_and_wrong_role_are_refused_and_change_nothing(routing):
    envelope, _ = seed(routing)
    assert_error(post(routing, envelope, "accept", auth=MARKET), 403, "unit_forbidden")
    assert_error(post(routing, envelope, "accept", auth=OTHER_COUNTY), 403, "jurisdiction_forbidden")
    assert_error(post(routing, envelope, "accept", auth={"roles": ("mediator",), "jurisdictions": ("140106",)}),
                 403, "role_forbidden")
    assert_error(post(routing, envelope, "leader-assign", {}, auth=HRSS), 403, "role_forbidden")
    assert stored(routing, envelope)["state"] == "assigned" and stored(routing, envelope)["version"] == 1
    assert emitted(routing, "case_accepted") == []


@pytest.mark.parametrize("body,field", [
    ({"reason": "不归我们管"}, "suggested_unit"),
    ({"reason": "x", "suggested_unit": "140106:housing", "urgent": True}, "urgent"),
    ({"reason": "", "suggested_unit": "140106:housing"}, "reason"),
    ({"reason": "x", "suggested_unit": "140106:nowhere"}, "suggested_unit"),
    ({"reason": "x", "suggested_unit": "140105:housing"}, "suggested_unit"),
    ({"reason": "x", "suggested_unit": "140106:committee:labour"}, "suggested_unit"),
])
def test_a_bad_return_is_400_naming_the_field(routing, body, field):
    envelope, _ = seed(routing, category="consumer", people=1, flags=(), amount=None)
    body = assert_error(post(routing, envelope, "return", body, auth=MARKET), 400, "validation_failed")
    assert field in body["fields"]
    assert stored(routing, envelope)["returns"] == 0


def test_malformed_bodies_are_400(routing):
    envelope, _ = seed(routing)
    url = f"{routing.base_url}/api/v1/routing/cases/{envelope['case_code']}/escalate"
    headers = {**routing.headers(**DISPATCHER), "Content-Type": "application/json"}
    for data, code in ((b"{oops", "invalid_json"), (b"[1]", "validation_failed"),
                       (json.dumps({"$set": {"state": "resolved"}}).encode(), "validation_failed")):
        assert_error(requests.post(url, data=data, headers=headers, timeout=5), 400, code)
    assert stored(routing, envelope)["escalation"]["steps"] == 0


def test_return_reroutes_and_counts_against_routing_quality(routing):
    envelope, view = seed(routing, category="consumer", people=1, flags=(), amount=None)
    assert view["unit"] == "140106:market" and view["tier"] == "simple"
    response = post(routing, envelope, "return", {"reason": "实为物业服务纠纷", "suggested_unit": "140106:housing"},
                    auth=MARKET)
    assert response.status_code == 200, response.text
    assert response.json()["unit"] == "140106:housing" and response.json()["returns"] == 1
    assert emitted(routing, "case_returned")[0]["data"] == {
        "unit": "140106:market", "actor": "market-clerk", "reason": "实为物业服务纠纷",
        "suggested_unit": "140106:housing"}
    assert [e["data"]["unit"] for e in emitted(routing, "case_assigned")] == ["140106:market", "140106:housing"]
    assert metric(routing, "onestop_cases_returned_total") == 1
    assert metric(routing, "onestop_routing_assignments_total", tier="simple", level="county") == 2
    assert post(routing, envelope, "accept", auth=HOUSING).status_code == 200
    assert_error(post(routing, envelope, "accept", auth=MARKET), 403, "unit_forbidden")


def test_dispatch_from_the_triage_queue(routing):
    envelope, view = seed(routing, jurisdiction="140106999")
    assert view["triage"] and view["rule"]["rule_id"] == "triage.ambiguous_location"
    assert_error(post(routing, envelope, "dispatch", {"unit": "140106001:office", "reason": "x"}, auth=HRSS), 403)
    response = post(routing, envelope, "dispatch", {"unit": "140106001:office", "reason": "核实为柳巷街道"})
    assert response.status_code == 200, response.text
    assert (response.json()["unit"], response.json()["triage"]) == ("140106001:office", False)
    assert len(emitted(routing, "departments_summoned", envelope["case_id"])) == 1
    assert_error(post(routing, envelope, "dispatch", {"unit": "140106001:office", "reason": "again"}), 400)


def test_escalate_leader_assign_tags_pause_resume_feedback(routing):
    envelope, _ = seed(routing)
    escalated = post(routing, envelope, "escalate", {"reason": "工人聚集，情绪激动"}, auth=LEADER)
    assert escalated.status_code == 200 and escalated.json()["supervision"]["unit"] == "140100:centre"
    assert emitted(routing, "case_escalated")[0]["data"]["to_unit"] == "140100:centre"
    assert metric(routing, "onestop_escalations_total") == 1

    lead = post(routing, envelope, "leader-assign", {"instruction": "区领导包案，三日内化解"}, auth=LEADER)
    assert lead.status_code == 200 and lead.json()["leader"]["leader"] == "leader-1"
    assert emitted(routing, "leader_assigned")[0]["data"] == {"leader": "leader-1",
                                                              "instruction": "区领导包案，三日内化解"}

    tags = post(routing, envelope, "tags", {"add": ["key_project", "petition_risk"]})
    assert tags.json()["tags"] == ["key_project", "petition_risk"]
    assert_error(post(routing, envelope, "tags", {"add": ["vip"]}), 400)

    paused = post(routing, envelope, "pause", {"reason": "等待劳动监察调取工资台账", "clocks": ["resolve"]}, auth=HRSS)
    assert {c["name"]: c["status"] for c in paused.json()["clocks"]}["resolve"] == "paused"
    assert "resolve" not in paused.json()["deadlines"]
    assert post(routing, envelope, "resume", auth=HRSS).status_code == 200
    assert_error(post(routing, envelope, "resume", auth=HRSS), 422)

    feedback = post(routing, envelope, "feedback", {"note": "已电话告知工人代表进展"}, auth=HRSS)
    assert {c["name"]: c["status"] for c in feedback.json()["clocks"]}["first_feedback"] == "met"
    actions = [entry["action"] for entry in stored(routing, envelope)["history"]]
    assert actions[-6:] == ["escalated", "leader_assigned", "tagged", "paused", "resumed", "feedback"]


def test_summons_acknowledged_on_time_then_late_once_each(routing):
    envelope, view = seed(routing)
    by_department = {s["department"]: s["summons_id"] for s in view["summons"]}
    hrss = routing.post(f"/api/v1/summons/{by_department['140106:hrss']}/ack", auth=HRSS)
    assert hrss.status_code == 200, hrss.text
    assert hrss.json()["on_time"] is True and hrss.json()["status"] == "acknowledged"
    event = emitted(routing, "summons_acknowledged")[0]
    assert event["data"]["department"] == "140106:hrss" and event["data"]["on_time"] is True
    assert_error(routing.post(f"/api/v1/summons/{by_department['140106:hrss']}/ack", auth=HRSS), 422)
    assert_error(routing.post(f"/api/v1/summons/{by_department['140106:police']}/ack", auth=HRSS), 403,
                 "unit_forbidden")
    assert_error(routing.post("/api/v1/summons/nope/ack", auth=HRSS), 404)
    assert_error(routing.post(f"/api/v1/summons/{by_department['140106:police']}/ack", auth=OTHER_COUNTY), 403,
                 "jurisdiction_forbidden")

    advance(routing, minutes=45)  # past every department's 20-40 minute band
    late = routing.post(f"/api/v1/summons/{by_department['140106:police']}/ack", auth=DISPATCHER)
    assert late.json()["on_time"] is False
    assert metric(routing, "onestop_summons_total", on_time="true") == 1
    assert metric(routing, "onestop_summons_total", on_time="false") == 1
    summons = {s["department"]: s for s in routing.get(f"/api/v1/routing/cases/{envelope['case_code']}",
                                                      auth=DISPATCHER).json()["summons"]}
    assert summons["140106:police"]["acknowledged_at"] and summons["140106:police"]["on_time"] is False


def test_the_board_is_scoped_to_the_callers_jurisdictions(routing):
    first, _ = seed(routing)
    seed(routing, jurisdiction="140105", category="family", people=1, flags=(), amount=None)
    board = routing.get("/api/v1/board", auth=DISPATCHER).json()
    assert board["open"]["total"] == 1 and board["open"]["by_unit"][0]["unit"] == "140106:centre"
    assert len(board["summons_outstanding"]) == 6 and board["overdue"] == []
    city = routing.get("/api/v1/board", auth=LEADER).json()
    assert city["open"]["total"] == 2
    narrowed = routing.get("/api/v1/board?jurisdiction=140105", auth=LEADER).json()
    assert narrowed["open"]["total"] == 1 and narrowed["summons_outstanding"] == []
    assert_error(routing.get("/api/v1/board?jurisdiction=140105", auth=DISPATCHER), 403, "jurisdiction_forbidden")
    assert_error(routing.get("/api/v1/board?jurisdiction=14", auth=DISPATCHER), 400)
    advance(routing, hours=2)
    overdue = routing.get("/api/v1/board", auth=DISPATCHER).json()["overdue"]
    assert overdue[0]["case_code"] == first["case_code"] and overdue[0]["clock"] == "first_contact"
    assert overdue[0]["overdue_minutes"] >= 89


def test_kpi_and_heatmap_reports(routing):
    wage, _ = seed(routing)
    seed(routing, jurisdiction="140105001", category="family", people=1, flags=(), amount=None)
    seed(routing, jurisdiction="140105", category="family", people=1, flags=(), amount=None)
    post(routing, wage, "accept", auth=HRSS)
    post(routing, wage, "resolve", auth=HRSS)
    kpi = routing.get("/api/v1/reports/kpi?jurisdiction=140100&period=day", auth=LEADER)
    assert kpi.status_code == 200, kpi.text
    body = kpi.json()
    assert body["name"] == "太原市" and body["population"] == 5_304_061
    assert body["kpis"]["registered"] == 3 and body["kpis"]["resolved"] == 1
    assert body["kpis"]["resolution_rate"] == round(1 / 3, 4) and body["kpis"]["response_rate"] == round(1 / 3, 4)
    labour = routing.get("/api/v1/reports/kpi?jurisdiction=140106&category=labour&period=week", auth=DISPATCHER)
    assert labour.json()["kpis"]["registered"] == 1 and labour.json()["kpis"]["resolution_rate"] == 1.0
    heat = routing.get("/api/v1/reports/heatmap?jurisdiction=140100&period=month", auth=LEADER).json()
    assert {(c["jurisdiction"], c["category"], c["count"]) for c in heat["cells"]} == {
        ("140106", "labour", 1), ("140105", "family", 2)}
    township = routing.get("/api/v1/reports/heatmap?jurisdiction=140105&period=month", auth=LEADER).json()
    assert {a["jurisdiction"] for a in township["areas"]} == {"140105", "140105001"}
    past = routing.get("/api/v1/reports/kpi?jurisdiction=140100&period=day&date=2020-01-01", auth=LEADER)
    assert past.json()["kpis"]["registered"] == 0
    assert_error(routing.get("/api/v1/reports/kpi?period=year", auth=LEADER), 400)
    assert_error(routing.get("/api/v1/reports/kpi?category=astrology", auth=LEADER), 400)
    assert_error(routing.get("/api/v1/reports/heatmap?jurisdiction=620100", auth=LEADER), 403)


def test_the_directory_over_http_and_rpc(routing):
    departments = routing.get("/api/v1/directory/departments?jurisdiction=140106", auth=HRSS)
    assert departments.status_code == 200
    items = departments.json()["items"]
    assert all(item["unit_id"].startswith("140106:") for item in items) and len(items) == 18
    categories = routing.get("/api/v1/directory/categories", auth=HRSS).json()["items"]
    assert {c["code"]: c["lead_department"] for c in categories}["labour"] == "hrss"
    jurisdictions = routing.get("/api/v1/directory/jurisdictions", auth=HRSS).json()["items"]
    assert {"140100", "620102", "620104", "620702", "360900"} <= {j["code"] for j in jurisdictions}
    assert_error(routing.get("/api/v1/directory/rooms", auth=HRSS), 404)
    assert_error(routing.get("/api/v1/directory/categories"), 401)

    with ClusterRpcProxy({"AMQP_URI": routing.config["AMQP_URI"]}, timeout=10) as cluster:
        unit = cluster.routing.lookup_unit("140106:hrss")
        assert unit["name"] == "迎泽区人力资源和社会保障局" and unit["contacts"]["inbox_id"] == "140106:hrss"
        assert unit["leaders"][0]["phone"]
        assert cluster.routing.lookup_unit("140106:nowhere") is None
        assert len(cluster.routing.directory("categories")) == 16


def test_openapi_lists_routings_routes(routing):
    paths = routing.get("/api/v1/openapi.json").json()["paths"]
    for path in ("/api/v1/routing/cases/{code}", "/api/v1/routing/cases/{code}/accept",
                 "/api/v1/routing/cases/{code}/return", "/api/v1/routing/cases/{code}/resolve",
                 "/api/v1/routing/cases/{code}/escalate", "/api/v1/routing/cases/{code}/leader-assign",
                 "/api/v1/routing/cases/{code}/retier", "/api/v1/routing/cases/{code}/dispatch",
                 "/api/v1/summons/{summons_id}/ack", "/api/v1/board", "/api/v1/reports/kpi",
                 "/api/v1/reports/heatmap", "/api/v1/directory/{kind}"):
        assert path in paths, path


def test_routings_metrics_exist_from_the_start(routing):
    def exposed():
        text = routing.get("/metrics").text
        return all(line in text for line in ('onestop_escalations_total 0.0', 'onestop_cases_returned_total 0.0',
                                             'onestop_open_cases{colour="red"} 0.0'))
    wait_for(exposed, message="routing's metrics at zero")


@pytest.mark.parametrize("path", ["/api/v1/reports/kpi", "/api/v1/reports/heatmap"])
@pytest.mark.parametrize("query", [
    "date=9999-12-31", "date=0001-01-01", "period=month&date=9999-12-05", "period=week&date=0001-01-01",
    "period=day&date=3000-01-01", "date=1899-12-31", "date=2026-02-30", "date=2026-11-23T00:00", "date=",
])
def test_report_dates_out_of_range_or_malformed_are_400_not_500(routing, path, query):
    body = assert_error(routing.get(f"{path}?jurisdiction=140100&{query}", auth=LEADER), 400, "validation_failed")
    assert "date" in body["fields"]


def test_the_edges_of_the_report_range_still_answer(routing):
    for query in ("period=day&date=1900-01-01", "period=week&date=1900-01-01", "period=month&date=2999-12-31"):
        response = routing.get(f"/api/v1/reports/kpi?jurisdiction=140100&{query}", auth=LEADER)
        assert response.status_code == 200, response.text
        assert response.json()["kpis"]["registered"] == 0


@pytest.mark.parametrize("path,query", [
    ("/api/v1/board", "jurisdiction=1401000000000"), ("/api/v1/board", "jurisdiction=%24where"),
    ("/api/v1/board", "colour=red"), ("/api/v1/reports/kpi", "period="), ("/api/v1/reports/kpi", "category=x"),
    ("/api/v1/reports/heatmap", "jurisdiction=14010"), ("/api/v1/directory/departments", "jurisdiction=abc"),
])
def test_other_bad_query_parameters_are_400(routing, path, query):
    assert_error(routing.get(f"{path}?{query}", auth=LEADER), 400, "validation_failed")


def test_a_dispatcher_re_tiers_a_case_intake_could_not_know_spans_departments(routing):
    envelope, view = seed(routing, category="consumer", people=1, flags=(), amount=None)
    assert (view["tier"], view["unit"]) == ("simple", "140106:market")
    body = {"add": ["cross_department"], "reason": "涉及市场监管、住建两部门职责"}
    assert_error(post(routing, envelope, "retier", body, auth=MARKET), 403, "role_forbidden")
    assert_error(post(routing, envelope, "retier", {"add": ["mass_dispute"], "reason": "x"}), 400, "validation_failed")
    assert_error(post(routing, envelope, "retier", {"add": ["cross_department"]}), 400, "validation_failed")
    assert_error(post(routing, envelope, "retier", body, auth=OTHER_COUNTY), 403, "jurisdiction_forbidden")
    assert stored(routing, envelope)["version"] == 1
    response = post(routing, envelope, "retier", body)
    assert response.status_code == 200, response.text
    moved = response.json()
    assert (moved["tier"], moved["unit"], moved["marks"]) == ("complex", "140106:centre", ["cross_department"])
    assert moved["rule"]["rule_id"] == "complex.cross_department"
    summoned = emitted(routing, "departments_summoned", envelope["case_id"])
    assert {s["department"] for s in summoned[0]["data"]["summons"]} == {"140106:market", "140106:justice"}
    assert [e["data"]["unit"] for e in emitted(routing, "case_assigned")] == ["140106:market", "140106:centre"]
    audit = routing.db.audit_log.find_one({"action": "case.retier"})
    assert audit["details"] == {"add": ["cross_department"], "remove": []} and audit["actor"]["roles"]
    assert routing.db.summons.count_documents({"case_id": envelope["case_id"]}) == 2
    assert_error(post(routing, envelope, "retier", body), 400, "validation_failed")  # already marked


def test_an_accepted_case_is_transferred_and_its_new_unit_must_sign(routing):
    envelope, _ = seed(routing)
    assert post(routing, envelope, "accept", auth=HRSS).status_code == 200
    assert_error(post(routing, envelope, "dispatch", {"unit": "140106:housing"}), 400, "validation_failed")
    assert_error(post(routing, envelope, "dispatch", {"unit": "140106:housing", "reason": "x"}, auth=HRSS), 403)
    response = post(routing, envelope, "dispatch", {"unit": "140106:housing", "reason": "实为建设工程款纠纷"})
    assert response.status_code == 200, response.text
    view = response.json()
    assert (view["state"], view["unit"], view["lead_department"]) == ("assigned", "140106:housing", "140106:housing")
    assert view["rule"]["rule_id"] == "manual.transfer" and view["returns"] == 0
    assert metric(routing, "onestop_cases_returned_total") == 0
    assert emitted(routing, "case_assigned")[-1]["data"]["unit"] == "140106:housing"
    assert routing.db.audit_log.find_one({"action": "case.dispatch"})["details"] == {"unit": "140106:housing"}
    running = {c["id"] for c in view["clocks"] if c["status"] == "running"}
    assert {"first_contact#2", "sign#2", "resolve"} <= running
    assert_error(post(routing, envelope, "resolve", auth=HOUSING), 422, "invalid_transition")  # sign first
    assert post(routing, envelope, "accept", auth=HOUSING).status_code == 200
    assert_error(post(routing, envelope, "accept", auth=HRSS), 403, "unit_forbidden")
    assert post(routing, envelope, "resolve", auth=HOUSING).json()["state"] == "resolved"
    assert_error(post(routing, envelope, "dispatch", {"unit": "140106:hrss", "reason": "再转"}), 422)
