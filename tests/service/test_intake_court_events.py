"""court_bridge.referral_extended and court_bridge.confirmation_due, kept on the case file."""

from datetime import UTC, datetime, timedelta

import pytest
from nameko.standalone.rpc import ClusterRpcProxy

from services.common.contracts import make_envelope, utcnow
from services.intake.service import IntakeService
from tests.support.broker import publish_event
from tests.support.infra import wait_for
from tests.support.intake_samples import CLERK, case_payload, court_referral

COURT = {"sub": "court-bridge", "agency": "court-140106", "roles": ["court"]}
DEADLINE = datetime(2026, 12, 20, 15, 59, 59, tzinfo=UTC)     # 2026-12-20 23:59:59 in Asia/Shanghai
EXTENDED = datetime(2026, 12, 30, 15, 59, 59, tzinfo=UTC)
EXTENDED_TEXT = "经当事人同意，诉前调解期限延长至2026年12月30日"


@pytest.fixture
def intake(start_service):
    return start_service(IntakeService, INTAKE_PUBLIC_RATE_LIMIT=1000)


@pytest.fixture
def rpc(intake):
    with ClusterRpcProxy({"AMQP_URI": intake.config["AMQP_URI"]}, timeout=30) as proxy:
        yield proxy.intake


def ref(case: dict) -> dict:
    return {"case_id": case["_id"], "case_code": case["case_code"], "jurisdiction": case["jurisdiction"],
            "category": case["category"]}


def publish(intake, case: dict, event_type: str, data: dict, minutes: int = 1) -> dict:
    envelope = make_envelope("court_bridge", event_type, case=ref(case), data=data,
                             occurred_at=utcnow() + timedelta(minutes=minutes))
    publish_event(intake.config["AMQP_URI"], envelope)
    return envelope


def stored(intake, case_id: str) -> dict:
    return intake.db.cases.find_one({"_id": case_id})


def applied(intake, envelope: dict) -> None:
    wait_for(lambda: intake.db.inbox.count_documents({"_id": envelope["event_id"]}) == 1,
             message=f"{envelope['event_type']} applied")


def kinds(doc: dict, kind: str) -> list[dict]:
    return [entry for entry in doc["timeline"] if entry["kind"] == kind]


def extension(referral_id: str, **changes) -> dict:
    data = {"court_id": "court-140106", "referral_id": referral_id, "previous_deadline": DEADLINE.isoformat(),
            "deadline": EXTENDED.isoformat(), "reason": "双方当事人同意延长调解期限"}
    data.update(changes)
    return data


@pytest.fixture
def referred(intake, rpc):
    result = rpc.register_case(court_referral("(2026)晋0106民诉前调5号", court_id="court-140106", batch_id="B-5",
                                              referral_deadline=DEADLINE.isoformat()), COURT)
    assert result["outcome"] == "registered"
    return stored(intake, result["case_id"])


def test_an_extension_moves_the_files_deadline_and_tells_the_public(intake, referred):
    envelope = publish(intake, referred, "referral_extended", extension("(2026)晋0106民诉前调5号"))
    wait_for(lambda: stored(intake, referred["_id"])["court_referral"]["deadline"] == EXTENDED,
             message="the deadline extended")
    doc = stored(intake, referred["_id"])
    assert doc["court_referral"]["batch_id"] == "B-5" and doc["status"] == "registered"
    [entry] = kinds(doc, "court_bridge.referral_extended")
    assert entry["text"] == EXTENDED_TEXT and entry["public"] is True
    assert entry["actor"] == {"service": "court_bridge", "id": "court-140106"}
    file = intake.get(f"/api/v1/cases/{referred['case_code']}", auth=CLERK).json()
    assert file["court_referral"]["deadline"].startswith("2026-12-30T15:59:59")
    progress = intake.get(f"/api/v1/public/progress/{referred['case_code']}?phone_tail=0001").json()
    assert progress["timeline"][-1]["text"] == EXTENDED_TEXT
    audit = intake.db.audit_log.find_one({"action": "case.event", "details.event_id": envelope["event_id"]})
    assert audit["actor"]["sub"] == "event:court_bridge.referral_extended"


