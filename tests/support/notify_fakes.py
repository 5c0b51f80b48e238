"""Stand-ins around notify in tests: small "intake" and "routing" services answering the
agreed RPCs, a local HTTP gateway (SMS and WeChat) and a real local SMTP server."""

from __future__ import annotations

import email
import json
import mailbox
import shutil
import socket
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from email import policy
from pathlib import Path
from typing import ClassVar

import eventlet
from eventlet import wsgi
from nameko.rpc import rpc

from tests.support.infra import free_port, wait_for


class StubIntake:
    """intake.contacts as agreed: the parties of a case with their contacts, in clear."""

    name = "intake"
    parties: ClassVar[dict[str, list[dict]]] = {}
    calls: ClassVar[list[tuple[str, list | None]]] = []

    @rpc
    def contacts(self, case_id, roles=None):
        StubIntake.calls.append((case_id, roles))
        return [dict(p) for p in StubIntake.parties.get(case_id, []) if roles is None or p["role"] in roles]


class StubRouting:
    """routing.lookup_unit as agreed: a unit's contacts and leaders, or None."""

    name = "routing"
    units: ClassVar[dict[str, dict]] = {}

    @rpc
    def lookup_unit(self, unit_id):
        return StubRouting.units.get(unit_id)


@dataclass
class Received:
    path: str
    headers: dict
    body: dict


@dataclass
class HttpGateway:
    """A tiny JSON gateway on a free port: records every call, answers from a script."""

    port: int = field(default_factory=free_port)
    calls: list[Received] = field(default_factory=list)
    script: dict[str, list[tuple[int, str]]] = field(default_factory=dict)  # path → answers, then 200
    hang: set[str] = field(default_factory=set)                            # paths that never answer

    def __post_init__(self):
        self.release = eventlet.event.Event()
        self.socket = eventlet.listen(("127.0.0.1", self.port))
        self.server = eventlet.spawn(wsgi.server, self.socket, self.app, log_output=False)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def app(self, environ, start_response):
        path = environ["PATH_INFO"]
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = json.loads(environ["wsgi.input"].read(length) or b"{}")
        headers = {key[5:].replace("_", "-").title(): value for key, value in environ.items()
                   if key.startswith("HTTP_")}
        self.calls.append(Received(path, headers, body))
        if path in self.hang:
            self.release.wait()
        answers = self.script.get(path) or []
        status, text = answers.pop(0) if answers else (200, json.dumps({"result": "accepted",
                                                                          "to": body.get("to")}))
        start_response(f"{status} X", [("Content-Type", "application/json")])
        return [text.encode()]

    def received(self, path: str) -> list[Received]:
        return [call for call in self.calls if call.path == path]

    def close(self) -> None:
        self.release.send()
        self.server.kill()
        self.socket.close()


class SmtpSink:
    """A real SMTP server (aiosmtpd) on a free port; `messages` are parsed e-mails.

    It runs in its own process: under eventlet every green thread shares one OS thread,
    and asyncio allows one running loop per OS thread, so an in-process aiosmtpd clashes
    with any other loop in the test process.
    """

    def __init__(self):
        self.port = free_port()
        self.maildir = Path(tempfile.mkdtemp(prefix="onestop-smtp-"))
        self.process = subprocess.Popen(
            [sys.executable, "-m", "aiosmtpd", "--nosetuid", "--listen", f"127.0.0.1:{self.port}",
             "--class", "aiosmtpd.handlers.Mailbox", str(self.maildir / "mail")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        wait_for(self._accepts, timeout=20, message="the local SMTP server did not start")

    def _accepts(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError(f"the local SMTP server exited with {self.process.returncode}")
        with socket.socket() as probe:
            return probe.connect_ex(("127.0.0.1", self.port)) == 0

    @property
    def messages(self) -> list:
        box = mailbox.Maildir(self.maildir / "mail", create=False)
        keys = sorted(box.keys(), key=lambda key: box.get_message(key).get_date())
        return [email.message_from_bytes(box.get_bytes(key), policy=policy.default) for key in keys]

    def to(self, address: str) -> list:
        return [m for m in self.messages if m["X-RcptTo"] == address]

    @staticmethod
    def text(message) -> str:
        return message.get_content()

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        shutil.rmtree(self.maildir, ignore_errors=True)


def port_is_closed() -> int:
    """A port where nothing listens (a gateway that is down)."""
    port = free_port()
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0
    return port
