"""How many store commands notify spends per message: a measuring script, not a test.

Starts the embedded store, a fresh RabbitMQ vhost, the stub intake and routing, the local
gateways and notify; publishes the events of complex cases (registered, assigned to the
county centre, six departments summoned) and counts, with a pymongo CommandListener, every
command notify's client sends until each message is settled — by collection and command,
with the time each took as the client saw it (waits included), and the CPU time the store
process used meanwhile (which includes the script's own polling, a few queries a second).
Figures go to docs/notify.md.

    .venv/bin/python -m tests.support.notify_command_count [--cases 5] [--departments 6]
"""

from __future__ import annotations

import eventlet

eventlet.monkey_patch()

import argparse  # noqa: E402
import copy  # noqa: E402
import os  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from collections import Counter, defaultdict  # noqa: E402
from datetime import timedelta  # noqa: E402

from nameko.containers import ServiceContainer  # noqa: E402
from nameko.testing.utils import get_extension  # noqa: E402
from pymongo import MongoClient, monitoring  # noqa: E402

from services.common.contracts import iso  # noqa: E402
from services.common.mongo import database_name  # noqa: E402
from services.notify.clock import Clock  # noqa: E402
from services.notify.service import NotifyService  # noqa: E402
from tests.support.broker import publish_event  # noqa: E402
from tests.support.infra import EmbeddedStore, VhostPool, service_config, vhost_uri, wait_for  # noqa: E402
from tests.support.notify_fakes import HttpGateway, SmtpSink, StubIntake, StubRouting  # noqa: E402
from tests.support.notify_samples import CASE, CONTACTS, NOW, UNITS, envelope, unit  # noqa: E402

SETTLED = ("sent", "failed", "skipped", "cancelled")
# Commands that name no collection: attributed to the session's transaction.
SESSION_COMMANDS = ("commitTransaction", "abortTransaction", "endSessions")


class CommandTally(monitoring.CommandListener):
    """Commands and store time per (collection, command) for one database."""

    def __init__(self) -> None:
        self.database: str | None = None
        self.started_calls: dict[int, tuple[str, str]] = {}
        self.counts: Counter = Counter()
        self.micros: Counter = Counter()

    def started(self, event) -> None:
        if event.command_name in SESSION_COMMANDS:
            self.started_calls[event.request_id] = ("(transaction)", event.command_name)
        elif event.database_name == self.database:
            collection = event.command.get(event.command_name)
            self.started_calls[event.request_id] = (str(collection), event.command_name)

    def succeeded(self, event) -> None:
        self._finish(event)

    def failed(self, event) -> None:
        self._finish(event)

    def _finish(self, event) -> None:
        key = self.started_calls.pop(event.request_id, None)
        if key is not None:
            self.counts[key] += 1
            self.micros[key] += event.duration_micros

    def reset(self) -> None:
        self.counts.clear()
        self.micros.clear()


