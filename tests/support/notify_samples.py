"""Events, contacts and directory entries for notify's tests: each event type notify
listens to, once with every optional field filled ("complete") and once with only what
its contract requires ("minimal")."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta

from services.common.contracts import iso, make_envelope, validate_envelope

CASE = {"case_id": "case-wage-1", "case_code": "140106-261123-LB-0042-7", "jurisdiction": "140106",
        "category": "labour"}
NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # 10:00 in Taiyuan
APPLICANT_PHONE = "13812345678"
RESPONDENT_PHONE = "03511234567"

CONTACTS = [
    {"party_id": "party-applicant-1", "role": "applicant", "kind": "person", "name": "王建国",
     "phone": APPLICANT_PHONE, "address": "太原市迎泽区某小区"},
    {"party_id": "party-respondent-1", "role": "respondent", "kind": "organisation", "name": "某建筑工程有限公司",
     "phone": RESPONDENT_PHONE, "address": None},
]


def unit(unit_id: str, name: str, kind: str, *, email: str | None = None, phone: str | None = None,
         wechat: str | None = None, inbox_id: str | None = None, leaders: list | None = None) -> dict:
    return {"unit_id": unit_id, "name": name, "kind": kind, "level": 3, "jurisdiction": unit_id.split(":")[0],
            "contacts": {"phone": phone, "email": email, "wechat_openid": wechat, "inbox_id": inbox_id},
            "leaders": leaders or []}


UNITS = {
    "140106:centre": unit("140106:centre", "迎泽区综治中心", "centre", email="centre@yingze.example.cn",
                          phone="03514040000", wechat="oYZcentre000001", inbox_id="140106:centre",
                          leaders=[{"name": "李明", "title": "主任", "phone": "13900000001",
                                    "email": "liming@yingze.example.cn", "inbox_id": "leader-140106-centre-1"}]),
    "140106:hrss": unit("140106:hrss", "迎泽区人力资源和社会保障局", "department", email="hrss@yingze.example.cn",
                        phone="03514040101", wechat="oYZhrss00000001", inbox_id="140106:hrss",
                        leaders=[{"name": "张伟", "title": "局长", "phone": "13900000002",
                                  "email": "zhangwei@yingze.example.cn", "inbox_id": None}]),
    "140106:housing": unit("140106:housing", "迎泽区住房和城乡建设局", "department", email="zjj@yingze.example.cn",
                           phone="03514040102", wechat="oYZhousing00001"),
    "140106:judicial": unit("140106:judicial", "迎泽区司法局", "department", email="sfj@yingze.example.cn",
                            phone="03514040103"),
    "140106:committee:labour": unit("140106:committee:labour", "迎泽区劳动争议人民调解委员会", "committee",
                                    email="ldtw@yingze.example.cn", phone="03514040104"),
    "140106001:office": unit("140106001:office", "迎泽街道办事处", "township", email="yzjd@yingze.example.cn",
                             phone="03514040105", wechat="oYZstreet000001"),
    "140100:centre": unit("140100:centre", "太原市综治中心", "city", email="centre@taiyuan.example.cn",
                          phone="03512020000", inbox_id="140100:centre"),
    # a court as the directory lists it, under the id court_bridge uses (its clerk's contacts)
    "140106:court": unit("140106:court", "迎泽区人民法院", "department", email="court.140106@yingze.example.cn",
                         phone="03518279661", wechat="oYZcourt0000001", inbox_id="140106:court"),
}

SUMMONS = [
    {"summons_id": "sm-hrss-1", "department": "140106:hrss", "report_by": iso(NOW + timedelta(minutes=30)),
     "on_site": True},
    {"summons_id": "sm-housing-1", "department": "140106:housing", "report_by": iso(NOW + timedelta(minutes=40)),
     "on_site": False},
]

COMPLETE: dict[tuple[str, str], dict] = {
    ("intake", "case_registered"): {
        "channel": "court_referral", "channel_ref": "REF-2026-001", "grid": "140106001001-03",
        "summary": "某建筑公司拖欠90名农民工工资约180万元", "severity": "critical", "risk_flags": ["mass_dispute"],
        "immediate_red": True, "people_involved": 90, "amount": 1800000.0, "occurred_on": "2026-10-15",
        "registered_at": iso(NOW),
        "parties": [{"party_id": "party-applicant-1", "role": "applicant", "kind": "person"},
                    {"party_id": "party-respondent-1", "role": "respondent", "kind": "organisation"}],
        "court_referral": {"court_id": "yingze-court", "referral_id": "REF-2026-001", "batch_id": "B-7",
                           "deadline": iso(NOW + timedelta(days=30))},
    },
    ("routing", "case_assigned"): {
        "tier": "complex", "level": "county", "unit": "140106:centre", "lead_department": "140106:hrss",
        "departments": ["140106:hrss", "140106:housing", "140106:judicial"],
        "deadlines": {"first_contact": iso(NOW + timedelta(minutes=30)), "classify": iso(NOW + timedelta(hours=24)),
                      "resolve": iso(NOW + timedelta(days=9))},
        "rule": {"rule_id": "complex-mass-dispute", "reason": "90 people involved: mass dispute, complex tier"},
        "triage": False,
    },
    ("routing", "case_returned"): {
        "unit": "140106001:office", "actor": "clerk-7", "reason": "不属于本街道管辖，涉事工地位于小店区",
        "suggested_unit": "140106:hrss",
    },
    ("routing", "departments_summoned"): {"summons": SUMMONS},
    ("routing", "sla_warning"): {
        "colour": "red", "clock": "resolve", "deadline": iso(NOW - timedelta(days=2)), "level": "county",
        "unit": "140106:hrss", "reason": "办结时限已超期2个工作日",
    },
    ("routing", "case_escalated"): {
        "from_level": "township", "to_level": "county", "from_unit": "140106001:office", "to_unit": "140106:centre",
        "reason": "街道未在时限内化解，提级至区综治中心兜底",
    },
    ("routing", "leader_assigned"): {"leader": "区委副书记",
                                     "instruction": "请人社局牵头，三日内拿出欠薪解决方案，确保不发生群体性事件。"},
    ("mediation", "session_scheduled"): {
        "session_id": "sess-1", "kind": "video", "starts_at": iso(NOW + timedelta(days=2)),
        "ends_at": iso(NOW + timedelta(days=2, hours=2)), "room_id": "room-v1", "place": "迎泽区综治中心第二调解室",
        "join_link": "https://meet.example.cn/j/8812", "mediator_id": "med-3", "purpose": "mediation",
        "rescheduled": True, "departments": ["140106:hrss", "140106:housing"],
    },
    ("mediation", "session_reminder"): {
        "session_id": "sess-1", "reminder": "day_before", "kind": "video", "purpose": "mediation",
        "starts_at": iso(NOW + timedelta(days=1)), "ends_at": iso(NOW + timedelta(days=1, hours=2)),
        "room_id": "room-v1", "place": "迎泽区综治中心第二调解室", "join_link": "https://meet.example.cn/j/8812",
        "mediator_id": "med-3", "departments": ["140106:hrss", "140106:housing"],
    },
    ("mediation", "session_cancelled"): {
        "session_id": "sess-1", "kind": "video", "purpose": "mediation", "starts_at": iso(NOW + timedelta(days=2)),
        "reason": "申请人因病申请延期，调解员同意取消本次调解", "departments": ["140106:hrss", "140106:housing"],
    },
    ("mediation", "agreement_reached"): {
        "agreement_id": "agr-1", "partial": True, "amount": 1800000.0, "performance_deadline": "2026-12-31",
        "confirmation_requested": True, "agreement_hash": "ab" * 32, "court_referred": True,
    },
    ("mediation", "followup_required"): {
        "followup_id": "fu-1", "reason": "mass_dispute", "first_visit_due": iso(NOW + timedelta(days=14)),
    },
    ("court_bridge", "confirmation_granted"): {"court_id": "yingze-court", "ruling_number": "（2026）晋0106民特123号"},
    ("court_bridge", "confirmation_rejected"): {
        "court_id": "yingze-court", "reasons": ["协议内容违反法律强制性规定", "当事人身份信息不完整"],
    },
    ("court_bridge", "case_filed"): {"court_id": "yingze-court", "track": "fast_track",
                                     "docket_number": "（2026）晋0106民初4567号", "on_site": True},
    ("court_bridge", "confirmation_due"): {"court_id": "140106:court", "agreement_id": "agr-1",
                                           "deadline": iso(NOW + timedelta(days=3)), "level": "due_soon"},
    ("court_bridge", "message_stuck"): {
        "court_id": "140106:court", "message_id": "cm-77", "operation": "feedback", "attempts": 6,
        "last_error": "court system answered 503: 服务暂不可用", "referral_id": "REF-2026-001",
    },
}

MINIMAL: dict[tuple[str, str], dict] = {
    ("intake", "case_registered"): {"channel": "walk_in", "summary": "欠薪", "severity": "general",
                                    "people_involved": 1, "registered_at": iso(NOW)},
    ("routing", "case_assigned"): {"tier": "simple", "level": "township", "unit": "140106001:office",
                                   "rule": {"rule_id": "r1", "reason": "locality"}},
    ("routing", "case_returned"): {"unit": "140106001:office"},
    ("routing", "departments_summoned"): {"summons": [{"summons_id": "sm-1", "department": "140106:judicial",
                                                       "report_by": iso(NOW + timedelta(minutes=20))}]},
    ("routing", "sla_warning"): {"colour": "blue", "clock": "sign", "level": "township", "unit": "140106001:office",
                                 "reason": "due soon"},
    ("routing", "case_escalated"): {"from_level": "grid", "to_level": "community", "from_unit": "grid:140106-01",
                                    "to_unit": "140106001:office", "reason": "overdue"},
    ("routing", "leader_assigned"): {"leader": "leader-1"},
    ("mediation", "session_scheduled"): {"session_id": "sess-2", "kind": "on_site",
                                         "starts_at": iso(NOW + timedelta(days=1, hours=1)),
                                         "ends_at": iso(NOW + timedelta(days=1, hours=2)), "mediator_id": "med-1"},
    ("mediation", "session_reminder"): {"session_id": "sess-2", "reminder": "two_hours_before", "kind": "on_site",
                                        "starts_at": iso(NOW + timedelta(hours=2)),
                                        "ends_at": iso(NOW + timedelta(hours=3)), "mediator_id": "med-1"},
    ("mediation", "session_cancelled"): {"session_id": "sess-2", "kind": "on_site",
                                         "starts_at": iso(NOW + timedelta(days=1)), "reason": "released"},
    ("mediation", "agreement_reached"): {"agreement_id": "agr-2", "confirmation_requested": False,
                                         "agreement_hash": "cd" * 32},
    ("mediation", "followup_required"): {"followup_id": "fu-2", "reason": "divorce",
                                         "first_visit_due": iso(NOW + timedelta(days=10))},
    ("court_bridge", "confirmation_granted"): {"court_id": "c1", "ruling_number": "R-1"},
    ("court_bridge", "confirmation_rejected"): {"court_id": "c1", "reasons": []},
    ("court_bridge", "case_filed"): {"court_id": "c1", "track": "priority", "docket_number": "D-1"},
    ("court_bridge", "confirmation_due"): {"court_id": "c1", "agreement_id": "agr-2",
                                           "deadline": iso(NOW - timedelta(hours=1)), "level": "overdue"},
    ("court_bridge", "message_stuck"): {"court_id": "c1", "message_id": "cm-1", "operation": "something_new",
                                        "attempts": 1},
}


def envelope(source: str, event_type: str, data: dict | None = None, *, case: dict | None = None,
             occurred_at: datetime | None = None) -> dict:
    """An envelope as a producer publishes it (data JSON-ready)."""
    body = copy.deepcopy(data if data is not None else COMPLETE[(source, event_type)])
    return make_envelope(source, event_type, case=case or CASE, data=body, occurred_at=occurred_at or NOW)


def received(envelope_: dict) -> dict:
    """The envelope as notify's handler receives it: data loaded by its contract."""
    return {**envelope_, "data": validate_envelope(envelope_)}
