"""court_bridge's own cost on a referral batch: court_bridge and intake alone, nothing else.

    .venv/bin/python bench/court_bridge_alone.py --items 10000 [--intake stub|real] [--set KEY=VALUE]

bench/court_batch.py measures the whole system; this one tells where the time goes. With
`--intake stub` (an in-memory intake.register_case) it is court_bridge's part alone: its
checks, the RPC calls and its writes; with `--intake real`, intake's registrations besides.
Starts the embedded store (in memory), a fresh RabbitMQ vhost, intake and court_bridge as
separate processes, posts one batch of `--items` court referrals, prints
how long the answer took, what it said and the CPU time each process used meanwhile (the
figure that does not depend on what else the machine is doing), then posts it again — as a
court does with the items answered retry_later — until a post finds every item done (all
duplicates). Prints figures; never part of pass/fail.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid

import requests
import yaml
from support import ROOT

from services.common.auth import mint_token
from services.common.config import load_config
from tests.support.court_bridge_support import COURT_ID, batch, bind_sink, referral_item
from tests.support.infra import EmbeddedStore, free_port, management_api_available, vhost_uri

CAUSES = [("private_lending", "lending"), ("marriage_family", "family"), ("labour_remuneration", "labour"),
          ("property_service_contract", "property_management"), ("motor_vehicle_accident", "traffic")]


def make_vhost() -> str:
    if not management_api_available():
        raise SystemExit("the RabbitMQ management API is needed to make a vhost (make broker)")
    name = f"onestop-bench-{uuid.uuid4().hex[:8]}"
    api = "http://127.0.0.1:15672/api"
    requests.put(f"{api}/vhosts/{name}", auth=("guest", "guest"), timeout=30).raise_for_status()
    requests.put(f"{api}/permissions/{name}/guest", auth=("guest", "guest"), timeout=30,
                 json={"configure": ".*", "write": ".*", "read": ".*"}).raise_for_status()
    return name


def drop_vhost(name: str) -> None:
    requests.delete(f"http://127.0.0.1:15672/api/vhosts/{name}", auth=("guest", "guest"), timeout=30)


def wait_ready(url: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise SystemExit(f"{url} was not ready in {seconds:.0f} s")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--intake", choices=("stub", "real"), default="stub")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a config setting for both services (YAML value), e.g. COURT_REFERRAL_CONCURRENCY=32")
    args = parser.parse_args()

    store = EmbeddedStore.start()
    vhost = make_vhost()
    port = free_port()
    config = load_config()
    config.update({"MONGO_URI": store.uri, "AMQP_URI": vhost_uri(vhost), "MONGO_DATABASE_PREFIX": "bench",
                   "COURT_DEFAULT_BASE_URL": "http://127.0.0.1:1", "LOGGING": {"version": 1}})
    config.pop("WEB_SERVER_ADDRESS", None)
    for assignment in args.set:
        key, _, value = assignment.partition("=")
        config[key] = yaml.safe_load(value)
    processes = []
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as handle:
        yaml.safe_dump(config, handle, allow_unicode=True)
        handle.write("WEB_SERVER_ADDRESS: !raw_env_var ${WEB_SERVER_ADDRESS:}\n")  # one port per process
    env = {**os.environ, "ONESTOP_CONFIG": handle.name}
    try:
        bridge_env = {**env, "WEB_SERVER_ADDRESS": f"127.0.0.1:{port}"}
        if args.intake == "stub":
            intake_cmd = [sys.executable, "-c",
                          "import eventlet; eventlet.monkey_patch();"
                          "from nameko.cli.run import run; from services.common.config import load_config;"
                          "from tests.support.court_bridge_support import StubIntake;"
                          "run([StubIntake], load_config())"]
        else:
            intake_cmd = [sys.executable, "-m", "services.common.cli", "serve", "intake"]
        intake_env = {**env, "WEB_SERVER_ADDRESS": f"127.0.0.1:{free_port()}"}
        log = open(os.path.join(tempfile.gettempdir(), "court_bridge_alone.log"), "w")  # noqa: SIM115
        processes.append(subprocess.Popen(intake_cmd, cwd=ROOT, env=intake_env, stdout=log, stderr=log))
        processes.append(subprocess.Popen([sys.executable, "-m", "services.common.cli", "serve", "court_bridge"],
                                          cwd=ROOT, env=bridge_env, stdout=log, stderr=log))
        print(f"service logs: {log.name}")
        url = f"http://127.0.0.1:{port}"
        wait_ready(url)
        # intake and routing consume court_bridge's events in a deployment; here a queue does
        bind_sink(vhost_uri(vhost), "bench.court_bridge.events")
        time.sleep(2)  # let intake's consumers start too
        items = []
        for number in range(args.items):
            cause, category = CAUSES[number % len(CAUSES)]
            items.append(referral_item(f"BENCH-{number:05d}", cause=cause, category=category,
                                       summary=f"诉前委派第{number}号", amount=float(1000 + number)))
        token = mint_token(config["ONESTOP_JWT_SECRET"], sub="bench", roles=["court"], jurisdictions=["140106"],
                           agency=COURT_ID)
        headers = {"Authorization": f"Bearer {token}"}
        body = batch("BENCH-1", items)
        watched = {"store": store.process.pid, "intake": processes[0].pid, "court_bridge": processes[1].pid}
        accepted = 0
        total_started = time.perf_counter()
        for attempt in range(1, 31):
            cpu_before = {name: cpu_seconds(pid) for name, pid in watched.items()}
            started = time.perf_counter()
            response = requests.post(f"{url}/api/v1/court/referrals", json=body, headers=headers, timeout=1800)
            seconds = time.perf_counter() - started
            cpu = {name: round(cpu_seconds(pid) - cpu_before[name], 1) for name, pid in watched.items()}
            answer = response.json()
            summary = {key: answer.get(key) for key in ("received", "accepted", "duplicate", "rejected")}
            print(f"post {attempt}: HTTP {response.status_code} in {seconds:.1f} s {summary}; "
                  f"CPU seconds used meanwhile: {cpu}", flush=True)
            if response.status_code != 200:
                print(answer)
                return 1
            accepted += answer["accepted"]
            if answer["rejected"] == 0 and attempt > 1:
                break  # the last post found everything done: all duplicates
        print(f"{accepted} accepted in all, {time.perf_counter() - total_started:.1f} s over {attempt} posts "
              f"(each answered within COURT_REFERRAL_TIME_BUDGET_SECONDS; the last one finds only duplicates); "
              f"intake: {args.intake}; load average now: {os.getloadavg()}")
        return 0
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
        drop_vhost(vhost)
        store.stop()
        os.unlink(handle.name)


def _stop(signum, frame):
    raise SystemExit(f"stopped by signal {signum}")  # so that main's cleanup runs


if __name__ == "__main__":
    os.chdir(ROOT)
    signal.signal(signal.SIGTERM, _stop)
    sys.exit(main())
