"""Scenario 2: a court's batch of pre-suit referrals (诉前委派). Most settle in mediation, one
fails and is filed fast-track with a docket number, one runs out its 30 days — and the court
hears back about every one of them."""


import requests

from tests.support.infra import wait_for
from tests.support.scenarios import DISPATCHER, case_file, session_now

COURT_ID = "140106:court"
COURT = {"roles": ("court",), "jurisdictions": ("140106",), "agency": COURT_ID, "sub": "clerk@court"}
EVERY_DAY = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


def referral(ref: str, index: int, **changes) -> dict:
    item = {
        "channel": "court_referral", "channel_ref": ref, "jurisdiction": "140106003", "category": "lending",
        "cause": "private_lending", "summary": f"民间借贷纠纷：原告{index}诉被告{index}",
        "description": "迎泽区人民法院立案前委派调解的民间借贷纠纷。",
        "parties": [{"role": "applicant", "kind": "person", "name": f"原告{index}", "phone": f"1370000{index:04d}",
                     "id_number": None, "address": None},
                    {"role": "respondent", "kind": "person", "name": f"被告{index}", "phone": f"1360000{index:04d}",
                     "id_number": None, "address": None}],
        "people_involved": 2, "amount": 20000 + index * 1000, "occurred_at": "2026-06-01", "attachments": [],
    }
    item.update(changes)
    return item


def sim(system, path: str) -> dict:
    return requests.get(f"http://127.0.0.1:{system.simulator_port}{path}", timeout=10).json()


def held_session(system, code: str, index: int) -> None:
    """A session now, with its own mediator and room, that both parties attended."""
    mediator = system.post("mediation", "/api/v1/mediators", {
        "name": f"特邀调解员{index}", "type": "judicial", "specialities": ["lending"], "jurisdictions": ["140106"],
        "unit": "140106:committee:lending", "organisation": "迎泽区人民法院特邀调解组织",
        "working_hours": [{"days": EVERY_DAY, "start": "00:00", "end": "23:59"}]}, auth=DISPATCHER).json()
    room = system.post("mediation", "/api/v1/rooms", {
        "name": f"诉调对接室{index}", "kind": "on_site", "jurisdiction": "140106", "unit": "140106:centre",
        "location": "中心一楼", "capacity": 6}, auth=DISPATCHER).json()
    starts, ends = session_now()
    wait_for(lambda: system.get("mediation", f"/api/v1/mediations/{code}", auth=DISPATCHER).status_code == 200,
             timeout=30, message=f"the mediation file of {code}")
    booked = system.post("mediation", f"/api/v1/mediations/{code}/sessions", {
        "kind": "on_site", "room_id": room["room_id"], "mediator_id": mediator["mediator_id"],
        "starts_at": starts, "ends_at": ends}, auth=DISPATCHER)
    assert booked.status_code == 201, booked.text
    parties = case_file(system, code)["parties"]
    attended = system.post("mediation", f"/api/v1/mediations/{code}/sessions/{booked.json()['session_id']}/attendance",
                           {"parties": [{"party_id": p["party_id"], "role": p["role"], "present": True}
                                        for p in parties], "departments": []}, auth=DISPATCHER)
    assert attended.status_code == 200, attended.text


def test_a_court_batch_settles_mostly_one_is_filed_fast_track_one_runs_out_and_the_court_hears_all(
        system, court_clock):
    refs = [f"（2026）晋0106民诉前调{n}号" for n in range(101, 106)]
    body = {"court_id": COURT_ID, "batch_id": "YZ-E2E-1", "items": [referral(ref, i) for i, ref in enumerate(refs)]}
    answer = system.post("court_bridge", "/api/v1/court/referrals", body, auth=COURT)
    assert answer.status_code == 200, answer.text
    results = answer.json()["results"]
    assert [r["result"] for r in results] == ["accepted"] * 5
    codes = {r["channel_ref"]: r["case_code"] for r in results}
    again = system.post("court_bridge", "/api/v1/court/referrals", body, auth=COURT).json()
    assert [r["result"] for r in again["results"]] == ["duplicate"] * 5  # a resend creates nothing
    settle, fail, lapse = refs[:3], refs[3], refs[4]

    for index, ref in enumerate(settle):
        held_session(system, codes[ref], index)
        amount = 20000 + index * 1000
        outcome = system.post("mediation", f"/api/v1/mediations/{codes[ref]}/outcome", {
            "type": "agreement", "terms": [f"被告{index}于2027年1月31日前向原告{index}归还借款{amount}元。"],
            "amount": amount, "performance_deadline": "2027-01-31", "confirmation_requested": False},
            auth=DISPATCHER)
        assert outcome.status_code == 201, outcome.text
    held_session(system, codes[fail], 3)
    failed = system.post("mediation", f"/api/v1/mediations/{codes[fail]}/outcome", {
        "type": "failed", "reason": "no_agreement", "wants_litigation": True,
        "undisputed_facts": "双方对借款事实及金额无异议，对还款期限分歧较大。"}, auth=DISPATCHER)
    assert failed.status_code == 201, failed.text

    def court_record(code):
        answer = system.get("court_bridge", f"/api/v1/court/cases/{code}", auth=DISPATCHER)
        return answer.json() if answer.status_code == 200 else {}

    def filed():
        filing = court_record(codes[fail]).get("filing") or {}
        return filing if filing.get("state") == "filed" else None
    filing = wait_for(filed, timeout=60, interval=0.5, message="the failed referral filed with a docket number")
    assert filing["track"] == "fast_track" and filing["docket_number"]
    wait_for(lambda: case_file(system, codes[fail])["status"] == "filed", timeout=30, message="intake's file: filed")

    # the fifth referral's 30 days run out (court_bridge's drill clock moves a month on)
    try:
        court_clock.write_text(str(31 * 24 * 3600))

        def told() -> dict:
            return {f["referral_id"]: f["outcome"] for f in sim(system, "/admin/state")["feedback"]
                    if f["referral_id"] in refs}
        wait_for(lambda: len(told()) == 5, timeout=90, interval=0.5, message="the court told about all five",
                 explain=told)
    finally:
        court_clock.write_text("0")
    assert told() == {**{ref: "agreement" for ref in settle}, fail: "failed", lapse: "deadline_passed"}
    lapsed = wait_for(lambda: (f := case_file(system, codes[lapse])) and any(
        "届满" in entry["text"] for entry in f["timeline"]) and f, timeout=30, message="intake told of the lapse")
    assert any(entry["text"] == "已向委派法院反馈调解结果：诉前调解期限届满" for entry in lapsed["timeline"])
    state = sim(system, "/admin/state")
    [at_court] = [f for f in state["filings"] if f["body"]["case_code"] == codes[fail]]
    assert at_court["docket_number"] == filing["docket_number"] and at_court["body"]["track"] == "fast_track"
    assert at_court["body"]["mediation_record"]["undisputed_facts"].startswith("双方对借款事实")
    assert system.metric("court_bridge", "onestop_court_referrals_total", result="accepted") >= 5
    assert system.metric("court_bridge", "onestop_court_filings_total", track="fast_track") >= 1
