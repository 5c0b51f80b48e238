"""intake.register_case (court_bridge's referral batches) and intake.contacts (notify), over AMQP."""

import time
from datetime import UTC, datetime, timedelta

import pytest
from nameko.exceptions import RemoteError
from nameko.standalone.rpc import ClusterRpcProxy
from pymongo.errors import DuplicateKeyError

from services.intake.service import IntakeService
from services.intake.store import IntakeRepository
from tests.support.infra import wait_for
from tests.support.intake_bus import Capture
from tests.support.intake_samples import case_payload, court_referral, neighbour_dispute

COURT = {"sub": "court-bridge", "agency": "court-140106", "roles": ["court"]}


@pytest.fixture
def intake(start_service):
    return start_service(IntakeService)


@pytest.fixture
def rpc(intake):
    with ClusterRpcProxy({"AMQP_URI": intake.config["AMQP_URI"]}, timeout=30) as proxy:
        yield proxy.intake


def test_a_court_referral_registers_with_its_court_batch_and_deadline(intake, rpc):
    bus = Capture(intake.config["AMQP_URI"])
    payload = court_referral("(2026)晋0106民诉前调1号", court_id="court-140106", batch_id="B-20261123",
                             referral_deadline="2026-12-20T09:00:00+08:00")
    result = rpc.register_case(payload, COURT)
    assert result["outcome"] == "registered" and result["error"] is None and result["fields"] == {}
    assert set(result) >= {"outcome", "case_id", "case_code", "status", "duplicate_of", "severity", "risk_flags",
                           "error", "message", "fields"}
    assert "-LD-" in result["case_code"]
    event = wait_for(lambda: bus.events("case_registered"))[0]
    assert event["data"]["channel"] == "court_referral"
    assert event["data"]["court_referral"] == {"court_id": "court-140106", "referral_id": "(2026)晋0106民诉前调1号",
                                               "batch_id": "B-20261123", "deadline": "2026-12-20T01:00:00Z"}
    audit = intake.db.audit_log.find_one({"case_code": result["case_code"]})
    assert audit["actor"] == {"sub": "court-bridge", "agency": "court-140106", "roles": ["court"]}


def test_without_a_court_id_or_deadline_the_actors_agency_and_30_days_apply(intake, rpc):
    result = rpc.register_case(court_referral("R-2"), COURT)
    stored = intake.db.cases.find_one({"_id": result["case_id"]})
    referral = stored["court_referral"]
    assert referral["court_id"] == "court-140106" and referral["referral_id"] == "R-2"
    assert abs(referral["deadline"] - (stored["registered_at"] + timedelta(days=30))) < timedelta(seconds=1)


def test_a_resent_referral_answers_its_case_and_creates_nothing(intake, rpc):
    first = rpc.register_case(court_referral("R-3"), COURT)
    again = rpc.register_case(court_referral("R-3", summary="resent with other text"), COURT)
    assert again["outcome"] == "existing" and again["case_id"] == first["case_id"]
    assert again["case_code"] == first["case_code"]
    assert intake.db.cases.count_documents({}) == 1 and intake.db.outbox.count_documents({}) == 1


def test_a_referral_of_a_dispute_already_on_file_is_merged(intake, rpc):
    walk_in = rpc.register_case(case_payload(), {"sub": "clerk", "agency": "centre", "roles": ["intake_clerk"]})
    referral = case_payload(channel="court_referral", channel_ref="R-4", court_id="court-140106")
    result = rpc.register_case(referral, COURT)
    assert result["outcome"] == "merged" and result["duplicate_of"] == walk_in["case_code"]
    assert result["duplicate_of_id"] == walk_in["case_id"]
    file = intake.db.cases.find_one({"_id": walk_in["case_id"]})
    assert file["channels"] == ["walk_in", "court_referral"]
    assert file["court_referral"]["referral_id"] == "R-4"
    again = rpc.register_case(referral, COURT)
    assert again["outcome"] == "existing" and again["duplicate_of"] == walk_in["case_code"]


