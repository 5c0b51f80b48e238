"""Scenario 6: a case sent to the wrong department is returned, re-routed to the right one,
accepted there, and the return counts against routing quality in the KPIs."""

from tests.support.infra import wait_for
from tests.support.scenarios import DISPATCHER, file_status, notifications, register, routed, unit_token

MISFILED = {
    "channel": "hotline", "jurisdiction": "140106", "category": "property_management",
    "summary": "小区底商健身房跑路，预付卡无法退费，业主称物业不管",
    "description": "来电反映小区底商健身房关门，预付卡余额无法退还，认为物业公司应负责。",
    "parties": [{"role": "applicant", "kind": "person", "name": "周敏", "phone": "13812349876", "id_number": None,
                 "address": None}],
    "people_involved": 1, "amount": 3600, "occurred_at": "2026-11-20", "attachments": [],
}


def test_a_case_returned_by_the_wrong_department_is_rerouted_and_counted(system):
    kpi_route = "/api/v1/reports/kpi?jurisdiction=140106&period=day"
    before = system.get("routing", kpi_route, auth=DISPATCHER).json()["kpis"]
    created = register(system, MISFILED)
    code = created["case_code"]
    routed(system, code, unit="140106:housing")

    returned = system.post("routing", f"/api/v1/routing/cases/{code}/return",
                           {"reason": "系预付式消费纠纷，不属物业管理，应由市场监管部门处理",
                            "suggested_unit": "140106:market"},
                           auth=unit_token("140106:housing"))
    assert returned.status_code == 200, returned.text
    view = routed(system, code, unit="140106:market")
    assert view["returns"] == 1
    assert any("return" in str(entry) for entry in view["history"])

    accepted = system.post("routing", f"/api/v1/routing/cases/{code}/accept", {}, auth=unit_token("140106:market"))
    assert accepted.status_code == 200, accepted.text
    file_status(system, code, "accepted")

    after = system.get("routing", kpi_route, auth=DISPATCHER).json()["kpis"]
    assert after["counts"]["returned"] == before["counts"].get("returned", 0) + 1
    assert after["return_rate"] is not None and after["return_rate"] > 0
    assert system.metric("routing", "onestop_cases_returned_total") >= 1

    def returned_notice():
        return [n for n in notifications(system, code) if n["kind"] == "case_returned" and n["status"] == "sent"]
    assert wait_for(returned_notice, timeout=30, message="the return registered with the county centre")
