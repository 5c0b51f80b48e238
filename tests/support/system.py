"""The whole system as `make run` starts it: real processes under the launcher, on a fresh
RabbitMQ vhost and an in-memory store, driven over HTTP by the end-to-end tests."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

from services.common.auth import mint_token
from services.common.config import DEV_JWT_SECRET, service_ports
from tests.support.infra import ROOT, free_port


@dataclass
class RunningSystem:
    process: subprocess.Popen
    log_path: Path
    env: dict
    simulator_port: int
    ports: dict = field(default_factory=service_ports)

    def url(self, service: str, path: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}{path}"

    def token(self, roles=("admin",), jurisdictions=("140100",), agency="e2e", sub="e2e-user", **kwargs) -> str:
        return mint_token(DEV_JWT_SECRET, sub=sub, roles=roles, jurisdictions=jurisdictions, agency=agency,
                          **kwargs)

    def headers(self, **kwargs) -> dict:
        return {"Authorization": f"Bearer {self.token(**kwargs)}"}

    def get(self, service: str, path: str, auth: dict | None = None, **kwargs) -> requests.Response:
        headers = kwargs.pop("headers", None) or (self.headers(**auth) if auth is not None else {})
        return requests.get(self.url(service, path), headers=headers, timeout=15, **kwargs)

    def post(self, service: str, path: str, body=None, auth: dict | None = None, **kwargs) -> requests.Response:
        headers = kwargs.pop("headers", None) or (self.headers(**auth) if auth is not None else {})
        return requests.post(self.url(service, path), json=body, headers=headers, timeout=30, **kwargs)

    def request(self, service: str, method: str, path: str, body=None, headers: dict | None = None,
                **kwargs) -> requests.Response:
        return requests.request(method, self.url(service, path), json=body, headers=headers or {}, timeout=30,
                                **kwargs)

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")

    def metric(self, service: str, name: str, **labels) -> float:
        """Sum of the samples of `name` whose labels include `labels`."""
        total = 0.0
        for line in self.get(service, "/metrics").text.splitlines():
            if not line.startswith(name + "{") and not line.startswith(name + " "):
                continue
            if all(f'{key}="{value}"' in line for key, value in labels.items()):
                total += float(line.rsplit(" ", 1)[1])
        return total


def start_system(amqp_uri: str, extra_env: dict | None = None, timeout: float = 120) -> RunningSystem:
    offset = _free_offset()
    log_file = tempfile.NamedTemporaryFile(prefix="onestop-e2e-", suffix=".log", delete=False)  # noqa: SIM115
    simulator_port = free_port()
    env = {key: value for key, value in os.environ.items() if key != "MONGO_URI"}
    env.update({
        "AMQP_URI": amqp_uri,
        "ONESTOP_DATA_DIR": ":memory:",
        "ONESTOP_STORE_PORT": str(free_port()),
        "COURT_SIMULATOR_PORT": str(simulator_port),
        "ONESTOP_ENV": "dev",
        "PYTHONUNBUFFERED": "1",
        "ONESTOP_PORT_OFFSET": str(offset),
    })
    env.update(extra_env or {})
    process = subprocess.Popen(
        [sys.executable, "-m", "services.common.cli", "run"], cwd=str(ROOT), env=env,
        stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True,
    )
    system = RunningSystem(process, Path(log_file.name), env, simulator_port, ports=service_ports(env))
    deadline = time.monotonic() + timeout
    pending = set(system.ports)
    while pending and time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the launcher exited early:\n{system.logs()[-4000:]}")
        for service in list(pending):
            try:
                if requests.get(system.url(service, "/readyz"), timeout=2).status_code == 200:
                    pending.discard(service)
            except requests.RequestException:
                pass
        time.sleep(0.5)
    if pending:
        stop_system(system)
        raise RuntimeError(f"not ready after {timeout}s: {sorted(pending)}\n{system.logs()[-4000:]}")
    return system


def stop_system(system: RunningSystem) -> None:
    """Ctrl-C, as a person would; then make sure nothing is left running."""
    try:
        os.killpg(system.process.pid, signal.SIGINT)
        system.process.wait(30)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        pass
    with contextlib.suppress(ProcessLookupError):
        os.killpg(system.process.pid, signal.SIGKILL)


def _free_offset() -> int:
    """8001-8005 when free; else the next hundred up where all five are (a `make run` may be up)."""
    for offset in range(0, 1000, 100):
        if not any(_port_open(port + offset) for port in service_ports({}).values()):
            return offset
    raise RuntimeError("no free set of service ports from 8001 to 8905")


def _port_open(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        sock.settimeout(0.3)
        return sock.connect_ex(("127.0.0.1", port)) == 0
