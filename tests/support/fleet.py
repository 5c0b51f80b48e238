"""Services as real processes, one `onestop serve <service>` each, for fault injection: a
process can be killed with SIGKILL and started again, the store frozen and thawed, while
the test drives the system over HTTP and reads each service's database directly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import requests
from pymongo import MongoClient

from services.common.auth import mint_token
from services.common.config import DEV_JWT_SECRET
from tests.support.infra import ROOT, EmbeddedStore, free_port


@dataclass
class ServiceProcess:
    name: str
    port: int
    env: dict
    log: Path
    process: subprocess.Popen | None = None
    starts: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "services.common.cli", "serve", self.name], cwd=str(ROOT),
                env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.starts += 1

    def ready(self) -> bool:
        try:
            return requests.get(self.url + "/readyz", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not self.ready():
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited:\n{self.log.read_text(errors='replace')[-3000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} not ready after {timeout}s")
            time.sleep(0.2)

    def kill(self) -> None:
        """SIGKILL: no goodbye, no ack, no mark-sent — whatever it was doing is cut off."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()


@dataclass
class Fleet:
    amqp_uri: str
    extra_env: dict = field(default_factory=dict)
    store: EmbeddedStore | None = None
    services: dict[str, ServiceProcess] = field(default_factory=dict)
    prefix: str = field(default_factory=lambda: f"chaos{uuid.uuid4().hex[:8]}")
    logdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="onestop-chaos-")))

    def __post_init__(self):
        self.store = EmbeddedStore.start()
        self.client = MongoClient(self.store.uri, tz_aware=True, serverSelectionTimeoutMS=5000)

    def env(self, name: str, port: int) -> dict:
        env = {key: value for key, value in os.environ.items() if not key.startswith(("MONGO", "AMQP"))}
        env.update({
            "AMQP_URI": self.amqp_uri, "MONGO_URI": self.store.uri, "MONGO_DATABASE_PREFIX": self.prefix,
            "WEB_SERVER_ADDRESS": f"127.0.0.1:{port}", "ONESTOP_ENV": "dev", "PYTHONUNBUFFERED": "1",
            "EVENT_RETRY_DELAYS": "[0.5, 1, 2, 4]", "OUTBOX_SWEEP_SECONDS": "0.5", "OUTBOX_LEASE_SECONDS": "3",
            "HOUSEKEEPING_SECONDS": "1",
        })
        env.update(self.extra_env)
        return env

    def add(self, name: str, replica: str = "", **env) -> ServiceProcess:
        key = name + replica
        port = free_port()
        process = ServiceProcess(name, port, {**self.env(name, port), **env}, self.logdir / f"{key}.log")
        self.services[key] = process
        process.start()
        return process

    def __getitem__(self, key: str) -> ServiceProcess:
        return self.services[key]

    def db(self, service: str):
        return self.client[f"{self.prefix}_{service}"]

    def headers(self, roles=("admin",), jurisdictions=("140100",), agency="chaos", sub="chaos") -> dict:
        token = mint_token(DEV_JWT_SECRET, sub=sub, roles=roles, jurisdictions=jurisdictions, agency=agency)
        return {"Authorization": f"Bearer {token}"}

    def freeze_store(self) -> None:
        os.kill(self.store.process.pid, signal.SIGSTOP)

    def thaw_store(self) -> None:
        os.kill(self.store.process.pid, signal.SIGCONT)

    def close(self) -> None:
        self.thaw_store()
        for process in self.services.values():
            process.stop()
        self.client.close()
        self.store.stop()
