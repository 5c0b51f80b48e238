"""Stand-ins around notify in tests: small "intake" and "routing" services answering the
agreed RPCs, a local HTTP gateway (SMS and WeChat) and a real local SMTP server."""

from __future__ import annotations

import email
import json
import socket
from dataclasses import dataclass, field
from email import policy
from typing import ClassVar

import eventlet
from aiosmtpd.controller import Controller
from eventlet import wsgi
from nameko.rpc import rpc

from tests.support.infra import free_port


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


class _Mailbox:
    def __init__(self):
        self.messages: list[email.message.EmailMessage] = []

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=policy.default)
        message["X-Envelope-To"] = ",".join(envelope.rcpt_tos)
        self.messages.append(message)
        return "250 2.0.0 Ok: queued"


class SmtpSink:
    """A real SMTP server (aiosmtpd) on a free port; `messages` are parsed e-mails."""

    def __init__(self):
        self.port = free_port()
        self.mailbox = _Mailbox()
        self.controller = Controller(self.mailbox, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    @property
    def messages(self) -> list:
        return self.mailbox.messages

    def to(self, address: str) -> list:
        return [m for m in self.messages if m["X-Envelope-To"] == address]

    @staticmethod
    def text(message) -> str:
        return message.get_content()

    def close(self) -> None:
        self.controller.stop()


def port_is_closed() -> int:
    """A port where nothing listens (a gateway that is down)."""
    port = free_port()
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0
    return port
