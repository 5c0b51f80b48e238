"""Real infrastructure for tests: the embedded store, RabbitMQ vhosts, running containers."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from urllib.parse import quote

import requests
from pymongo import MongoClient

from services.common.auth import mint_token
from services.common.config import embedded_store_uri, load_config, setting
from services.common.mongo import database_name

ROOT = Path(__file__).resolve().parents[2]
STORE_BIN = ROOT / ".venv-store" / "bin" / "secantusd-py"
RABBIT_HOST = "127.0.0.1"
MANAGEMENT_API = f"http://{RABBIT_HOST}:15672/api"
GUEST = ("guest", "guest")


def management_api_available() -> bool:
    try:
        return requests.get(f"{MANAGEMENT_API}/overview", auth=GUEST, timeout=2).status_code == 200
    except requests.RequestException:
        return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(predicate, timeout: float = 10.0, interval: float = 0.05, message: str = "condition",
             explain=None):
    """Poll until predicate() is truthy; return its value or fail with `message` (and what
    `explain()` says of the state at that moment)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            seen = f"; found {explain()}" if explain else ""
            raise AssertionError(f"timed out after {timeout}s waiting for {message}{seen}")
        time.sleep(interval)


class EmbeddedStore:
    def __init__(self, process: subprocess.Popen, port: int):
        self.process = process
        self.port = port
        self.uri = embedded_store_uri(port)

    @classmethod
    def start(cls) -> EmbeddedStore:
        if not STORE_BIN.exists():
            raise RuntimeError(f"{STORE_BIN} is missing: run `make install` (make test does)")
        port = free_port()
        process = subprocess.Popen(
            [str(STORE_BIN), "--host", "127.0.0.1", "--port", str(port),
             "--storage-path", ":memory:", "--log-level", "WARNING"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        store = cls(process, port)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                MongoClient(store.uri, serverSelectionTimeoutMS=500).admin.command("ping")
                return store
            except Exception:
                if process.poll() is not None:
                    raise RuntimeError("the embedded store exited at start") from None
                time.sleep(0.2)
        process.kill()
        raise RuntimeError("the embedded store did not start in 30 s")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()


class VhostPool:
    """Fresh RabbitMQ vhosts for tests, made ahead in the background and deleted behind.

    rabbitmqctl takes about half a second a call; making the next vhost while the current
    test runs, and deleting used ones meanwhile, keeps that off the tests' clock.
    """

    def __init__(self, ahead: int = 3, makers: int = 2):
        import eventlet
        from eventlet.queue import LightQueue

        self.use_http = management_api_available()
        if not self.use_http and not shutil.which("rabbitmqctl"):
            raise RuntimeError("each test needs a vhost of its own: enable rabbitmq_management "
                               "(make install does) or put rabbitmqctl on the PATH")
        self.ahead = ahead
        self.ready = LightQueue()
        self.deleting = []
        self.running = True
        self.fillers = [eventlet.spawn(self._fill) for _ in range(makers)]

    @staticmethod
    def _ctl(*args: str) -> None:
        subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=60)

    def _make(self) -> str:
        import uuid

        name = f"onestop-test-{uuid.uuid4().hex[:10]}"
        if self.use_http:
            vhost = quote(name, safe="")
            requests.put(f"{MANAGEMENT_API}/vhosts/{vhost}", auth=GUEST, timeout=30).raise_for_status()
            requests.put(f"{MANAGEMENT_API}/permissions/{vhost}/guest", auth=GUEST, timeout=30,
                         json={"configure": ".*", "write": ".*", "read": ".*"}).raise_for_status()
        else:
            self._ctl("add_vhost", name)
            self._ctl("set_permissions", "-p", name, "guest", ".*", ".*", ".*")
        return name

    def _delete(self, name: str) -> None:
        if self.use_http:
            requests.delete(f"{MANAGEMENT_API}/vhosts/{quote(name, safe='')}", auth=GUEST, timeout=30)
        else:
            self._ctl("delete_vhost", name)

    def _fill(self) -> None:
        import eventlet

        while self.running:
            if self.ready.qsize() < self.ahead:
                self.ready.put(self._make())
            else:
                eventlet.sleep(0.05)

    def take(self) -> str:
        return self.ready.get(timeout=60)

    def release(self, name: str) -> None:
        import eventlet

        self.deleting.append(eventlet.spawn(self._delete, name))

    def close(self) -> None:
        self.running = False
        for filler in self.fillers:
            filler.wait()
        while self.ready.qsize():
            self.release(self.ready.get())
        for deletion in self.deleting:
            deletion.wait()


def vhost_uri(name: str) -> str:
    return f"amqp://guest:guest@{RABBIT_HOST}:5672/{quote(name, safe='')}"


def service_config(service: str, *, mongo_uri: str, amqp_uri: str, database_prefix: str,
                   **overrides) -> dict:
    config = load_config(service=None)
    config.update({
        "AMQP_URI": amqp_uri,
        "MONGO_URI": mongo_uri,
        "MONGO_DATABASE_PREFIX": database_prefix,
        "WEB_SERVER_ADDRESS": f"127.0.0.1:{free_port()}",
        "SERVICE_NAME": service,
        "EVENT_RETRY_DELAYS": [0.2, 0.4],
        "OUTBOX_SWEEP_SECONDS": 0.2,
        "OUTBOX_LEASE_SECONDS": 2,
        "HOUSEKEEPING_SECONDS": 2,
        "max_workers": 4,
    })
    config.pop("LOGGING", None)
    config.update(overrides)
    return config


def token(config: dict, roles=("admin",), jurisdictions=("140100",), agency="test", sub="tester",
          **kwargs) -> str:
    return mint_token(config["ONESTOP_JWT_SECRET"], sub=sub, roles=roles,
                      jurisdictions=jurisdictions, agency=agency, **kwargs)


@dataclass
class Running:
    container: object
    config: dict

    @property
    def base_url(self) -> str:
        return f"http://{self.config['WEB_SERVER_ADDRESS']}"

    @cached_property
    def db(self):
        client = MongoClient(self.config["MONGO_URI"], tz_aware=True)
        return client[database_name(self.config, self.config["SERVICE_NAME"])]

    def headers(self, **token_kwargs) -> dict:
        return {"Authorization": f"Bearer {token(self.config, **token_kwargs)}"}

    def get(self, path: str, auth: dict | None = None, **kwargs) -> requests.Response:
        headers = kwargs.pop("headers", None) or (self.headers(**auth) if auth is not None else {})
        return requests.get(self.base_url + path, headers=headers, timeout=10, **kwargs)

    def post(self, path: str, body=None, auth: dict | None = None, **kwargs) -> requests.Response:
        headers = kwargs.pop("headers", None) or (self.headers(**auth) if auth is not None else {})
        return requests.post(self.base_url + path, json=body, headers=headers, timeout=10, **kwargs)

    def setting(self, key, default=None):
        return setting(self.config, key, default)
