"""Scenario 4: a threat of an extreme act in an online report about a school place: critical
risk, red at once, the command board shows it, and the leaders are told."""

from tests.support.infra import wait_for
from tests.support.scenarios import LEADER, file_status, notifications, register, routed

THREAT = {
    "channel": "online", "jurisdiction": "140105", "category": "education",
    "summary": "孩子入学学位问题多次反映无果，称再不解决就从教育局楼上跳下去",
    "description": "网上报事：家长反映孩子划片入学学位被占，多次反映无人答复，留言称“再不解决我就跳楼，同归于尽”。",
    "parties": [{"role": "applicant", "kind": "person", "name": "孙丽", "phone": "13611112222", "id_number": None,
                 "address": None}],
    "people_involved": 1, "amount": None, "occurred_at": None, "attachments": [],
}


def test_a_threat_of_an_extreme_act_is_red_at_once_on_the_board_and_leaders_are_told(system):
    created = register(system, THREAT)
    code = created["case_code"]
    assert created["severity"] == "critical"
    assert set(created["risk_flags"]) & {"self_harm_threat", "violence_threat", "extreme_act"}

    view = routed(system, code, colour="red")
    assert view["tier"] == "complex"

    def on_the_board():
        board = system.get("routing", "/api/v1/board?jurisdiction=140105", auth=LEADER)
        assert board.status_code == 200, board.text
        return code in board.text and board.json()
    board = wait_for(on_the_board, timeout=30, message="the case on the command board")
    assert board

    def leaders_told():
        told = [n for n in notifications(system, code) if n["kind"] == "warning_red"
                and n["recipient"]["kind"] == "leader" and n["status"] == "sent"]
        return told
    told = wait_for(leaders_told, timeout=30, message="a red warning delivered to a leader")
    assert {n["channel"] for n in told} & {"email", "inbox", "sms"}
    mails = wait_for(lambda: [m for m in system.smtp.messages if code in system.smtp.text(m)
                              and "督办" in system.smtp.text(m) + str(m["Subject"])],
                     timeout=30, message="the red supervision notice by real e-mail")
    assert mails

    file_status(system, code, "assigned")
    assert system.metric("routing", "onestop_sla_warnings_total", colour="red") >= 1
    assert system.metric("intake", "onestop_risk_flags_total") >= 1
