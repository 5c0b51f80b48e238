"""`make run`: the whole system on one machine, as separate processes under honcho.

Starts the embedded SecantusDB store (unless MONGO_URI is set), makes sure RabbitMQ is
up, runs the five services and the court simulator, waits until each is ready, then
prints the URLs and a ready-made token. Ctrl-C stops everything.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

from services.common.config import embedded_store_uri, service_ports

ROOT = Path(__file__).resolve().parents[2]
STORE_PORT = int(os.environ.get("ONESTOP_STORE_PORT", "27717"))
STORE_BIN = ROOT / ".venv-store" / "bin" / "secantusd-py"
SIMULATOR_PORT = int(os.environ.get("COURT_SIMULATOR_PORT", "8010"))
RABBIT_HELP = (
    "RabbitMQ is not reachable on {host}:{port}. Install and start it, for example:\n"
    "  Debian/Ubuntu: sudo apt-get install rabbitmq-server && sudo rabbitmq-server -detached\n"
    "  macOS:         brew install rabbitmq && brew services start rabbitmq\n"
    "  Docker:        docker run -d -p 5672:5672 rabbitmq:3-management\n"
    "or point AMQP_URI at a broker you have."
)


def port_open(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_for_port(host: str, port: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if port_open(host, port):
            return True
        time.sleep(0.5)
    return False


def ensure_rabbitmq(amqp_uri: str) -> bool:
    parsed = urlparse(amqp_uri)
    host, port = parsed.hostname or "127.0.0.1", parsed.port or 5672
    if port_open(host, port):
        return True
    local = host in ("127.0.0.1", "localhost", "::1")
    server = shutil.which("rabbitmq-server")
    if local and server:
        print(f"RabbitMQ is installed but not running; starting it ({server} -detached)")
        subprocess.run([server, "-detached"], check=False)
        if wait_for_port(host, port, 90):
            return True
    print(RABBIT_HELP.format(host=host, port=port), file=sys.stderr)
    return False


def enable_management_plugin() -> None:
    """Tests make a vhost each through the management API, and check the dashboard's queue
    panels against the broker's own Prometheus endpoint; enable both where we may."""
    plugins = shutil.which("rabbitmq-plugins")
    if not plugins:
        return
    for plugin, port in (("rabbitmq_management", 15672), ("rabbitmq_prometheus", 15692)):
        if not port_open("127.0.0.1", port):
            subprocess.run([plugins, "enable", plugin], check=False,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            wait_for_port("127.0.0.1", port, 30)


def launch(args) -> int:
    from honcho.manager import Manager

    env = dict(os.environ)
    amqp_uri = env.setdefault("AMQP_URI", "amqp://guest:guest@127.0.0.1:5672/")
    if not ensure_rabbitmq(amqp_uri):
        return 1
    declare_consumer_queues(amqp_uri)
    store = None
    if not env.get("MONGO_URI"):
        store = start_store(env)
        if store is None:
            return 1
        env["MONGO_URI"] = embedded_store_uri(STORE_PORT)
    try:
        manager = Manager()
        python = sys.executable
        # court_bridge talks to the simulator started here unless the courts are configured elsewhere.
        env.setdefault("COURT_DEFAULT_BASE_URL", f"http://127.0.0.1:{SIMULATOR_PORT}")
        for service in service_ports():
            manager.add_process(service, f"{python} -m services.common.cli serve {service}",
                                env=env, cwd=str(ROOT))
        manager.add_process("court_sim", f"{python} -m services.court_bridge.simulator --port {SIMULATOR_PORT}",
                            env=env, cwd=str(ROOT))
        manager.add_process("ready", f"{python} -m services.common.launcher --announce",
                            env=env, cwd=str(ROOT))
        stopping = threading.Event()
        if store is not None:
            threading.Thread(target=_stop_all_if_the_store_dies, args=(store, manager, stopping), daemon=True).start()
        manager.loop()
        stopping.set()
        return manager.returncode or (1 if store is not None and store.poll() is not None else 0)
    finally:
        if store is not None:
            stop_store(store)


def _stop_all_if_the_store_dies(store: subprocess.Popen, manager, stopping: threading.Event) -> None:
    """As honcho does when one of its processes ends: without their store the services are no use."""
    returncode = store.wait()
    if not stopping.is_set():
        print(f"the embedded store stopped (rc={returncode}); stopping everything", file=sys.stderr, flush=True)
        manager.terminate()


def declare_consumer_queues(amqp_uri: str) -> None:
    """Every service's event queues before any service runs (services/common/topology.py): a
    service that starts later than its producers still finds what they published meanwhile."""
    from services.common.topology import declare_handler_queues, every_handler_queue

    try:
        declare_handler_queues(amqp_uri, every_handler_queue())
    except Exception as exc:  # a broker user without configure rights: its definitions hold them
        print(f"note: the consumers' queues were not declared up front ({exc.__class__.__name__}: {exc}); "
              "load deploy/rabbitmq/definitions.json into the broker", file=sys.stderr)


def start_store(env: dict) -> subprocess.Popen | None:
    """The embedded store, outside honcho's process group: Ctrl-C stops the services first, and
    the store only once they have handed back their leases and finished their last writes."""
    if not STORE_BIN.exists():
        print(f"the embedded store is not installed ({STORE_BIN}); run `make run`", file=sys.stderr)
        return None
    # ONESTOP_DATA_DIR=:memory: keeps nothing (the end-to-end tests use it).
    data_root = env.get("ONESTOP_DATA_DIR") or str(ROOT / ".data")
    if data_root == ":memory:":
        data_dir = ":memory:"
    else:
        data_dir = Path(data_root) / "secantus"
        data_dir.mkdir(parents=True, exist_ok=True)
    if port_open("127.0.0.1", STORE_PORT):
        print(f"127.0.0.1:{STORE_PORT} is already in use (another `make run`, or a store left running?): "
              "stop it, or set ONESTOP_STORE_PORT to a free port", file=sys.stderr)
        return None
    store = subprocess.Popen(
        [str(STORE_BIN), "--host", "127.0.0.1", "--port", str(STORE_PORT), "--storage-path", str(data_dir),
         "--log-level", "WARNING"],
        env=env, start_new_session=True, preexec_fn=_die_with_parent,
    )
    if wait_for_port("127.0.0.1", STORE_PORT, 60):
        print(f"embedded store on 127.0.0.1:{STORE_PORT} ({data_dir})", flush=True)
        return store
    print(f"the embedded store did not open 127.0.0.1:{STORE_PORT} within 60 s", file=sys.stderr)
    stop_store(store)
    return None


def stop_store(store: subprocess.Popen) -> None:
    store.terminate()
    try:
        store.wait(30)
    except subprocess.TimeoutExpired:
        store.kill()
        store.wait()


def _die_with_parent() -> None:
    """A launcher killed outright (kill -9) must not leave the store running: Linux's
    parent-death signal terminates it; elsewhere the store outlives such a launcher."""
    import contextlib
    import ctypes
    import signal

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


def announce() -> int:
    """Wait for every service to be ready, then print where everything is. Stays up so
    that honcho (which stops all when one process ends) keeps the system running."""
    import requests

    from services.common.auth import mint_token
    from services.common.config import load_config

    pending = service_ports()
    deadline = time.monotonic() + 180
    while pending and time.monotonic() < deadline:
        for service, port in list(pending.items()):
            try:
                if requests.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                    del pending[service]
            except requests.RequestException:
                pass
        time.sleep(1)
    if pending:
        print(f"not ready after 180 s: {', '.join(pending)} (see their output above)")
    config = load_config()
    token = mint_token(
        config["ONESTOP_JWT_SECRET"], sub="dev:admin", agency="onestop-dev",
        roles=["admin"], jurisdictions=["140100", "620100", "620702", "360900"],
    )
    lines = ["", "OneStop is running:"]
    for service, port in service_ports().items():
        lines.append(f"  {service:<13} http://127.0.0.1:{port}  "
                     f"(openapi: /api/v1/openapi.json, metrics: /metrics)")
    lines += [
        f"  court sim     http://127.0.0.1:{SIMULATOR_PORT}",
        "",
        "A development token (admin for Taiyuan, Lanzhou, Zhangye, Yichun; 12 h):",
        f"  export TOKEN={token}",
        "Try:",
        "  curl -s -H \"Authorization: Bearer $TOKEN\" "
        f"http://127.0.0.1:{service_ports()['routing']}/api/v1/directory/categories",
        "Press Ctrl-C to stop everything.",
        "",
    ]
    print("\n".join(lines), flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    if "--ensure-broker" in sys.argv:
        if not ensure_rabbitmq(os.environ.get("AMQP_URI", "amqp://guest:guest@127.0.0.1:5672/")):
            sys.exit(1)
        enable_management_plugin()
        sys.exit(0)
    if "--announce" in sys.argv:
        try:
            sys.exit(announce())
        except KeyboardInterrupt:
            sys.exit(0)
