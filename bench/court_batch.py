"""A court's referral batch of 10,000 through the real system, as `make run` starts it.

The court simulator makes a batch of `--items` realistic referrals and pushes it to
court_bridge with a court token (POST /api/v1/court/referrals), then pushes it again — as a
court does with the items answered retry_later — until every item is done. Prints how long
until the batch was accepted and until intake held every case (counted in intake's own
database), that none was lost or made twice, and the peak resident memory of each service
process. Targets (issue 6): all accepted within 60 s; each service under 200 MB.

    .venv/bin/python bench/court_batch.py [--items 10000] [--pushes 70] [--minutes 15]

When the batch is not done within `--minutes`, it stops pushing and prints how far it got and
the rate, so that a run on a slow store ends in bounded time.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from pathlib import Path

import requests
from pymongo import MongoClient
from support import ROOT, PeakRss, fresh_vhost, machine

from tests.support.system import start_system, stop_system

COURT_ID = "140106:court"
TARGET_SECONDS = 60
TARGET_MB = 200
SERVICES = ("intake", "routing", "mediation", "court_bridge", "notify")


def descendants(root: int) -> list[int]:
    """Every process below `root` (the launcher), from /proc."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        parents.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        children = parents.get(todo.pop(), [])
        found += children
        todo += children
    return found


def process_pids(launcher: int) -> dict[str, int]:
    """The service processes (and the store, the simulator) by name: the Python process itself,
    not the shell honcho starts it through."""
    pids = {}
    for pid in descendants(launcher):
        try:
            words = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        command = [word.decode(errors="replace") for word in words if word]
        if not command or not command[0].endswith(("python", "python3", "python3.11")):
            continue
        line = " ".join(command)
        for service in SERVICES:
            if line.endswith(f"services.common.cli serve {service}"):
                pids[service] = pid
        if "secantusd" in line:
            pids["store"] = pid
        elif "services.court_bridge.simulator" in line:
            pids["court_sim"] = pid
    return pids


class Counter(threading.Thread):
    """Watches how many cases intake holds; keeps when it first reached the goal."""

    def __init__(self, collection, goal: int, started: float):
        super().__init__(daemon=True)
        self.collection = collection
        self.goal = goal
        self.started = started
        self.count = 0
        self.reached_at: float | None = None
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set() and self.reached_at is None:
            self.count = self.collection.estimated_document_count()  # cheap: no scan of the store
            if self.count >= self.goal:
                self.reached_at = time.perf_counter() - self.started
            self.stop.wait(0.5)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--pushes", type=int, default=70, help="give up after this many posts of the batch")
    parser.add_argument("--minutes", type=float, default=15, help="stop pushing after this long")
    args = parser.parse_args()
    print(f"machine: {machine()}; load average before: {os.getloadavg()}")
    with fresh_vhost() as amqp_uri:
        system = start_system(amqp_uri)
        try:
            return run(system, args)
        finally:
            stop_system(system)


def run(system, args) -> int:
    store = MongoClient(f"mongodb://127.0.0.1:{system.env['ONESTOP_STORE_PORT']}/?directConnection=true",
                        tz_aware=True)
    intake_cases = store["onestop_intake"]["cases"]
    referrals = store["onestop_court_bridge"]["referrals"]
    outbox = store["onestop_court_bridge"]["outbox"]
    simulator = f"http://127.0.0.1:{system.simulator_port}"
    batch_id = f"BENCH-{args.items}"
    made = requests.post(f"{simulator}/admin/batches", json={"court_id": COURT_ID, "count": args.items,
                                                            "batch_id": batch_id, "seed": 7}, timeout=120)
    made.raise_for_status()
    pids = process_pids(system.process.pid)
    missing = set(SERVICES) - set(pids)
    if missing:
        print(f"could not find the processes of {sorted(missing)}")
        return 1
    print(f"processes: {pids}")
    accepted = 0
    with PeakRss(pids) as peaks:
        started = time.perf_counter()
        counter = Counter(intake_cases, args.items, started)
        counter.start()
        all_accepted_at = None
        for push in range(1, args.pushes + 1):
            answer = requests.post(f"{simulator}/admin/batches/{batch_id}/push",
                                   json={"target": system.url("court_bridge", ""), "timeout": 600},
                                   timeout=700).json()
            body = answer.get("answer") or {}
            if answer.get("status") != 200:
                print(f"push {push}: HTTP {answer.get('status')}: {answer}")
                return 1
            accepted += body["accepted"]
            reasons = {}
            for item in body["results"]:
                if item["result"] == "rejected":
                    reasons[item["reason"]] = reasons.get(item["reason"], 0) + 1
            print(f"push {push}: {answer['seconds']:.1f} s — accepted {body['accepted']}, duplicate "
                  f"{body['duplicate']}, rejected {body['rejected']} {reasons or ''}", flush=True)
            if body["rejected"] == 0:
                all_accepted_at = time.perf_counter() - started
                break
            if time.perf_counter() - started > args.minutes * 60:
                print(f"stopped pushing after {args.minutes:g} minutes", flush=True)
                break
        pushing = time.perf_counter() - started
        counter.join(timeout=120 if all_accepted_at else 0)
        counter.stop.set()
        registered_at = counter.reached_at
        # what the court and intake are told follows on the bus: wait for court_bridge's outbox
        drained_at = None
        deadline = time.perf_counter() + 300
        while time.perf_counter() < deadline:
            if outbox.count_documents({"status": "pending"}) == 0:
                drained_at = time.perf_counter() - started
                break
            time.sleep(1)
    in_intake = intake_cases.count_documents({"channel": "court_referral", "court_referral.court_id": COURT_ID})
    distinct = len(intake_cases.distinct("channel_ref", {"channel": "court_referral"}))
    recorded = referrals.count_documents({"court_id": COURT_ID, "batch_id": batch_id})
    received_events = outbox.count_documents({"event_type": "referral_received"})
    print(f"\n{args.items} referrals, one batch from the simulator to court_bridge (real processes)")
    print(f"  all accepted after      : {fmt(all_accepted_at)} (accepted {accepted} in all over {push} posts; "
          f"{recorded / pushing:.1f} referrals recorded per second)")
    print(f"  all registered in intake: {fmt(registered_at)}")
    print(f"  court_bridge outbox sent: {fmt(drained_at)} (referral_received events: {received_events})")
    agree = in_intake == distinct == recorded == received_events
    print(f"  counted: intake cases {in_intake} ({distinct} distinct referral ids), court_bridge referrals "
          f"{recorded}, referral_received {received_events}: "
          f"{'none lost, none twice' if agree else 'MISMATCH'}{'' if recorded == args.items else ' (not all done)'}")
    print("  peak RSS (MB)           : " + ", ".join(f"{name} {mb:.0f}" for name, mb in peaks.peaks.items()))
    over = {name: round(mb) for name, mb in peaks.peaks.items() if name in SERVICES and mb >= TARGET_MB}
    met = all_accepted_at is not None and all_accepted_at <= TARGET_SECONDS
    print(f"  targets: accepted within {TARGET_SECONDS} s {'met' if met else 'NOT met'}; every service under "
          f"{TARGET_MB} MB {'met' if not over else f'NOT met {over}'}; load average now {os.getloadavg()}")
    return 0


def fmt(seconds: float | None) -> str:
    return f"{seconds:.1f} s" if seconds is not None else "not reached"


if __name__ == "__main__":
    os.chdir(ROOT)
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