def test_an_extension_told_twice_or_late_changes_nothing_more(intake, referred):
    first = publish(intake, referred, "referral_extended", extension("(2026)晋0106民诉前调5号"))
    publish_event(intake.config["AMQP_URI"], first)                       # redelivered
    applied(intake, first)
    again = publish(intake, referred, "referral_extended", extension("(2026)晋0106民诉前调5号"), minutes=2)
    applied(intake, again)                                                # the same fact, another event
    older = publish(intake, referred, "referral_extended", extension(
        "(2026)晋0106民诉前调5号", previous_deadline=(DEADLINE - timedelta(days=5)).isoformat(),
        deadline=DEADLINE.isoformat()), minutes=3)
    applied(intake, older)                                                # an earlier extension, delivered late
    doc = stored(intake, referred["_id"])
    assert doc["court_referral"]["deadline"] == EXTENDED
    assert [entry["text"] for entry in kinds(doc, "court_bridge.referral_extended")] == [
        EXTENDED_TEXT, "经当事人同意，诉前调解期限延长至2026年12月20日"]


def test_an_extension_of_a_merged_referral_moves_the_deadline_of_the_file_it_joined(intake, rpc):
    walk_in = intake.post("/api/v1/cases", case_payload(), auth=CLERK).json()
    merged = rpc.register_case(case_payload(channel="court_referral", channel_ref="R-9", court_id="court-140106",
                                            referral_deadline=DEADLINE.isoformat()), COURT)
    assert merged["outcome"] == "merged" and merged["duplicate_of_id"] == walk_in["case_id"]
    envelope = publish(intake, stored(intake, merged["case_id"]), "referral_extended", extension("R-9"))
    applied(intake, envelope)
    file = stored(intake, walk_in["case_id"])
    assert file["court_referral"]["deadline"] == EXTENDED
    assert [entry["text"] for entry in kinds(file, "court_bridge.referral_extended")] == [EXTENDED_TEXT]
    assert stored(intake, merged["case_id"])["court_referral"]["deadline"] == EXTENDED
    public = intake.get(f"/api/v1/public/progress/{walk_in['case_code']}?phone_tail=5678").json()
    assert public["timeline"][-1]["text"] == EXTENDED_TEXT


def test_an_extension_for_another_courts_referral_leaves_the_deadline_alone(intake, referred):
    envelope = publish(intake, referred, "referral_extended",
                       extension("(2026)晋0106民诉前调5号", court_id="court-140105"))
    applied(intake, envelope)
    assert stored(intake, referred["_id"])["court_referral"]["deadline"] == DEADLINE


def test_a_closing_confirmation_window_is_an_internal_entry_once_per_level(intake):
    case = stored(intake, intake.post("/api/v1/cases", case_payload(), auth=CLERK).json()["case_id"])
    due = {"court_id": "court-140106", "agreement_id": "ag-1", "deadline": DEADLINE.isoformat(), "level": "due_soon"}
    soon = publish(intake, case, "confirmation_due", due)
    publish_event(intake.config["AMQP_URI"], soon)                        # redelivered
    applied(intake, soon)
    told_again = publish(intake, case, "confirmation_due", due, minutes=2)
    applied(intake, told_again)
    overdue = publish(intake, case, "confirmation_due", {**due, "level": "overdue"}, minutes=3)
    applied(intake, overdue)
    doc = stored(intake, case["_id"])
    entries = kinds(doc, "court_bridge.confirmation_due")
    assert [entry["text"] for entry in entries] == [
        "司法确认申请期限即将届满（2026年12月20日），尚未提出申请，请及时办理",
        "司法确认申请期限已届满（2026年12月20日），尚未提出申请，请及时办理"]
    assert not any(entry["public"] for entry in entries) and doc["status"] == "registered"
    staff = intake.get(f"/api/v1/cases/{case['case_code']}", auth=CLERK).json()
    assert [entry["kind"] for entry in staff["timeline"]].count("court_bridge.confirmation_due") == 2
    public = intake.get(f"/api/v1/public/progress/{case['case_code']}?phone_tail=5678").json()
    assert not any("司法确认申请期限" in entry["text"] for entry in public["timeline"])
