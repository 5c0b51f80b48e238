"""POST /api/v1/cases latency at 50 and 200 requests/s, beside a trivial nameko HTTP endpoint
on the same machine (the framework's ceiling). Target: p99 under 50 ms at 50 requests/s.

By default the whole system runs, as `make run` starts it, so every case also sets routing,
notify and mediation to work on the same two cores and the same store. `--alone` runs intake
by itself (its store, and a queue bound to its events as a deployment's consumers would be):
intake's own latency.

    .venv/bin/python bench/intake_http.py [--seconds 20] [--alone]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import tempfile
import time

from support import ROOT, fresh_vhost, machine, open_loop, percentile, summary_ms

from tests.support.broker import tap
from tests.support.fleet import Fleet
from tests.support.infra import free_port
from tests.support.samples import case_payload
from tests.support.system import start_system, stop_system


def unique_case(index: int) -> dict:
    payload = case_payload(summary=f"压测案件 {index}", people_involved=1 + index % 5)
    payload["parties"][0]["phone"] = f"139{index:08d}"[-11:]
    payload["parties"][0]["id_number"] = f"1401061990{index:08d}"[-18:]
    return payload


def start_trivial(amqp_uri: str) -> tuple[subprocess.Popen, int]:
    port = free_port()
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as config:
        config.write(f"AMQP_URI: '{amqp_uri}'\nWEB_SERVER_ADDRESS: '127.0.0.1:{port}'\nmax_workers: 8\n")
    process = subprocess.Popen([str(ROOT / ".venv/bin/nameko"), "run", "--config", config.name, "trivial_service"],
                               cwd=str(ROOT / "bench"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    import requests

    for _ in range(100):
        try:
            requests.post(f"http://127.0.0.1:{port}/echo", data=b"{}", timeout=1)
            return process, port
        except requests.RequestException:
            time.sleep(0.2)
    raise RuntimeError("the trivial service did not start")


@contextlib.contextmanager
def intake_under_test(amqp_uri: str, alone: bool):
    """(port, headers) of the intake to load: alone, or within the whole system."""
    if alone:
        fleet = Fleet(amqp_uri)
        try:
            intake = fleet.add("intake")
            intake.wait_ready()
            tap(amqp_uri, "bench.intake-events", ["intake"])
            yield intake.port, fleet.headers(roles=("intake_clerk",), jurisdictions=("140106",))
        finally:
            fleet.close()
        return
    system = start_system(amqp_uri)
    try:
        yield system.ports["intake"], system.headers(roles=("intake_clerk",), jurisdictions=("140106",))
    finally:
        stop_system(system)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--alone", action="store_true", help="intake by itself, not the whole system")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    print("intake alone (its store, its events bound to a queue)" if args.alone else "the whole system running")
    with fresh_vhost() as amqp_uri, intake_under_test(amqp_uri, args.alone) as (intake_port, headers):
        trivial, trivial_port = start_trivial(amqp_uri)
        try:
            for rate in (50, 200):
                count = int(rate * args.seconds)
                open_loop("127.0.0.1", trivial_port, "/echo", lambda i: {"i": i}, rate, min(count, 400), {})  # warm
                ceiling, _ = open_loop("127.0.0.1", trivial_port, "/echo", lambda i: {"i": i}, rate, count, {})
                intake, statuses = open_loop("127.0.0.1", intake_port, "/api/v1/cases", unique_case, rate, count,
                                             headers)
                ratio = percentile(intake, 0.99) / percentile(ceiling, 0.99)
                print(f"\n{rate} requests/s for {args.seconds:g} s")
                print(f"  trivial nameko endpoint : {summary_ms(ceiling)}")
                print(f"  POST /api/v1/cases      : {summary_ms(intake)}  statuses {statuses}")
                print(f"  p99 ratio intake/trivial: {ratio:.1f}x")
                if rate == 50:
                    verdict = "met" if percentile(intake, 0.99) < 0.050 else "NOT met"
                    print(f"  target p99 < 50 ms at 50 requests/s: {verdict}")
        finally:
            trivial.terminate()
    return 0


if __name__ == "__main__":
    os.chdir(ROOT)
    sys.exit(main())
