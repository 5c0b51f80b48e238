"""POST /api/v1/cases latency at 50 and 200 requests/s, beside a trivial nameko HTTP endpoint
on the same machine (the framework's ceiling). Target: p99 under 50 ms at 50 requests/s.

    .venv/bin/python bench/intake_http.py [--seconds 20]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

from support import ROOT, fresh_vhost, machine, open_loop, percentile, summary_ms

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


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=20)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    with fresh_vhost() as amqp_uri:
        system = start_system(amqp_uri)
        trivial, trivial_port = start_trivial(amqp_uri)
        try:
            headers = system.headers(roles=("intake_clerk",), jurisdictions=("140106",))
            for rate in (50, 200):
                count = int(rate * args.seconds)
                open_loop("127.0.0.1", trivial_port, "/echo", lambda i: {"i": i}, rate, min(count, 400), {})  # warm
                ceiling, _ = open_loop("127.0.0.1", trivial_port, "/echo", lambda i: {"i": i}, rate, count, {})
                intake, statuses = open_loop("127.0.0.1", 8001, "/api/v1/cases", unique_case, rate, count, headers)
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
            stop_system(system)
    return 0


if __name__ == "__main__":
    os.chdir(ROOT)
    sys.exit(main())
