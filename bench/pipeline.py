"""The pipeline intake → routing → notify under a steady load, beside the raw broker ceiling.

Posts N cases at a steady rate to intake (real processes, as `make run` starts them),
watches the bus for routing.case_assigned and notify.notification_sent of each case, and
prints throughput and p50/p95/p99 of registered→assigned and registered→notified. In the
same run it measures the raw broker rate (durable publishes with confirms, batched, pika) so
the result reads as a ratio. Targets: ≥ 100 cases/s, p95 registered→notified < 1 s, and at
least a third of the raw broker rate per event.

    .venv/bin/python bench/pipeline.py [--cases 2000] [--rate 100]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time

import pika
from support import ROOT, fresh_vhost, machine, open_loop, percentile, summary_ms

from tests.support.system import start_system, stop_system

EVENTS_PER_CASE = 4  # case_registered, case_assigned, mediation_requested/summons, notification_sent …


def raw_broker_rate(amqp_uri: str, messages: int = 20000, window: int = 200) -> float:
    """Durable, persistent, mandatory publishes with publisher confirms, up to `window`
    unconfirmed at a time (batched confirms), on pika's asynchronous connection."""
    body = json.dumps({"event_id": "x" * 36, "data": {"summary": "基准" * 40}}).encode()
    properties = pika.BasicProperties(delivery_mode=2, content_type="application/json")
    state = {"sent": 0, "confirmed": 0, "started": 0.0, "elapsed": 0.0}

    def publish_more(channel):
        while state["sent"] < messages and state["sent"] - state["confirmed"] < window:
            channel.basic_publish("bench.raw", "event", body, properties, mandatory=True)
            state["sent"] += 1

    def on_confirm(frame, channel, connection):
        method = frame.method
        if isinstance(method, pika.spec.Basic.Nack):
            raise RuntimeError("the broker refused a publish")
        state["confirmed"] = method.delivery_tag if method.multiple else state["confirmed"] + 1
        if state["confirmed"] >= messages:
            state["elapsed"] = time.perf_counter() - state["started"]
            channel.queue_delete("bench.raw", callback=lambda _: connection.close())
        else:
            publish_more(channel)

    def on_channel(channel, connection):
        def start(_):
            state["started"] = time.perf_counter()
            publish_more(channel)

        def confirm(_):
            channel.confirm_delivery(lambda frame: on_confirm(frame, channel, connection), callback=start)

        def bind(_):
            channel.queue_bind("bench.raw", "bench.raw", routing_key="#", callback=confirm)

        def queue(_):
            channel.queue_declare("bench.raw", durable=True, callback=bind)

        channel.exchange_declare("bench.raw", exchange_type="topic", durable=True, callback=queue)

    connection = pika.SelectConnection(
        pika.URLParameters(amqp_uri),
        on_open_callback=lambda conn: conn.channel(on_open_callback=lambda ch: on_channel(ch, conn)),
        on_close_callback=lambda conn, reason: conn.ioloop.stop(),
    )
    connection.ioloop.start()
    return state["confirmed"] / state["elapsed"]


class BusWatcher(threading.Thread):
    """Records when each case's first assignment and first notification appear on the bus."""

    def __init__(self, amqp_uri: str):
        super().__init__(daemon=True)
        self.amqp_uri = amqp_uri
        self.assigned: dict[str, float] = {}
        self.notified: dict[str, float] = {}
        self.ready = threading.Event()
        self.stop = threading.Event()

    def run(self) -> None:
        connection = pika.BlockingConnection(pika.URLParameters(self.amqp_uri))
        channel = connection.channel()
        queue = channel.queue_declare("", exclusive=True).method.queue
        for exchange, key in (("routing.events", "case_assigned"), ("notify.events", "notification_sent")):
            channel.exchange_declare(exchange, exchange_type="topic", durable=True)
            channel.queue_bind(queue, exchange, routing_key=key)
        self.ready.set()
        for method, _properties, body in channel.consume(queue, auto_ack=True, inactivity_timeout=0.2):
            if self.stop.is_set():
                break
            if method is None:
                continue
            now = time.time()
            event = json.loads(body)
            target = self.assigned if event["event_type"] == "case_assigned" else self.notified
            target.setdefault(event["case_code"], now)
        connection.close()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=100)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    with fresh_vhost() as amqp_uri:
        raw = raw_broker_rate(amqp_uri)
        print(f"raw broker ceiling: {raw:,.0f} durable confirmed publishes/s (pika, batches of 100)")
        system = start_system(amqp_uri)
        watcher = BusWatcher(amqp_uri)
        watcher.start()
        watcher.ready.wait(10)
        try:
            from bench.intake_http import unique_case

            registered: dict[str, float] = {}

            def on_answer(index, status, body, at):
                if status == 201:
                    registered[json.loads(body)["case_code"]] = at  # registered when intake answers 201

            headers = system.headers(roles=("intake_clerk",), jurisdictions=("140100",))
            started = time.time()
            latencies, statuses = open_loop("127.0.0.1", 8001, "/api/v1/cases", unique_case, args.rate,
                                            args.cases, headers, on_answer=on_answer)
            posted = time.time() - started
            deadline = time.time() + 60
            while time.time() < deadline and (len(watcher.notified) < len(registered)
                                              or len(watcher.assigned) < len(registered)):
                time.sleep(0.5)
            finished = max([*watcher.notified.values(), *watcher.assigned.values(), started])
            to_assigned = [watcher.assigned[c] - t for c, t in registered.items() if c in watcher.assigned]
            to_notified = [watcher.notified[c] - t for c, t in registered.items() if c in watcher.notified]
            throughput = len(to_notified) / (finished - started) if to_notified else 0.0
            print(f"\n{args.cases} cases posted at {args.rate:g}/s in {posted:.1f} s; statuses {statuses}")
            print(f"  POST latency             : {summary_ms(latencies)}")
            print(f"  registered → assigned    : {summary_ms(to_assigned)}")
            print(f"  registered → notified    : {summary_ms(to_notified)}")
            print(f"  end-to-end throughput    : {throughput:.1f} cases/s "
                  f"({len(to_notified)}/{len(registered)} notified)")
            per_event = throughput * EVENTS_PER_CASE
            print(f"  events per second        : ~{per_event:.0f} ({per_event / raw:.2f} of the raw broker rate)")
            print(f"  targets: ≥100 cases/s {'met' if throughput >= 100 else 'NOT met'}; "
                  f"p95 notified < 1 s {'met' if percentile(to_notified, 0.95) < 1 else 'NOT met'}; "
                  f"≥1/3 raw rate per event {'met' if per_event / raw >= 1 / 3 else 'NOT met'}")
        finally:
            watcher.stop.set()
            stop_system(system)
    return 0


if __name__ == "__main__":
    os.chdir(ROOT)
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
