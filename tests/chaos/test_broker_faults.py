"""The broker stopped while cases are posted, and a poison event among good ones.

The broker test stops the local RabbitMQ application (`rabbitmqctl stop_app`) and always
starts it again, whatever happens: never leave the broker stopped."""

from __future__ import annotations

import shutil
import subprocess
import time

import pytest
import requests

from services.common.consumers import consumes
from services.routing.service import RoutingService
from tests.chaos.test_process_faults import CLERK, Poster, assigned_once
from tests.support.infra import wait_for
from tests.support.samples import distinct_case

pytestmark = pytest.mark.chaos


def rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=120)


def broker_up() -> bool:
    import socket

    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", 5672)) == 0


@pytest.mark.skipif(shutil.which("rabbitmqctl") is None, reason="needs the local broker's rabbitmqctl")
def test_cases_posted_while_the_broker_is_down_are_routed_once_it_is_back(fleet, report):
    fleet.add("intake").wait_ready()
    fleet.add("routing").wait_ready()
    poster = Poster(fleet, count=80, rate=6, first_index=2000)
    poster.start()
    time.sleep(3)
    rabbitmqctl("stop_app")
    try:
        time.sleep(6)
        during = dict(poster.answers)
        registered_while_down = len(poster.confirmed)
    finally:
        rabbitmqctl("start_app")
        wait_for(broker_up, timeout=60, message="the broker back")
    poster.join(timeout=180)
    assert not poster.is_alive(), f"the clerks could not register every case: {dict(poster.answers)}"
    case_ids = set(poster.confirmed.values())
    wait_for(lambda: assigned_once(fleet, case_ids)[0] == len(case_ids), timeout=180, interval=1,
             message="every case registered while the broker was away to reach routing")
    held, duplicated = assigned_once(fleet, case_ids)
    report("broker stopped ~6 s while posting", attempted=80, confirmed=len(case_ids), delivered=held,
           lost=len(case_ids) - held, duplicated=duplicated,
           note=f"{registered_while_down} confirmed by the time it came back; answers then {during}")
    assert held == len(case_ids) == 80 and duplicated == 0
    wait_for(lambda: fleet.db("intake").outbox.count_documents({"status": "pending",
                                                                 "event_type": "case_registered"}) == 0,
             timeout=60, message="the outbox to drain")


class PoisonedRouting(RoutingService):
    """routing whose handler chokes on one particular case, as a bug would on odd data."""

    @consumes("intake", "case_registered")
    def handle_case_registered(self, event):
        if event["data"]["summary"].startswith("POISON"):
            raise RuntimeError("cannot route this case")
        return super().handle_case_registered(event)


def test_a_poison_event_is_retried_then_dead_lettered_without_delaying_the_others(start_service, report):
    from services.intake.service import IntakeService

    intake = start_service(IntakeService)
    routing = start_service(PoisonedRouting, EVENT_RETRY_DELAYS=[0.5, 1, 2], HOUSEKEEPING_SECONDS=0.5)
    clerk = intake.headers(**CLERK)
    poison = requests.post(intake.base_url + "/api/v1/cases", json=distinct_case(3000, summary="POISON 拖欠工资"),
                           headers=clerk, timeout=10).json()
    started = time.monotonic()
    good = []
    for index in range(3001, 3021):
        answer = requests.post(intake.base_url + "/api/v1/cases", json=distinct_case(index), headers=clerk, timeout=10)
        assert answer.status_code == 201
        good.append(answer.json()["case_id"])
    wait_for(lambda: routing.db.cases.count_documents({"_id": {"$in": good}}) == len(good), timeout=30,
             message="the good cases routed while the poison is retried")
    good_done = time.monotonic() - started

    def dead_lettered() -> float:
        for line in routing.get("/metrics").text.splitlines():
            if line.startswith("onestop_events_dead_lettered_total{") and 'event_type="case_registered"' in line:
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    wait_for(lambda: dead_lettered() == 1, timeout=30, message="the poison dead-lettered")
    wait_for(lambda: 'onestop_dead_letter_queue_messages{service="routing"} 1.0' in routing.get("/metrics").text,
             timeout=30, message="the dead-letter depth the alert watches")
    metrics = routing.get("/metrics").text
    retried = next(float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
                   if line.startswith("onestop_events_consumed_total{") and 'outcome="retried"' in line
                   and 'event_type="case_registered"' in line)
    assert retried == 3  # one per configured delay, then parked
    assert routing.db.cases.count_documents({"_id": poison["case_id"]}) == 0
    report("poison event among 20 good ones", attempted=21, confirmed=21, delivered=20, lost=0, duplicated=0,
           note=f"poison retried {int(retried)}x then dead-lettered; the 20 good cases routed in {good_done:.1f} s")
    assert good_done < 20


class RelayDiedAfterPublishing(Exception):
    """Stands for the process dying between the broker's confirm and the mark-sent write."""


def test_a_relay_that_dies_between_publish_and_mark_sent_is_republished_and_applied_once(
        start_service, config_factory, container_factory, monkeypatch, report):
    from nameko.testing.utils import get_extension

    from services.common.outbox import OutboxRelay
    from services.intake.service import IntakeService
    from tests.support.infra import Running

    routing = start_service(RoutingService)
    intake_config = config_factory("intake", OUTBOX_LEASE_SECONDS=1)
    doomed = container_factory(IntakeService, intake_config)
    doomed.start()
    first = Running(doomed, intake_config)
    relay = get_extension(doomed, OutboxRelay)
    make_publisher = relay._publisher

    def publisher_that_dies_after_the_confirm(**options):
        publisher = make_publisher(**options)
        publish = publisher.publish

        def publish_then_die(*args, **kwargs):
            publish(*args, **kwargs)
            raise RelayDiedAfterPublishing()
        publisher.publish = publish_then_die
        return publisher

    monkeypatch.setattr(relay, "_publisher", publisher_that_dies_after_the_confirm)
    created = requests.post(first.base_url + "/api/v1/cases", json=distinct_case(4000),
                            headers=first.headers(**CLERK), timeout=10).json()
    wait_for(lambda: routing.db.cases.count_documents({"_id": created["case_id"]}) == 1, timeout=20,
             message="the event published before the relay died")
    entry = first.db.outbox.find_one({"envelope.case_id": created["case_id"]})
    assert entry["status"] == "pending"  # published, never marked: the death left it so
    doomed.kill()

    successor = start_service(IntakeService, **{key: intake_config[key] for key in ("MONGO_DATABASE_PREFIX",)})
    wait_for(lambda: successor.db.outbox.find_one({"_id": entry["_id"]})["status"] == "sent", timeout=30,
             message="the successor's sweeper to publish it again and mark it sent")

    def consumed(outcome):
        for line in routing.get("/metrics").text.splitlines():
            if line.startswith("onestop_events_consumed_total{") and f'outcome="{outcome}"' in line \
                    and 'event_type="case_registered"' in line:
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    wait_for(lambda: consumed("duplicate") == 1, timeout=20, message="the second delivery skipped as a duplicate")
    assert consumed("processed") == 1
    assert routing.db.outbox.count_documents({"event_type": "case_assigned",
                                              "envelope.case_id": created["case_id"]}) == 1
    report("outbox relay died between publish and mark-sent", attempted=1, confirmed=1, delivered=1, lost=0,
           duplicated=0, note="published twice, applied once")
