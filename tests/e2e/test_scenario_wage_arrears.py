"""Scenario 1: a walk-in wage-arrears dispute of 90 workers in 迎泽区 — registered, complex, the
departments summoned and reporting, a joint mediation, an agreement, judicial confirmation
granted by the court, shown on public progress, and rated by the applicant."""

import io

from pypdf import PdfReader

from tests.support.infra import wait_for
from tests.support.scenarios import (
    DISPATCHER,
    case_file,
    file_status,
    notifications,
    register,
    routed,
    session_now,
    unit_token,
)

APPLICANT_PHONE = "13812340090"
WAGES = {
    "channel": "walk_in", "jurisdiction": "140106", "category": "labour",
    "summary": "某建筑公司拖欠90名农民工工资约180万元，工人情绪激动",
    "description": "90名工人来访反映某建筑工程公司拖欠2026年下半年工资，多次讨薪未果，欲到区政府聚集。",
    "parties": [
        {"role": "applicant", "kind": "person", "name": "王建国", "id_number": "140106198001011234",
         "phone": APPLICANT_PHONE, "address": "太原市迎泽区某小区"},
        {"role": "respondent", "kind": "organisation", "name": "晋南建筑工程有限公司", "id_number": None,
         "phone": "03512345678", "address": None},
    ],
    "people_involved": 90, "amount": 1800000, "occurred_at": "2026-10-15", "attachments": [],
}
TERMS = ["晋南建筑工程有限公司于2026年12月31日前向90名工人支付拖欠工资共计人民币1800000元。",
         "工人代表王建国负责核对工资清单并组织工人签收。",
         "双方就本纠纷再无其他争议。"]


def labour_mediator(system) -> dict:
    """A mediator of the labour committee on duty all day, every day (the scenario runs at any hour)."""
    every_day = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    answer = system.post("mediation", "/api/v1/mediators", {
        "name": "刘强", "type": "industry", "specialities": ["labour"], "jurisdictions": ["140106"],
        "unit": "140106:committee:labour", "organisation": "迎泽区劳动争议人民调解委员会",
        "working_hours": [{"days": every_day, "start": "00:00", "end": "23:59"}]}, auth=DISPATCHER)
    assert answer.status_code == 201, answer.text
    return answer.json()


def joint_mediation_room(system) -> dict:
    answer = system.post("mediation", "/api/v1/rooms", {
        "name": "联合调处室", "kind": "on_site", "jurisdiction": "140106", "unit": "140106:centre",
        "location": "中心三楼", "capacity": 30, "equipment": ["录音录像"]}, auth=DISPATCHER)
    assert answer.status_code == 201, answer.text
    return answer.json()


