"""Sample requests, close to what a centre's window really receives."""

from __future__ import annotations

import copy

WAGE_ARREARS_WALK_IN = {
    "channel": "walk_in",
    "jurisdiction": "140106",
    "category": "labour",
    "summary": "某建筑公司拖欠90名农民工工资约180万元",
    "description": "90名工人反映某建筑工程公司拖欠2025年下半年工资，多次讨薪未果，情绪激动。",
    "parties": [
        {"role": "applicant", "kind": "person", "name": "王建国", "id_number": "140106198001011234",
         "phone": "13812345678", "address": "太原市迎泽区某小区"},
        {"role": "respondent", "kind": "organisation", "name": "某建筑工程有限公司",
         "id_number": None, "phone": "03511234567", "address": None},
    ],
    "people_involved": 90,
    "amount": 1800000,
    "occurred_at": "2026-10-15",
    "attachments": [],
}


def case_payload(**changes) -> dict:
    payload = copy.deepcopy(WAGE_ARREARS_WALK_IN)
    payload.update(changes)
    return payload


def distinct_case(index: int, **changes) -> dict:
    """The sample dispute brought by a different person each time: never merged."""
    payload = case_payload(**changes)
    applicant = payload["parties"][0]
    applicant["phone"] = f"1390000{index:04d}"
    applicant["id_number"] = f"14010619900101{index:04d}"
    applicant["name"] = f"申请人{index}"
    return payload
