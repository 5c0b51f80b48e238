"""Intake tests' view of the bus: capture what intake publishes, publish what others would."""

from __future__ import annotations

import json
import uuid

from kombu import Connection, Exchange, Queue

from services.common.contracts import make_envelope
from tests.support.broker import drain, publish_event


class Capture:
    """A queue bound to `intake.events` (all types); bind it before intake publishes."""

    def __init__(self, amqp_uri: str, source: str = "intake"):
        self.amqp_uri = amqp_uri
        self.name = f"test-capture-{source}-{uuid.uuid4().hex[:8]}"
        self.seen: list[dict] = []
        exchange = Exchange(f"{source}.events", type="topic", durable=True, auto_delete=False)
        with Connection(amqp_uri) as conn:
            Queue(self.name, exchange=exchange, routing_key="#", durable=True).bind(conn.channel()).declare()

    def events(self, event_type: str | None = None) -> list[dict]:
        """Everything captured so far (accumulated), optionally of one type."""
        self.seen.extend(json.loads(message.body) for message in drain(self.amqp_uri, self.name, limit=1000))
        return [event for event in self.seen if event_type is None or event["event_type"] == event_type]


def case_ref_of(body: dict, jurisdiction: str = "140106", category: str = "labour") -> dict:
    return {"case_id": body["case_id"], "case_code": body["case_code"], "jurisdiction": jurisdiction,
            "category": category}


def send(amqp_uri: str, source: str, event_type: str, case: dict, data: dict, occurred_at=None) -> dict:
    envelope = make_envelope(source, event_type, case=case, data=data, occurred_at=occurred_at)
    publish_event(amqp_uri, envelope)
    return envelope