BAD_CALLS = [
    (court_referral("R-5", people_involved=0), COURT, "validation_failed", "people_involved"),
    (court_referral("R-5", unknown="x"), COURT, "validation_failed", "unknown"),
    (court_referral(None), COURT, "validation_failed", "channel_ref"),
    (court_referral("R-5"), {"sub": "x", "agency": "", "roles": ["court"]}, "validation_failed", "court_id"),
    (neighbour_dispute(5, court_id="court-1"), COURT, "validation_failed", "court_id"),
    (court_referral("R-5", parties=[{"$gt": ""}]), COURT, "validation_failed", "payload"),
    (court_referral("R-5"), {"sub": "x", "agency": "a", "roles": ["mediator"]}, "role_forbidden", None),
    ("not a dict", COURT, "validation_failed", "payload"),
    (None, COURT, "validation_failed", "payload"),
    # the actor is checked by its schema before anything reads it
    (court_referral("R-5"), {"roles": 5}, "validation_failed", "actor"),
    (court_referral("R-5"), {"sub": "x", "agency": "a", "roles": "court"}, "validation_failed", "actor"),
    (court_referral("R-5"), {"sub": "x", "agency": "a", "roles": [["court"]]}, "validation_failed", "actor"),
    (court_referral("R-5"), {"sub": "x", "agency": 7, "roles": ["court"]}, "validation_failed", "actor"),
    (court_referral("R-5"), {**COURT, "jurisdictions": ["140106"]}, "validation_failed", "actor"),
    (court_referral("R-5"), "court", "validation_failed", "actor"),
    (court_referral("R-5"), None, "validation_failed", "actor"),
]


def test_bad_input_is_rejected_never_raised(intake, rpc):
    for payload, actor, error, field in BAD_CALLS:
        result = rpc.register_case(payload, actor)
        assert result["outcome"] == "rejected" and result["error"] == error and result["message"], result
        assert result["case_id"] is None
        if field:
            assert field in result["fields"], result
    assert intake.db.cases.count_documents({}) == 0 and intake.db.outbox.count_documents({}) == 0


def test_a_bad_actor_is_named_in_the_field_errors(intake, rpc):
    result = rpc.register_case(court_referral("R-7"), {"roles": 5})
    assert result["fields"]["actor"] == {"sub": ["Missing data for required field."],
                                         "roles": ["Not a valid list."]}


def test_a_registration_that_keeps_losing_a_unique_key_race_is_rejected_busy(intake, rpc, monkeypatch):
    def insert_case(repository, doc, session):
        raise DuplicateKeyError("E11000 duplicate key error (forced by the test)")

    monkeypatch.setattr(IntakeRepository, "insert_case", insert_case)
    result = rpc.register_case(court_referral("R-8"), COURT)
    assert result["outcome"] == "rejected" and result["error"] == "busy" and result["case_id"] is None
    assert intake.db.cases.count_documents({}) == 0 and intake.db.outbox.count_documents({}) == 0


def test_two_courts_may_use_the_same_referral_id(intake, rpc):
    court_b = {"sub": "court-bridge", "agency": "court-140105", "roles": ["court"]}
    from_a = rpc.register_case(court_referral("(2026)民诉前调1号", index=21, court_id="court-140106"), COURT)
    from_b = rpc.register_case(court_referral("(2026)民诉前调1号", index=22, court_id="court-140105"), court_b)
    assert from_a["outcome"] == from_b["outcome"] == "registered"
    assert from_a["case_id"] != from_b["case_id"]
    referrals = {doc["court_referral"]["court_id"]: doc["_id"] for doc in intake.db.cases.find()}
    assert referrals == {"court-140106": from_a["case_id"], "court-140105": from_b["case_id"]}
    # a resend from either court is that court's case, and creates nothing
    again_b = rpc.register_case(court_referral("(2026)民诉前调1号", index=22, court_id="court-140105"), court_b)
    assert again_b["outcome"] == "existing" and again_b["case_id"] == from_b["case_id"]
    again_a = rpc.register_case(court_referral("(2026)民诉前调1号", index=21), COURT)   # court_id from the agency
    assert again_a["outcome"] == "existing" and again_a["case_id"] == from_a["case_id"]
    assert intake.db.cases.count_documents({}) == 2 and intake.db.outbox.count_documents({}) == 2


