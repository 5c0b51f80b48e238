"""Processes killed with SIGKILL mid-stream, and the database frozen: nothing lost, nothing
applied twice. Real processes (`onestop serve`), the real broker, the embedded store."""

from __future__ import annotations

import queue
import threading
import time
from collections import Counter

import pytest
import requests

from tests.support.infra import wait_for
from tests.support.samples import distinct_case

pytestmark = pytest.mark.chaos
CLERK = {"roles": ("intake_clerk",), "jurisdictions": ("140106",)}


class Poster(threading.Thread):
    """Clerks posting distinct cases, four at a time, about `rate` a second; a refused
    connection or a 5xx (intake killed) is retried later with the same case, as a clerk
    would press "submit" again."""

    def __init__(self, fleet, count: int, rate: float, first_index: int = 0, clerks: int = 4):
        super().__init__(daemon=True)
        self.fleet, self.rate, self.clerks = fleet, rate, clerks
        self.pending = queue.Queue()
        for index in range(first_index, first_index + count):
            self.pending.put(index)
        self.count = count
        self.confirmed: dict[int, str] = {}
        self.answers: Counter = Counter()

    def clerk(self) -> None:
        headers = self.fleet.headers(**CLERK)
        while len(self.confirmed) < self.count:
            try:
                index = self.pending.get(timeout=1)
            except queue.Empty:
                continue
            started = time.monotonic()
            try:
                answer = requests.post(self.fleet["intake"].url + "/api/v1/cases", json=distinct_case(index),
                                       headers=headers, timeout=15)
                self.answers[answer.status_code] += 1
                if answer.status_code == 201:
                    self.confirmed[index] = answer.json()["case_id"]
                else:
                    self.pending.put(index)
            except requests.RequestException:
                self.answers["refused"] += 1
                self.pending.put(index)
            time.sleep(max(0.0, self.clerks / self.rate - (time.monotonic() - started)))

    def run(self) -> None:
        clerks = [threading.Thread(target=self.clerk, daemon=True) for _ in range(self.clerks)]
        for clerk in clerks:
            clerk.start()
        for clerk in clerks:
            clerk.join()


def assigned_once(fleet, case_ids) -> tuple[int, int]:
    """(cases routing holds, cases with more than one effect): one routing case, one
    case_assigned event and one "assigned" entry on intake's file per registered case."""
    held = fleet.db("routing").cases.count_documents({"_id": {"$in": list(case_ids)}})
    assigned = Counter(entry["envelope"]["case_id"] for entry in fleet.db("routing").outbox.find(
        {"event_type": "case_assigned", "envelope.case_id": {"$in": list(case_ids)}}, {"envelope.case_id": 1}))
    twice = {case_id for case_id, count in assigned.items() if count > 1}
    for case in fleet.db("intake").cases.find({"_id": {"$in": list(case_ids)}}, {"timeline": 1}):
        kinds = Counter(entry["kind"] for entry in case["timeline"])
        if kinds["routing.case_assigned"] > 1:
            twice.add(case["_id"])
    return held, len(twice)


def test_consumers_and_producers_killed_mid_stream_lose_nothing_and_apply_nothing_twice(fleet, report):
    fleet.add("intake").wait_ready()
    fleet.add("routing").wait_ready()
    poster = Poster(fleet, count=120, rate=8)
    poster.start()
    kills = 0
    for victim in ("routing", "intake", "routing", "intake", "routing"):
        time.sleep(2.5)
        fleet[victim].kill()
        kills += 1
        time.sleep(0.5)
        fleet[victim].start()
        fleet[victim].wait_ready()
    poster.join(timeout=180)
    assert not poster.is_alive(), f"the clerks could not register every case: {dict(poster.answers)}"
    case_ids = set(poster.confirmed.values())
    assert len(case_ids) == 120

    wait_for(lambda: assigned_once(fleet, case_ids)[0] == len(case_ids), timeout=120, interval=0.5,
             message="every registered case to reach routing")
    held, duplicated = assigned_once(fleet, case_ids)
    stored = fleet.db("intake").cases.count_documents({"_id": {"$in": list(case_ids)}})
    report(f"consumer and producer SIGKILLed {kills} times mid-stream", attempted=120, confirmed=len(case_ids),
           delivered=held, lost=len(case_ids) - held, duplicated=duplicated,
           note=f"answers {dict(poster.answers)}")
    assert stored == len(case_ids)
    assert held == len(case_ids) and duplicated == 0
    assert fleet.db("intake").outbox.count_documents({"status": "pending"}) == 0


