"""Issue 3's "done when", on the real broker: the wage-arrears walk-in in 迎泽区 (140106) becomes one
case with a code, is flagged a mass dispute, shows in public progress by code and phone tail with
masked data; the grid worker's report of the same dispute merges into it."""

import json

from services.common.case_codes import canonical_case_code as parse_case_code
from services.intake.service import IntakeService
from services.routing.service import RoutingService
from tests.support.infra import wait_for
from tests.support.intake_bus import Capture
from tests.support.intake_samples import CLERK, GRID_REPORT_OF_THE_WAGE_ARREARS, case_payload

GRID_WORKER = {"roles": ("intake_clerk",), "jurisdictions": ("140106001",), "sub": "grid-worker-0032"}
SECRETS = ("王建国", "13812345678", "140106198001011234", "太原市迎泽区某小区", "某建筑工程有限公司")


def test_the_wage_arrears_dispute_is_one_case_from_two_inlets(start_service):
    intake = start_service(IntakeService)
    bus = Capture(intake.config["AMQP_URI"])

    walk_in = intake.post("/api/v1/cases", case_payload(), auth=CLERK)
    assert walk_in.status_code == 201
    case = walk_in.json()
    code = case["case_code"]
    assert parse_case_code(code) == code and code.startswith("140106-") and "-LB-" in code
    assert "mass_dispute" in case["risk_flags"] and case["status"] == "registered"

    public = intake.get(f"/api/v1/public/progress/{code}?phone_tail=5678")
    assert public.status_code == 200
    view = public.json()
    assert view["status"] == "registered" and view["timeline"][0]["text"].startswith("经来访登记受理")
    assert view["parties"][0]["name"] == "王**" and view["parties"][0]["phone"] == "138****5678"
    assert not any(secret in public.text for secret in SECRETS)
    assert intake.get(f"/api/v1/public/progress/{code}?phone_tail=1234").status_code == 404

    grid = intake.post("/api/v1/cases", GRID_REPORT_OF_THE_WAGE_ARREARS, auth=GRID_WORKER)
    assert grid.status_code == 201
    duplicate = grid.json()
    assert duplicate["outcome"] == "merged" and duplicate["duplicate_of"] == code

    registered = wait_for(lambda: bus.events("case_registered"))
    merged = wait_for(lambda: bus.events("case_merged"))
    assert [event["case_code"] for event in registered] == [code]
    assert merged[0]["case_code"] == code and merged[0]["data"]["duplicate_case_code"] == duplicate["case_code"]
    assert registered[0]["data"]["risk_flags"][0] == "mass_dispute"
    assert not any(secret in json.dumps(bus.events(), ensure_ascii=False) for secret in SECRETS)

    file = intake.get(f"/api/v1/cases/{code}", auth=CLERK).json()
    assert file["channels"] == ["walk_in", "grid_report"] and len(file["reports"]) == 2
    after = intake.get(f"/api/v1/public/progress/{code}?phone_tail=5678").json()
    assert after["timeline"][-1]["text"] == "同一纠纷另经网格员上报反映，已合并办理"
    assert intake.db.cases.count_documents({"status": {"$ne": "merged"}}) == 1


def test_routings_decisions_reach_the_public_timeline(start_service):
    """The loop across services: intake → routing (assigns) → intake's case file and public view."""
    routing = start_service(RoutingService)
    intake = start_service(IntakeService)
    code = intake.post("/api/v1/cases", case_payload(), auth=CLERK).json()["case_code"]

    def assigned():
        view = intake.get(f"/api/v1/public/progress/{code}?phone_tail=5678").json()
        return view if view["status"] != "registered" else None

    view = wait_for(assigned, timeout=20, message="routing's assignment to reach the case file")
    assert view["status"] in ("assigned", "accepted", "in_mediation")
    assert any(entry["text"].startswith("已分派至") for entry in view["timeline"])
    routed = routing.get(f"/api/v1/routing/cases/{code}",
                         auth={"roles": ("dispatcher",), "jurisdictions": ("140106",)}).json()
    assert routed["case_code"] == code