def test_court_bridge_s_own_call_is_answered(intake, rpc):
    """The payload exactly as court_bridge's ReferralBatch._payload builds it: the court's raw item
    without `cause`, plus court_id, batch_id and the deadline as an ISO string; the caller's actor."""
    item = court_referral("(2026)晋0106民诉前调88号", index=23)
    payload = {**item, "court_id": "court-140106", "batch_id": "B-88", "referral_deadline": "2026-12-23T01:00:00Z"}
    actor = {"sub": "court-user", "agency": "court-140106", "roles": ["court"]}
    result = rpc.register_case(payload, actor)
    assert result["outcome"] == "registered" and result["error"] is None
    doc = intake.db.cases.find_one({"_id": result["case_id"]})
    assert doc["channel_key"] == "court_referral|court-140106|(2026)晋0106民诉前调88号"
    assert doc["court_referral"]["batch_id"] == "B-88"
    assert rpc.register_case(payload, actor)["outcome"] == "existing"


def test_contacts_gives_notify_the_parties_in_clear_and_is_audited(intake, rpc):
    created = rpc.register_case(case_payload(), {"sub": "clerk", "agency": "centre", "roles": ["intake_clerk"]})
    everyone = rpc.contacts(created["case_id"])
    assert [(c["role"], c["kind"], c["name"], c["phone"]) for c in everyone] == [
        ("applicant", "person", "王建国", "13812345678"),
        ("respondent", "organisation", "某建筑工程有限公司", "03511234567")]
    assert everyone[0]["address"] == "太原市迎泽区某小区" and everyone[1]["address"] is None
    assert set(everyone[0]) == {"party_id", "role", "kind", "name", "phone", "address"}
    applicants = rpc.contacts(created["case_id"], ["applicant"])
    assert [c["name"] for c in applicants] == ["王建国"]
    audits = list(intake.db.audit_log.find({"action": "case.contacts_read"}))
    assert len(audits) == 2 and audits[1]["details"] == {"roles": ["applicant"], "parties": 1}
    assert "王建国" not in str(audits)
    with pytest.raises(RemoteError) as raised:
        rpc.contacts("no-such-case")
    assert raised.value.exc_type == "UnknownCase"


def test_a_referral_batch_registers_quickly_and_a_resent_batch_changes_nothing(intake, rpc):
    """court_bridge sends batches of up to 10,000 items; 120 through the real RPC, sent at once.

    The figure is printed; the bound is loose because the embedded store and a shared CI
    machine set the pace, not intake."""
    count = 120
    items = [court_referral(f"(2026)晋0106民诉前调{index}号", index=1000 + index) for index in range(count)]
    started = time.perf_counter()
    results = [reply.result() for reply in [rpc.register_case.call_async(item, COURT) for item in items]]
    elapsed = time.perf_counter() - started
    assert [r["outcome"] for r in results] == ["registered"] * count
    assert len({r["case_code"] for r in results}) == count
    started = time.perf_counter()
    resent = [reply.result() for reply in [rpc.register_case.call_async(item, COURT) for item in items]]
    resend_elapsed = time.perf_counter() - started
    assert [r["outcome"] for r in resent] == ["existing"] * count
    assert [r["case_id"] for r in resent] == [r["case_id"] for r in results]
    assert intake.db.cases.count_documents({}) == count
    assert intake.db.outbox.count_documents({}) == count
    print(f"\n{count} referrals: {elapsed:.2f} s ({elapsed / count * 1000:.1f} ms each); "
          f"resent: {resend_elapsed:.2f} s ({resend_elapsed / count * 1000:.1f} ms each)")
    assert elapsed < 60 and resend_elapsed < elapsed


def test_dates_cross_the_wire_as_iso_strings(intake, rpc):
    payload = court_referral("R-6", occurred_at="2026-11-01",
                             referral_deadline=(datetime.now(UTC) + timedelta(days=20)).isoformat())
    result = rpc.register_case(payload, COURT)
    assert result["outcome"] == "registered"
    assert intake.db.cases.find_one({"_id": result["case_id"]})["occurred_on"] == "2026-11-01"