def test_a_frozen_database_answers_503_drops_nothing_and_everything_proceeds_when_it_is_back(fleet, report):
    intake, routing = fleet.add("intake"), fleet.add("routing")
    intake.wait_ready()
    routing.wait_ready()
    headers = fleet.headers(**CLERK)
    before = [requests.post(intake.url + "/api/v1/cases", json=distinct_case(500 + i), headers=headers,
                            timeout=15) for i in range(10)]
    assert all(answer.status_code == 201 for answer in before)
    confirmed = {answer.json()["case_id"] for answer in before}

    fleet.freeze_store()  # the database stops answering: a partition, a hung disk
    try:
        during = requests.post(intake.url + "/api/v1/cases", json=distinct_case(600), headers=headers, timeout=30)
        assert during.status_code == 503, during.text
        assert during.json()["error"] == "unavailable"
        assert requests.get(intake.url + "/readyz", timeout=30).status_code == 503
        time.sleep(3)  # routing's handlers meet the frozen store too: retried, never acked and dropped
    finally:
        fleet.thaw_store()

    wait_for(intake.ready, timeout=60, message="intake ready again")
    after = requests.post(intake.url + "/api/v1/cases", json=distinct_case(600), headers=headers, timeout=15)
    assert after.status_code == 201, after.text
    confirmed.add(after.json()["case_id"])
    wait_for(lambda: assigned_once(fleet, confirmed)[0] == len(confirmed), timeout=90, interval=0.5,
             message="every confirmed case to reach routing after the store is back",
             explain=lambda: f"{assigned_once(fleet, confirmed)[0]} of {len(confirmed)} in routing; routing's log ends "
                             + fleet["routing"].log.read_text(errors="replace")[-3000:])
    held, duplicated = assigned_once(fleet, confirmed)
    report("database frozen for ~10 s", attempted=12, confirmed=len(confirmed), delivered=held,
           lost=len(confirmed) - held, duplicated=duplicated, note="the request during the freeze answered 503")
    assert duplicated == 0


def fast_rules(tmp_path, minutes: float) -> str:
    """routing's shipped rules with the first-contact clock shortened, so a case nobody answers
    goes blue, yellow and red within seconds (rules are data: a deployment may do the same)."""
    import yaml

    from services.routing import dependencies

    rules = yaml.safe_load(dependencies.DEFAULT_RULES.read_text(encoding="utf-8"))
    rules["clocks"]["first_contact"]["duration"] = {"minutes": minutes}
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(rules, allow_unicode=True), encoding="utf-8")
    return str(path)


def test_two_routing_replicas_sweeping_raise_each_warning_exactly_once(fleet, report, tmp_path):
    rules = fast_rules(tmp_path, minutes=0.1)
    fleet.add("intake").wait_ready()
    for replica in ("-a", "-b"):
        fleet.add("routing", replica, ROUTING_RULES_FILE=rules, ROUTING_SWEEP_SECONDS="0.5").wait_ready()
    headers = fleet.headers(**CLERK)
    case_ids = []
    for index in range(10):
        answer = requests.post(fleet["intake"].url + "/api/v1/cases", json=distinct_case(5000 + index),
                               headers=headers, timeout=15)
        assert answer.status_code == 201, answer.text
        case_ids.append(answer.json()["case_id"])

    def warnings():
        return list(fleet.db("routing").outbox.find(
            {"event_type": "sla_warning", "envelope.case_id": {"$in": case_ids},
             "envelope.data.clock": "first_contact"}, {"envelope": 1}))

    def reached(*colours):
        return {(w["envelope"]["case_id"], w["envelope"]["data"]["colour"]) for w in warnings()} >= \
            {(case_id, colour) for case_id in case_ids for colour in colours}

    wait_for(lambda: reached("blue"), timeout=60, interval=0.5, message="every case blue")
    fleet["routing-a"].kill()  # one replica dies, perhaps holding the sweep lease; the other carries on
    wait_for(lambda: reached("blue", "yellow", "red"), timeout=120, interval=0.5,
             message="every case yellow and red after a replica died")
    time.sleep(3)  # a late duplicate would show by now
    raised = Counter((w["envelope"]["case_id"], w["envelope"]["data"]["colour"]) for w in warnings())
    escalations = Counter(entry["envelope"]["case_id"] for entry in fleet.db("routing").outbox.find(
        {"event_type": "case_escalated", "envelope.case_id": {"$in": case_ids}}, {"envelope.case_id": 1}))
    twice = sum(1 for count in raised.values() if count > 1)
    report("two routing replicas sweeping, one SIGKILLed", attempted=30, confirmed=len(raised),
           delivered=len(raised), lost=30 - len(raised), duplicated=twice,
           note=f"escalations per case {sorted(set(escalations.values()))}")
    assert twice == 0 and len(raised) == 30
    assert set(escalations.values()) == {3}
