"""Scenario 5: a case nobody handles turns blue, yellow and red, and climbs the ladder one level
at each step — grid, community, township — to the county centre's backstop (区级兜底)."""

from tests.e2e.conftest import DRILL_CATEGORY
from tests.support.infra import wait_for
from tests.support.scenarios import DISPATCHER, LEADER, case_file, notifications, register, routed

DUMPING = {
    "channel": "grid_report", "jurisdiction": "140106001001", "grid": "140106001001-01",
    "category": DRILL_CATEGORY, "summary": "小区旁空地有人夜间倾倒建筑垃圾，居民反映粉尘噪音扰民",
    "description": "网格员巡查上报：小区东侧空地近一周夜间有车辆倾倒建筑垃圾，居民多次反映无人处理。",
    "parties": [{"role": "applicant", "kind": "person", "name": "冯桂兰", "phone": "13700001111", "id_number": None,
                 "address": None}],
    "people_involved": 1, "amount": None, "occurred_at": None, "attachments": [],
}
LADDER = [("grid", "grid:140106001001-01"), ("community", "140106001001:committee"),
          ("township", "140106001:office"), ("county", "140106:centre")]


def test_a_case_nobody_answers_climbs_grid_community_township_county(system):
    warned_before = {colour: system.metric("routing", "onestop_sla_warnings_total", colour=colour)
                     for colour in ("blue", "yellow", "red")}
    escalated_before = system.metric("routing", "onestop_escalations_total")
    code = register(system, DUMPING)["case_code"]
    first = routed(system, code, unit=LADDER[0][1])
    assert (first["tier"], first["level"]) == ("simple", "grid")

    seen = []
    for colour, (level, unit) in zip(("blue", "yellow", "red"), LADDER[1:], strict=True):
        view = wait_for(lambda c=colour, u=unit: (v := routed(system, code)).get("colour") == c
                        and v["unit"] == u and v, timeout=60, interval=0.5,
                        message=f"{code} {colour} and escalated to {unit}")
        seen.append((view["colour"], view["level"], view["unit"]))
        assert view["level"] == level
    assert seen == [("blue", "community", LADDER[1][1]), ("yellow", "township", LADDER[2][1]),
                    ("red", "county", LADDER[3][1])]

    final = routed(system, code)
    escalations = [entry for entry in final["history"] if "escalat" in str(entry.get("kind", entry))]
    assert len(escalations) == 3

    def on_the_board():
        board = system.get("routing", "/api/v1/board?jurisdiction=140106", auth=LEADER)
        return board.status_code == 200 and code in board.text
    wait_for(on_the_board, timeout=30, message="the red case on the command board")

    def warned_and_told():
        sent = {n["kind"] for n in notifications(system, code) if n["status"] == "sent"}
        return {"warning_blue", "warning_yellow", "warning_red", "case_escalated"} <= sent
    wait_for(warned_and_told, timeout=30, message="each colour and each escalation notified")
    timeline = [entry["text"] for entry in case_file(system, code)["timeline"]]
    assert sum("已提级" in text for text in timeline) == 3
    assert all(any(label in text for text in timeline) for label in ("蓝色预警", "黄色交办", "红色督办"))

    for colour in ("blue", "yellow", "red"):
        assert system.metric("routing", "onestop_sla_warnings_total", colour=colour) >= warned_before[colour] + 1
    assert system.metric("routing", "onestop_escalations_total") == escalated_before + 3
    answer = system.get("routing", f"/api/v1/routing/cases/{code}", auth=DISPATCHER)
    assert answer.json()["colour"] == "red"
