"""Scenario 3: a 110 non-police transfer about a neighbour feud is routed to the community,
accepted, resolved directly, put on the risk follow-up list, and two visits turn it green."""

from tests.support.infra import wait_for
from tests.support.scenarios import (
    DISPATCHER,
    file_status,
    notifications,
    register,
    routed,
    sms_state,
    unit_token,
    wait_sent,
)

COMMUNITY = "140106001001:committee"
FEUD = {
    "channel": "police_110", "channel_ref": "110-20261123-0457", "jurisdiction": "140106001001",
    "category": "neighbour", "summary": "楼上楼下噪音纠纷，双方发生推搡，民警现场劝离后推送",
    "description": "报警人称楼上住户深夜噪音扰民，双方争吵并发生推搡，民警到场后认为属非警务纠纷，推送综治中心。",
    "parties": [
        {"role": "applicant", "kind": "person", "name": "赵明", "phone": "13934561234", "id_number": None,
         "address": None},
        {"role": "respondent", "kind": "person", "name": "钱亮", "phone": "13934565678", "id_number": None,
         "address": None},
    ],
    "people_involved": 2, "amount": None, "occurred_at": "2026-11-22", "attachments": [],
}


def test_a_110_neighbour_feud_is_resolved_by_the_community_and_followed_up_until_green(system):
    created = register(system, FEUD)
    code = created["case_code"]
    view = routed(system, code, unit=COMMUNITY)
    assert view["tier"] == "simple" and view["level"] == "community"

    community = unit_token(COMMUNITY)
    assert system.post("routing", f"/api/v1/routing/cases/{code}/accept", {}, auth=community).status_code == 200
    resolved = system.post("routing", f"/api/v1/routing/cases/{code}/resolve", {"note": "当场调处，双方握手言和"},
                           auth=community)
    assert resolved.status_code == 200, resolved.text
    file_status(system, code, "resolved")

    def on_the_list():
        listed = system.get("mediation", "/api/v1/followups?jurisdiction=140106", auth=DISPATCHER).json()["items"]
        return next((f for f in listed if f["case_code"] == code), None)

    followup = wait_for(on_the_list, timeout=30, message="the feud on the risk follow-up list")
    assert followup["status"] == "open" and followup["planned_visits"] == 2
    for _ in range(2):
        answer = system.post("mediation", f"/api/v1/followups/{followup['followup_id']}/visits",
                             {"state": "stable", "satisfaction": 5, "method": "phone"}, auth=community)
        assert answer.status_code == 201, answer.text
    green = system.get("mediation", f"/api/v1/followups/{followup['followup_id']}", auth=DISPATCHER).json()
    assert green["status"] == "green" and green["visit_count"] == 2

    closed = file_status(system, code, "closed")
    texts = [entry["text"] for entry in closed["timeline"]]
    assert any("签收" in text for text in texts) and any("回访" in text for text in texts)
    assert {"police_110"} <= {report["channel"] for report in closed["reports"]}

    wait_sent(system, code, ("case_received", "inbox"), ("case_assigned", "inbox"), ("followup_visit", "inbox"))
    # the citizen's SMS settles: sent, or deferred to the morning in quiet hours
    wait_for(lambda: sms_state(system, code, "case_received") & {"sent", "deferred"}, timeout=30,
             message="the applicant's SMS to be sent or deferred",
             explain=lambda: sms_state(system, code, "case_received"))
    assert all("13934561234" not in str(n) for n in notifications(system, code))  # masked in the log
    assert system.metric("intake", "onestop_cases_registered_total", channel="police_110") >= 1
    assert system.metric("routing", "onestop_routing_assignments_total", tier="simple", level="community") >= 1
    assert system.metric("mediation", "onestop_mediation_followup_visits_total") >= 2
