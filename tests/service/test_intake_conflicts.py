"""Lost races: a workflow that finds its case changed under it runs again, then answers 503 busy.

A version clash is forced deterministically: `get_case` hands the workflow a copy of the case
one version old, as if another request or event had committed between its read and its write;
`update_case` then matches nothing and raises ConcurrentUpdate, exactly as in a real race.
"""

import eventlet
import pytest
from pymongo.collection import Collection
from pymongo.errors import DuplicateKeyError

from services.common.consumers import dead_letter_queue_name
from services.intake.service import IntakeService
from services.intake.store import IntakeRepository
from tests.support.broker import drain
from tests.support.infra import wait_for
from tests.support.intake_bus import Capture, case_ref_of, send
from tests.support.intake_samples import CLERK, GRID_REPORT_OF_THE_WAGE_ARREARS, case_payload

ALWAYS = 10_000


@pytest.fixture
def intake(start_service):
    return start_service(IntakeService, INTAKE_PUBLIC_RATE_LIMIT=1000)


@pytest.fixture
def bus(intake):
    return Capture(intake.config["AMQP_URI"])


class StaleReads:
    """The next `times` transactional reads of one case return it one version old."""

    def __init__(self, monkeypatch, case_id: str, times: int):
        self.case_id, self.left, self.served = case_id, times, 0
        real = IntakeRepository.get_case

        def get_case(repository, wanted, session=None):
            doc = real(repository, wanted, session)
            if doc is not None and session is not None and wanted == self.case_id and self.left > 0:
                self.left -= 1
                self.served += 1
                return {**doc, "version": doc["version"] - 1}
            return doc

        monkeypatch.setattr(IntakeRepository, "get_case", get_case)


def stored(intake, case_id):
    return intake.db.cases.find_one({"_id": case_id})


def resolved_case(intake):
    case = intake.post("/api/v1/cases", case_payload(), auth=CLERK).json()
    send(intake.config["AMQP_URI"], "routing", "case_resolved", case_ref_of(case), {"unit": "140106:hrss"})
    wait_for(lambda: stored(intake, case["case_id"])["status"] == "resolved", message="the case resolved")
    return case


def rate(intake, case, score=5):
    return intake.post(f"/api/v1/public/cases/{case['case_code']}/rating", {"phone_tail": "5678", "score": score})


def test_a_report_merging_into_a_file_that_changed_meanwhile_is_merged_once(intake, bus, monkeypatch):
    file = intake.post("/api/v1/cases", case_payload(), auth=CLERK).json()
    before = stored(intake, file["case_id"])
    clash = StaleReads(monkeypatch, file["case_id"], times=2)
    response = intake.post("/api/v1/cases", GRID_REPORT_OF_THE_WAGE_ARREARS, auth=CLERK)
    assert response.status_code == 201 and response.json()["duplicate_of"] == file["case_code"]
    assert clash.served == 2                     # two attempts lost the race, the third merged
    after = stored(intake, file["case_id"])
    assert after["version"] == before["version"] + 1
    assert after["channels"] == ["walk_in", "grid_report"] and len(after["reports"]) == 2
    assert intake.db.cases.count_documents({"status": "merged"}) == 1
    merged = wait_for(lambda: bus.events("case_merged"))
    assert len(merged) == 1 and merged[0]["case_id"] == file["case_id"]


def test_a_report_that_keeps_losing_is_answered_busy_and_changes_nothing(intake, monkeypatch):
    file = intake.post("/api/v1/cases", case_payload(), auth=CLERK).json()
    before = stored(intake, file["case_id"])
    StaleReads(monkeypatch, file["case_id"], times=ALWAYS)
    response = intake.post("/api/v1/cases", GRID_REPORT_OF_THE_WAGE_ARREARS, auth=CLERK)
    assert response.status_code == 503
    assert response.json()["error"] == "busy" and set(response.json()) == {"error", "message", "fields"}
    assert stored(intake, file["case_id"]) == before
    assert intake.db.cases.count_documents({}) == 1
    assert intake.db.outbox.count_documents({}) == 1          # only the file's own case_registered
    assert intake.db.audit_log.count_documents({"action": {"$in": ["case.merge", "case.register_merged"]}}) == 0