def test_a_mass_wage_dispute_goes_from_the_window_to_a_confirmed_agreement_and_a_rating(system):
    registered_before = system.metric("intake", "onestop_cases_registered_total", channel="walk_in")
    granted_before = system.metric("court_bridge", "onestop_court_confirmations_total", result="granted")

    created = register(system, WAGES)
    code = created["case_code"]
    assert created["status"] == "registered" and created["duplicate_of"] is None
    assert "mass_dispute" in created["risk_flags"]

    # routing: complex, at the county centre, 人社 leading, the departments summoned
    view = routed(system, code, tier="complex")
    assert view["level"] == "county" and view["unit"] == "140106:centre"
    assert view["lead_department"] == "140106:hrss"
    summons = wait_for(lambda: routed(system, code)["summons"], timeout=30, message="the summons")
    assert {s["department"] for s in summons} >= {"140106:hrss"}
    for each in summons:
        answer = system.post("routing", f"/api/v1/summons/{each['summons_id']}/ack", {"note": "已到中心报到"},
                             auth=unit_token(each["department"]))
        assert answer.status_code == 200, answer.text
    view = routed(system, code)
    assert all(s["acknowledged_at"] for s in view["summons"])
    accepted = system.post("routing", f"/api/v1/routing/cases/{code}/accept", {"note": "中心签收，组建专班"},
                           auth=DISPATCHER)
    assert accepted.status_code == 200, accepted.text

    # mediation: the file opened on routing's request; a joint session in the centre, now
    wait_for(lambda: system.get("mediation", f"/api/v1/mediations/{code}", auth=DISPATCHER).status_code == 200,
             timeout=30, message="the mediation file to open")
    mediator, room = labour_mediator(system), joint_mediation_room(system)
    starts, ends = session_now()
    booked = system.post("mediation", f"/api/v1/mediations/{code}/sessions", {
        "kind": "on_site", "room_id": room["room_id"], "mediator_id": mediator["mediator_id"],
        "starts_at": starts, "ends_at": ends, "expected_attendees": 12}, auth=DISPATCHER)
    assert booked.status_code == 201, booked.text
    session_id = booked.json()["session_id"]
    parties = case_file(system, code)["parties"]
    attendance = system.post("mediation", f"/api/v1/mediations/{code}/sessions/{session_id}/attendance", {
        "parties": [{"party_id": p["party_id"], "role": p["role"], "present": True} for p in parties],
        "departments": [{"unit": s["department"], "present": True} for s in view["summons"]]}, auth=DISPATCHER)
    assert attendance.status_code == 200, attendance.text
    outcome = system.post("mediation", f"/api/v1/mediations/{code}/outcome", {
        "type": "agreement", "terms": TERMS, "amount": 1800000, "performance_deadline": "2026-12-31",
        "confirmation_requested": True}, auth=DISPATCHER)
    assert outcome.status_code == 201, outcome.text
    document = system.get("mediation", f"/api/v1/mediations/{code}/agreement", auth=DISPATCHER)
    assert document.headers["Content-Type"] == "application/pdf"
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(document.content)).pages)
    assert code in text and "王建国" in text and "1800000" in text.replace(",", "")

    # court_bridge applies for judicial confirmation; the court grants it with a ruling number
    def ruled():
        answer = system.get("court_bridge", f"/api/v1/court/cases/{code}", auth=DISPATCHER)
        body = answer.json() if answer.status_code == 200 else {}
        confirmation = body.get("confirmation") or {}
        return confirmation if confirmation.get("state") == "granted" else None
    confirmation = wait_for(ruled, timeout=60, message="the court's ruling on the confirmation")
    assert confirmation["ruling_number"]
    confirmed = file_status(system, code, "confirmed")
    texts = [entry["text"] for entry in confirmed["timeline"]]
    assert any("司法确认" in text for text in texts)

    # the applicant follows it by code and phone tail, masked, then rates it
    progress = system.get("intake", f"/api/v1/public/progress/{code}?phone_tail={APPLICANT_PHONE[-4:]}")
    assert progress.status_code == 200, progress.text
    public = progress.json()
    assert public["status"] == "confirmed" and any("司法确认" in e["text"] for e in public["timeline"])
    shown = progress.text
    assert APPLICANT_PHONE not in shown and "王建国" not in shown and "140106198001011234" not in shown
    rating = system.post("intake", f"/api/v1/public/cases/{code}/rating",
                         {"phone_tail": APPLICANT_PHONE[-4:], "score": 5, "comment": "工资拿到了，感谢中心"})
    assert rating.status_code in (200, 201), rating.text
    again = system.post("intake", f"/api/v1/public/cases/{code}/rating",
                        {"phone_tail": APPLICANT_PHONE[-4:], "score": 1, "comment": "再评一次"})
    assert again.status_code == 409, again.text

    # who was told what
    def sent():
        return {(n["kind"], n["recipient"]["kind"]) for n in notifications(system, code) if n["status"] == "sent"}
    wanted = {("case_received", "party"), ("summons", "unit"), ("session_scheduled", "party"),
              ("agreement_reached", "party"), ("confirmation_granted", "party")}
    wait_for(lambda: wanted <= sent(), timeout=60, message="receipt, summons, session, agreement and ruling notices",
             explain=lambda: sorted(sent()))
    receipts = [n for n in notifications(system, code) if n["kind"] == "case_received" and n["channel"] == "sms"]
    assert len(receipts) == 1 and APPLICANT_PHONE not in str(receipts)
    assert any(code in call.body.get("text", str(call.body)) for call in system.gateway.received("/sms"))

    # and the figures moved
    assert system.metric("intake", "onestop_cases_registered_total", channel="walk_in") == registered_before + 1
    assert system.metric("court_bridge", "onestop_court_confirmations_total", result="granted") == \
        granted_before + 1
