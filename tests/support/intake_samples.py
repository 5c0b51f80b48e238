"""Reports as each inlet really sends them, for intake's tests."""

from __future__ import annotations

import copy

from tests.support.samples import case_payload

CLERK = {"roles": ("intake_clerk",), "jurisdictions": ("140106",)}
CITY_DISPATCHER = {"roles": ("dispatcher",), "jurisdictions": ("140100",)}

GRID_REPORT_OF_THE_WAGE_ARREARS = {
    "channel": "grid_report",
    "jurisdiction": "140106001003",
    "grid": "140106001003-02",
    "category": "labour",
    "summary": "网格员上报：某工地农民工欠薪纠纷",
    "description": "网格巡查发现某建筑工程公司工地门口有工人反映被拖欠工资，代表王建国留有联系电话。",
    "parties": [
        {"role": "applicant", "kind": "person", "name": "王建国", "id_number": None,
         "phone": "138 1234 5678", "address": None},
        {"role": "respondent", "kind": "organisation", "name": "某建筑工程有限公司",
         "id_number": None, "phone": None, "address": None},
    ],
    "people_involved": 95,
    "amount": None,
    "occurred_at": None,
    "attachments": [],
}


def person(name: str, phone: str | None, role: str = "applicant", id_number: str | None = None,
           address: str | None = None) -> dict:
    return {"role": role, "kind": "person", "name": name, "id_number": id_number, "phone": phone,
            "address": address}


def neighbour_dispute(index: int, **changes) -> dict:
    """A small, distinct dispute: its own people, so it never merges with another."""
    payload = {
        "channel": "hotline",
        "jurisdiction": "140106001002",
        "category": "neighbour",
        "summary": f"楼上漏水纠纷 {index}",
        "description": "楼上卫生间漏水导致楼下天花板受损，双方协商未果。",
        "parties": [person(f"申请人{index}", f"139{index:08d}"),
                    person(f"被申请人{index}", f"137{index:08d}", role="respondent")],
        "people_involved": 2,
        "amount": 3000,
        "occurred_at": "2026-11-01",
        "attachments": [],
    }
    payload.update(changes)
    return payload


def every_channel() -> dict[str, dict]:
    """One complete HTTP report per channel (court referrals arrive by RPC, see court_referral)."""
    base = neighbour_dispute(1)
    reports = {
        "walk_in": {},
        "hotline": {"channel_ref": "12345-20261123-0001"},
        "letter": {"parties": [person("刘芳", None, address="迎泽区某街5号"),
                               person("某物业公司", None, role="respondent")]},
        "online": {"channel_ref": "xiaolan-998877"},
        "grid_report": {"grid": "140106001002-01"},
        "police_110": {"channel_ref": "110-140106-20261123-0042"},
        "leader_assigned": {"channel_ref": "JB-2026-118"},
        "department_referral": {"channel_ref": "RS-2026-77"},
    }
    result = {}
    for index, (channel, changes) in enumerate(reports.items(), start=10):
        payload = copy.deepcopy(base)
        payload["parties"] = [person(f"甲{index}", f"139{index:08d}"),
                              person(f"乙{index}", f"137{index:08d}", role="respondent")]
        payload.update(channel=channel, **copy.deepcopy(changes))
        result[channel] = payload
    return result


def court_referral(referral_id: str, index: int = 1, **changes) -> dict:
    payload = neighbour_dispute(index, channel="court_referral", channel_ref=referral_id, category="lending",
                                summary=f"民间借贷纠纷诉前调解 {referral_id}", jurisdiction="140106")
    payload.update(changes)
    return payload


__all__ = ["CLERK", "CITY_DISPATCHER", "GRID_REPORT_OF_THE_WAGE_ARREARS", "case_payload", "court_referral",
           "every_channel", "neighbour_dispute", "person"]
