"""Notify running for real, with everything around it: the stub intake and routing
services, a local HTTP gateway for SMS and WeChat, a local SMTP server."""

from __future__ import annotations

import copy
import re
from contextlib import contextmanager
from dataclasses import dataclass

from nameko.testing.utils import get_extension

from services.notify.clock import Clock
from services.notify.service import NotifyService
from tests.support.broker import publish_event
from tests.support.infra import Running, wait_for
from tests.support.notify_fakes import HttpGateway, SmtpSink, StubIntake, StubRouting
from tests.support.notify_samples import CASE, CONTACTS, NOW, UNITS

DISPATCHER = {"roles": ("dispatcher",), "jurisdictions": ("140106",)}
SMS, WECHAT = "/sms", "/wechat"
SETTLED = ("sent", "failed", "skipped", "cancelled")
DAYTIME = NOW


@dataclass
class NotifyWorld:
    notify: Running
    gateway: HttpGateway
    smtp: SmtpSink

    @property
    def db(self):
        return self.notify.db

    @property
    def clock(self) -> Clock:
        return get_extension(self.notify.container, Clock)

    def publish(self, envelope: dict) -> None:
        publish_event(self.notify.config["AMQP_URI"], envelope)

    def notifications(self, **query) -> list[dict]:
        return list(self.db.notifications.find(query).sort("created_at", 1))

    def log(self, case_code: str = CASE["case_code"], auth: dict = DISPATCHER, **params) -> dict:
        response = self.notify.get("/api/v1/notifications", auth=auth,
                                   params={"case_code": case_code, "limit": 200, **params})
        assert response.status_code == 200, response.text
        return response.json()

    def settled(self, minimum: int, **query) -> list[dict]:
        """Wait until at least `minimum` messages match and none of them is still on its way."""
        def done():
            found = self.notifications(**query)
            return found if len(found) >= minimum and all(n["status"] in SETTLED for n in found) else None
        try:
            return wait_for(done, timeout=15, message=f"{minimum} settled notifications matching {query}")
        except AssertionError as exc:
            found = [(n["kind"], n["channel"], n["status"], n["attempts"], n["error"])
                     for n in self.notifications(**query)]
            raise AssertionError(f"{exc}; found {found}") from None

    def sms(self, to: str | None = None) -> list:
        return [call for call in self.gateway.received(SMS) if to is None or call.body["to"] == to]

    def metric(self, name: str, **labels) -> float:
        total = 0.0
        for line in self.notify.get("/metrics").text.splitlines():
            if not line.startswith(name + "{") and not line.startswith(name + " "):
                continue
            found = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}")[0]))
            if all(found.get(key) == value for key, value in labels.items()):
                total += float(line.rsplit(" ", 1)[1])
        return total

    def emitted(self, event_type: str) -> list[dict]:
        return [entry["envelope"] for entry in self.db.outbox.find({"event_type": event_type})]


@contextmanager
def notify_world(start_service, *, gateways: bool = True, **overrides):
    """Start the stubs and notify; everything is torn down after the test."""
    StubIntake.parties = {CASE["case_id"]: copy.deepcopy(CONTACTS)}
    StubIntake.calls = []
    StubRouting.units = copy.deepcopy(UNITS)
    gateway, smtp = HttpGateway(), SmtpSink()
    try:
        start_service(StubIntake)
        start_service(StubRouting)
        config = {
            "NOTIFY_DISPATCH_SECONDS": 0.1,
            "NOTIFY_RETRY_DELAYS": [0.2, 0.4],
            "RPC_TIMEOUT_SECONDS": 3,
            "GATEWAY_TIMEOUT_SECONDS": 2,
            "SMTP_TIMEOUT_SECONDS": 3,
        }
        if gateways:
            config.update({
                "SMS_GATEWAY_URL": gateway.url(SMS), "SMS_GATEWAY_TOKEN": "sms-secret",
                "WECHAT_GATEWAY_URL": gateway.url(WECHAT), "WECHAT_GATEWAY_TOKEN": "wechat-secret",
                "SMTP_HOST": "127.0.0.1", "SMTP_PORT": smtp.port, "SMTP_FROM": "notify@yingze.example.cn",
            })
        config.update(overrides)
        world = NotifyWorld(start_service(NotifyService, **config), gateway, smtp)
        # Daytime in Taiyuan whatever the machine's clock says: quiet hours are tested on purpose.
        world.clock.travel_to(DAYTIME)
        yield world
    finally:
        gateway.close()
        smtp.close()
        StubIntake.parties, StubRouting.units = {}, {}
