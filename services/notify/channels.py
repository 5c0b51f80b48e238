"""Channel adapters behind one interface: `send(Outgoing) -> AttemptResult`.

* e-mail over SMTP (smtplib; STARTTLS and login when configured);
* SMS and WeChat template messages through generic HTTP gateways (JSON POST with a bearer
  token and the message id as idempotency key).

The in-app inbox is no adapter: its messages are written in the transaction that records
a dispatch batch (service.py).

An adapter never raises for a delivery problem: it answers what happened, and whether
retrying can help (a refused address cannot; a gateway that is down or slow can).
The full address exists only here, on its way to the gateway.
"""

from __future__ import annotations

import logging
import smtplib
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import formataddr
from typing import Protocol

import requests
from nameko.extensions import DependencyProvider

from services.common.config import setting
from services.notify.domain.delivery import AttemptResult
from services.notify.domain.text import redact

log = logging.getLogger(__name__)

TRANSIENT_HTTP = {408, 425, 429}


@dataclass(frozen=True)
class Outgoing:
    notification_id: str
    kind: str
    channel: str
    address: str
    title: str
    body: str
    case_code: str
    link: str | None = None
    segments: int | None = None


class Channel(Protocol):
    name: str

    def send(self, message: Outgoing) -> AttemptResult: ...


class SmtpChannel:
    name = "email"

    def __init__(self, host: str, port: int, sender: str, *, user: str | None = None,
                 password: str | None = None, starttls: bool = False, timeout: float = 10.0,
                 sender_name: str = "综治中心"):
        self.host, self.port, self.sender = host, port, sender
        self.user, self.password, self.starttls, self.timeout = user, password, starttls, timeout
        self.sender_name = sender_name

    def compose(self, message: Outgoing) -> EmailMessage:
        mail = EmailMessage()
        mail["Subject"] = f"{message.title}｜案件{message.case_code}"
        mail["From"] = formataddr((self.sender_name, self.sender))
        mail["To"] = message.address
        mail["Message-ID"] = f"<{message.notification_id}@onestop.notify>"
        body = message.body + (f"\n\n{message.link}" if message.link and message.link not in message.body else "")
        mail.set_content(body, charset="utf-8", cte="base64")
        return mail

    def send(self, message: Outgoing) -> AttemptResult:
        mail = self.compose(message)
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                smtp.ehlo()
                if self.starttls:
                    smtp.starttls()
                    smtp.ehlo()
                if self.user:
                    smtp.login(self.user, self.password or "")
                code, answer = smtp.mail(self.sender)
                if code != 250:
                    return self._refused("MAIL", code, answer)
                code, answer = smtp.rcpt(message.address)
                if code not in (250, 251):
                    return self._refused("RCPT", code, answer)
                code, answer = smtp.data(mail.as_bytes(policy=SMTP_POLICY))  # CRLF line ends on the wire
                if code != 250:
                    return self._refused("DATA", code, answer)
        except smtplib.SMTPAuthenticationError as exc:
            # Our credentials, not the recipient: retry once the operator has fixed them.
            return AttemptResult(ok=False, answer=redact(f"{exc.smtp_code}"), error="smtp login refused")
        except smtplib.SMTPResponseException as exc:
            return self._refused("SMTP", exc.smtp_code, exc.smtp_error)
        except (smtplib.SMTPException, OSError) as exc:
            return AttemptResult(ok=False, error=f"smtp unreachable: {exc.__class__.__name__}")
        return AttemptResult(ok=True, answer=redact(f"{code} {answer.decode('utf-8', 'replace')}"))

    @staticmethod
    def _refused(step: str, code: int, answer: bytes | str) -> AttemptResult:
        text = answer.decode("utf-8", "replace") if isinstance(answer, bytes) else str(answer)
        return AttemptResult(ok=False, answer=redact(f"{code} {text}"), error=f"smtp {step} refused: {code}",
                             permanent=500 <= code < 600)


class HttpGatewayChannel:
    """A generic JSON gateway (an SMS provider, a WeChat template-message relay)."""

    def __init__(self, name: str, url: str, token: str | None, timeout: float,
                 payload: Callable[[Outgoing], dict]):
        self.name, self.url, self.token, self.timeout, self.payload = name, url, token, timeout, payload

    def send(self, message: Outgoing) -> AttemptResult:
        headers = {"Idempotency-Key": message.notification_id}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        try:
            response = requests.post(self.url, json=self.payload(message), headers=headers, timeout=self.timeout)
        except requests.RequestException as exc:
            return AttemptResult(ok=False, error=f"{self.name} gateway unreachable: {exc.__class__.__name__}")
        answer = redact(f"{response.status_code} {response.text}")
        if 200 <= response.status_code < 300:
            return AttemptResult(ok=True, answer=answer)
        transient = response.status_code >= 500 or response.status_code in TRANSIENT_HTTP
        return AttemptResult(ok=False, answer=answer, error=f"{self.name} gateway answered {response.status_code}",
                             permanent=not transient)


def sms_payload(message: Outgoing) -> dict:
    return {"message_id": message.notification_id, "to": message.address, "text": message.body,
            "segments": message.segments}


def wechat_payload(message: Outgoing) -> dict:
    return {"message_id": message.notification_id, "touser": message.address, "template": message.kind,
            "title": message.title, "content": message.body, "url": message.link}


class Gateways(DependencyProvider):
    """The external channels configured for this deployment; an unconfigured one is off
    (its messages are logged as skipped, never left waiting)."""

    def setup(self) -> None:
        config = self.container.config
        timeout = float(setting(config, "GATEWAY_TIMEOUT_SECONDS", 5))
        self.channels: dict[str, Channel] = {}
        if setting(config, "SMTP_HOST", None):
            self.channels["email"] = SmtpChannel(
                str(config["SMTP_HOST"]), int(setting(config, "SMTP_PORT", 25)),
                str(setting(config, "SMTP_FROM", "notify@onestop.local")),
                user=setting(config, "SMTP_USER", None), password=setting(config, "SMTP_PASSWORD", None),
                starttls=str(setting(config, "SMTP_STARTTLS", "false")).lower() in ("1", "true", "yes"),
                timeout=float(setting(config, "SMTP_TIMEOUT_SECONDS", 10)),
            )
        if setting(config, "SMS_GATEWAY_URL", None):
            self.channels["sms"] = HttpGatewayChannel(
                "sms", str(config["SMS_GATEWAY_URL"]), setting(config, "SMS_GATEWAY_TOKEN", None), timeout,
                sms_payload)
        if setting(config, "WECHAT_GATEWAY_URL", None):
            self.channels["wechat"] = HttpGatewayChannel(
                "wechat", str(config["WECHAT_GATEWAY_URL"]), setting(config, "WECHAT_GATEWAY_TOKEN", None),
                timeout, wechat_payload)
        log.info("notify channels configured: %s", ", ".join(sorted(self.channels) + ["inbox"]))

    def get_dependency(self, worker_ctx) -> dict[str, Channel]:
        return self.channels
