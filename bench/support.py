"""What the benchmarks share: a fresh vhost, the system under test, open-loop load, percentiles."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import queue
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MANAGEMENT_API = "http://127.0.0.1:15672/api"
GUEST = ("guest", "guest")


@contextlib.contextmanager
def fresh_vhost():
    name = f"onestop-bench-{uuid.uuid4().hex[:8]}"
    requests.put(f"{MANAGEMENT_API}/vhosts/{name}", auth=GUEST, timeout=30).raise_for_status()
    requests.put(f"{MANAGEMENT_API}/permissions/{name}/guest", auth=GUEST, timeout=30,
                 json={"configure": ".*", "write": ".*", "read": ".*"}).raise_for_status()
    try:
        yield f"amqp://guest:guest@127.0.0.1:5672/{quote(name, safe='')}"
    finally:
        requests.delete(f"{MANAGEMENT_API}/vhosts/{name}", auth=GUEST, timeout=30)


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def summary_ms(values: list[float]) -> str:
    return (f"p50 {percentile(values, 0.50) * 1000:7.1f} ms  p95 {percentile(values, 0.95) * 1000:7.1f} ms  "
            f"p99 {percentile(values, 0.99) * 1000:7.1f} ms  (n={len(values)})")


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its children, from /proc."""
    total = 0
    pids = [pid]
    with contextlib.suppress(FileNotFoundError):
        children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
        pids += [int(child) for child in children]
    for each in pids:
        with contextlib.suppress(FileNotFoundError), open(f"/proc/{each}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total / 1024


class PeakRss:
    """Samples the RSS of some processes in the background; keeps each one's peak."""

    def __init__(self, pids: dict[str, int], interval: float = 0.2):
        self.pids = pids
        self.peaks = dict.fromkeys(pids, 0.0)
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            for name, pid in self.pids.items():
                self.peaks[name] = max(self.peaks[name], rss_mb(pid))
            self._stop.wait(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def open_loop(url_host: str, port: int, path: str, make_body, rate: float, count: int,
              headers: dict, threads: int = 32, on_answer=None) -> tuple[list[float], dict[int, int]]:
    """Send `count` POSTs at `rate` per second regardless of how fast answers come (open loop);
    latency is measured from each request's scheduled time, so queueing shows."""
    schedule: queue.Queue = queue.Queue()
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    start = time.perf_counter() + 0.2

    def worker():
        connection = http.client.HTTPConnection(url_host, port, timeout=30)
        while True:
            item = schedule.get()
            if item is None:
                return
            index, due = item
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            body = json.dumps(make_body(index)).encode()
            try:
                connection.request("POST", path, body=body, headers={**headers, "Content-Type": "application/json"})
                response = connection.getresponse()
                answer = response.read()
                status = response.status
                if on_answer is not None:
                    on_answer(index, status, answer, time.time())
            except (OSError, http.client.HTTPException):
                connection.close()
                connection = http.client.HTTPConnection(url_host, port, timeout=30)
                status = 0
            elapsed = time.perf_counter() - due
            with lock:
                latencies.append(elapsed)
                statuses[status] = statuses.get(status, 0) + 1

    pool = [threading.Thread(target=worker, daemon=True) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for index in range(count):
        schedule.put((index, start + index / rate))
    for _ in pool:
        schedule.put(None)
    for thread in pool:
        thread.join()
    return latencies, statuses


def machine() -> str:
    cpus = os.cpu_count()
    with open("/proc/meminfo") as meminfo:
        total_kb = int(meminfo.readline().split()[1])
    model = "unknown CPU"
    with contextlib.suppress(FileNotFoundError), open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return f"{cpus} cores ({model}), {total_kb / 1024 / 1024:.0f} GiB RAM, Python {sys.version.split()[0]}"