def complex_case(number: int, departments: list[str]) -> tuple[dict, list[dict]]:
    case = {**CASE, "case_id": f"case-bench-{number}", "case_code": f"140106-261123-LB-{number:04d}-7"}
    summons = [{"summons_id": f"sm-{number}-{index}", "department": unit_id, "on_site": False,
                "report_by": iso(NOW + timedelta(minutes=20 + 5 * index))}
               for index, unit_id in enumerate(departments)]
    assigned = {"tier": "complex", "level": "county", "unit": "140106:centre", "lead_department": departments[0],
                "departments": departments, "rule": {"rule_id": "complex", "reason": "bench"}}
    events = [envelope("intake", "case_registered", case=case),
              envelope("routing", "case_assigned", assigned, case=case),
              envelope("routing", "departments_summoned", {"summons": summons}, case=case)]
    return case, events


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process so far (Linux)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start(service_cls, config: dict) -> ServiceContainer:
    container = ServiceContainer(service_cls, config)
    container.start()
    return container


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=5)
    parser.add_argument("--departments", type=int, default=6)
    args = parser.parse_args()

    store, pool = EmbeddedStore.start(), VhostPool(ahead=1, makers=1)
    reader_client = MongoClient(store.uri, tz_aware=True)  # made before the listener: not counted
    tally = CommandTally()
    monitoring.register(tally)
    vhost = pool.take()
    gateway, smtp = HttpGateway(), SmtpSink()
    containers: list[ServiceContainer] = []
    try:
        departments = [f"140106:bench{index:02d}" for index in range(args.departments)]
        StubRouting.units = copy.deepcopy(UNITS)
        for index, unit_id in enumerate(departments):
            StubRouting.units[unit_id] = unit(unit_id, f"第{index}号部门", "department", phone=f"0351600{index:04d}",
                                              email=f"bench{index}@yingze.example.cn", wechat=f"oBench{index:09d}")
        cases = [complex_case(number, departments) for number in range(1, args.cases + 1)]
        StubIntake.parties = {case["case_id"]: copy.deepcopy(CONTACTS) for case, _ in cases}
        common = {"mongo_uri": store.uri, "amqp_uri": vhost_uri(vhost), "database_prefix": f"b{uuid.uuid4().hex[:8]}"}
        containers.append(start(StubIntake, service_config("intake", **common)))
        containers.append(start(StubRouting, service_config("routing", **common)))
        config = service_config(
            "notify", **common, NOTIFY_DISPATCH_SECONDS=1.0, OUTBOX_SWEEP_SECONDS=1.0, OUTBOX_LEASE_SECONDS=15,
            HOUSEKEEPING_SECONDS=15, RPC_TIMEOUT_SECONDS=5,
            SMS_GATEWAY_URL=gateway.url("/sms"), WECHAT_GATEWAY_URL=gateway.url("/wechat"),
            SMTP_HOST="127.0.0.1", SMTP_PORT=smtp.port)
        tally.database = database_name(config, "notify")
        notify = start(NotifyService, config)
        containers.append(notify)
        get_extension(notify, Clock).travel_to(NOW)  # daytime in Taiyuan: no quiet hours
        reader = reader_client[tally.database]
        wait_for(lambda: reader.list_collection_names(), timeout=10, message="notify's indexes")
        eventlet.sleep(2)
        tally.reset()

        started, store_cpu = time.monotonic(), cpu_seconds(store.process.pid)
        for _, events in cases:
            for event in events:
                publish_event(config["AMQP_URI"], event)

        def settled():
            total = reader.notifications.count_documents({})
            done = reader.notifications.count_documents({"status": {"$in": list(SETTLED)}})
            pending = reader.outbox.count_documents({"status": "pending"})
            return total if total and total == done and pending == 0 else None

        messages = wait_for(settled, timeout=300, interval=0.5, message="every message settled")
        elapsed, store_cpu = time.monotonic() - started, cpu_seconds(store.process.pid) - store_cpu
        counts, micros = Counter(tally.counts), Counter(tally.micros)
        by_status = Counter(doc["status"] for doc in reader.notifications.find({}, {"status": 1}))

        tally.reset()
        eventlet.sleep(5)
        idle = sum(tally.counts.values()) / 5
    finally:
        for container in reversed(containers):
            container.stop()
        gateway.close()
        smtp.close()
        pool.release(vhost)
        pool.close()
        store.stop()

    print(f"{args.cases} complex cases × ({args.departments} departments): {messages} messages "
          f"{dict(by_status)} settled in {elapsed:.1f} s; the store used {store_cpu:.1f} s of CPU "
          f"({store_cpu * 1000 / messages:.1f} ms per message)")
    per_collection: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for (collection, command), count in sorted(counts.items()):
        print(f"  {collection:16} {command:18} {count:6d}  {micros[(collection, command)] / 1000:8.1f} ms")
        per_collection[collection][0] += count
        per_collection[collection][1] += micros[(collection, command)]
    print("per message:")
    for collection, (count, total_micros) in sorted(per_collection.items()):
        print(f"  {collection:16} {count / messages:6.2f} commands  {total_micros / 1000 / messages:6.2f} ms")
    total, total_ms = sum(counts.values()), sum(micros.values()) / 1000
    print(f"  {'all':16} {total / messages:6.2f} commands  {total_ms / messages:6.2f} ms "
          f"(per case: {total / args.cases:.0f} commands, {total_ms / args.cases:.0f} ms)")
    print(f"idle: {idle:.1f} commands/s with nothing to send")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
