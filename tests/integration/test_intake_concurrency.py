"""Two intake workers on one database and broker: unique codes and one file per dispute under load."""

import collections

import eventlet
import pytest

from services.common.case_codes import canonical_case_code as parse_case_code
from services.intake.service import IntakeService
from tests.support.infra import wait_for
from tests.support.intake_bus import Capture
from tests.support.intake_samples import CLERK, neighbour_dispute, person


@pytest.fixture
def replicas(start_service):
    first = start_service(IntakeService)
    # the same databases and vhost: a second replica of the same deployment
    second = start_service(IntakeService, MONGO_DATABASE_PREFIX=first.config["MONGO_DATABASE_PREFIX"])
    assert first.db.name == second.db.name and first.base_url != second.base_url
    return first, second


def test_two_workers_register_200_cases_at_once_with_unique_codes(replicas):
    first, second = replicas
    bus = Capture(first.config["AMQP_URI"])
    pool = eventlet.GreenPool(24)

    def register(index):
        replica = first if index % 2 else second
        response = replica.post("/api/v1/cases", neighbour_dispute(index), auth=CLERK)
        assert response.status_code == 201, response.text
        return response.json()

    results = list(pool.imap(register, range(200)))
    codes = [result["case_code"] for result in results]
    assert len(set(codes)) == 200
    assert all(parse_case_code(code) == code for code in codes)
    sequences = sorted(int(code.split("-")[3]) for code in codes)
    # one county, one day: no number twice (a gap is allowed where a raced counter update was lost)
    assert len(set(sequences)) == 200 and sequences[0] >= 1
    assert first.db.code_sequences.find_one()["value"] >= sequences[-1]
    assert first.db.cases.count_documents({}) == 200
    assert len({result["case_id"] for result in results}) == 200
    registered = wait_for(lambda: len(bus.events("case_registered")) >= 200 and bus.events("case_registered"),
                          timeout=60, message="200 case_registered events")
    assert sorted(event["case_code"] for event in registered) == sorted(codes)
    served = [float(line.rsplit(" ", 1)[1]) for replica in replicas
              for line in replica.get("/metrics").text.splitlines()
              if line.startswith("onestop_cases_registered_total{")]
    assert sum(served) == 200 and all(count > 0 for count in served)


def test_the_same_dispute_arriving_at_both_workers_at_once_becomes_one_file(replicas):
    first, second = replicas
    pool = eventlet.GreenPool(20)

    def report(args):
        index, channel = args
        payload = neighbour_dispute(500 + index, channel=channel)
        if channel == "grid_report":
            payload.update(grid="140106001002-07", parties=[person(f"申请人{500 + index}", f"139{500 + index:08d}")])
        replica = first if channel == "walk_in" else second
        response = replica.post("/api/v1/cases", payload, auth=CLERK)
        assert response.status_code == 201, response.text
        return index, response.json()

    jobs = [(index, channel) for index in range(15) for channel in ("walk_in", "grid_report")]
    outcomes = collections.defaultdict(list)
    for index, body in pool.imap(report, jobs):
        outcomes[index].append(body)
    for index, pair in outcomes.items():
        kinds = sorted(body["outcome"] for body in pair)
        assert kinds == ["merged", "registered"], (index, pair)
        registered = next(body for body in pair if body["outcome"] == "registered")
        merged = next(body for body in pair if body["outcome"] == "merged")
        assert merged["duplicate_of"] == registered["case_code"]
        file = first.db.cases.find_one({"_id": registered["case_id"]})
        assert sorted(file["channels"]) == ["grid_report", "walk_in"]
    assert first.db.cases.count_documents({"status": "registered"}) == 15
    assert first.db.cases.count_documents({"status": "merged"}) == 15