def test_a_rating_that_raced_an_event_is_recorded_once(intake, bus, monkeypatch):
    case = resolved_case(intake)
    clash = StaleReads(monkeypatch, case["case_id"], times=3)
    response = rate(intake, case, score=4)
    assert response.status_code == 201 and response.json()["status"] == "closed"
    assert clash.served == 3
    assert stored(intake, case["case_id"])["rating"]["score"] == 4
    assert [event["data"]["score"] for event in wait_for(lambda: bus.events("rating_submitted"))] == [4]


def test_a_rating_that_keeps_losing_is_answered_busy(intake, monkeypatch):
    case = resolved_case(intake)
    StaleReads(monkeypatch, case["case_id"], times=ALWAYS)
    response = rate(intake, case)
    assert response.status_code == 503 and response.json()["error"] == "busy"
    assert "rating" not in stored(intake, case["case_id"])
    assert intake.db.outbox.count_documents({"event_type": "rating_submitted"}) == 0


def test_two_ratings_at_the_same_moment_give_one_rating_and_one_409(intake, bus):
    case = resolved_case(intake)
    pool = eventlet.GreenPool(2)
    answers = list(pool.imap(lambda score: rate(intake, case, score), [5, 1]))
    assert sorted(answer.status_code for answer in answers) == [201, 409]
    refused = next(answer for answer in answers if answer.status_code == 409)
    assert refused.json()["error"] == "conflict"
    kept = next(answer for answer in answers if answer.status_code == 201).json()["score"]
    assert stored(intake, case["case_id"])["rating"]["score"] == kept
    wait_for(lambda: bus.events("rating_submitted"))
    assert len(bus.events("rating_submitted")) == 1


def test_an_event_that_raced_another_writer_is_applied_once_without_a_redelivery(intake, bus, monkeypatch):
    case = intake.post("/api/v1/cases", case_payload(), auth=CLERK).json()
    clash = StaleReads(monkeypatch, case["case_id"], times=2)
    envelope = send(intake.config["AMQP_URI"], "routing", "case_accepted", case_ref_of(case),
                    {"unit": "140106:hrss"})
    wait_for(lambda: stored(intake, case["case_id"])["status"] == "accepted", message="the event applied")
    assert clash.served == 2
    doc = stored(intake, case["case_id"])
    assert [entry["kind"] for entry in doc["timeline"]] == ["intake.registered", "routing.case_accepted"]
    assert doc["version"] == 1
    assert intake.db.inbox.count_documents({"_id": envelope["event_id"]}) == 1
    assert wait_for(lambda: bus.events("case_status_changed"))[0]["data"]["to_status"] == "accepted"
    assert drain(intake.config["AMQP_URI"], dead_letter_queue_name("intake")) == []
    # settled inside the handler: the consumer never had to send the event round again
    consumed = [line for line in intake.get("/metrics").text.splitlines()
                if line.startswith("onestop_events_consumed_total") and 'event_type="case_accepted"' in line]
    assert any('outcome="processed"' in line and line.endswith(" 1.0") for line in consumed), consumed
    assert not any('outcome="retried"' in line for line in consumed), consumed


def raced_upserts(monkeypatch, collection_name: str):
    """Every upsert into `collection_name` loses to a concurrent first upsert (DuplicateKeyError)."""
    real = Collection.find_one_and_update

    def find_one_and_update(collection, *args, **kwargs):
        if collection.name == collection_name:
            raise DuplicateKeyError("E11000 duplicate key error (forced by the test)")
        return real(collection, *args, **kwargs)

    monkeypatch.setattr(Collection, "find_one_and_update", find_one_and_update)


def test_a_case_code_sequence_that_cannot_be_had_is_answered_busy(intake, monkeypatch):
    raced_upserts(monkeypatch, "code_sequences")
    response = intake.post("/api/v1/cases", case_payload(), auth=CLERK)
    assert response.status_code == 503 and response.json()["error"] == "busy"
    assert intake.db.cases.count_documents({}) == 0


def test_a_public_request_that_cannot_be_counted_is_answered_busy(intake, monkeypatch):
    case = intake.post("/api/v1/cases", case_payload(), auth=CLERK).json()
    raced_upserts(monkeypatch, "rate_limits")
    response = intake.get(f"/api/v1/public/progress/{case['case_code']}?phone_tail=5678")
    assert response.status_code == 503 and response.json()["error"] == "busy"
