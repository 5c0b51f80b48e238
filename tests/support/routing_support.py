"""Helpers for routing's tests: registered-case events, the routing clock, what routing emitted."""

from __future__ import annotations

import itertools
import json
import uuid
from datetime import UTC, datetime

from kombu import Connection, Exchange, Queue
from nameko.testing.utils import get_extension

from services.common.case_codes import CATEGORY_CODES, format_code
from services.common.contracts import iso, make_envelope
from services.routing.dependencies import Clock

_sequence = itertools.count(1)

DISPATCHER = {"roles": ("dispatcher",), "jurisdictions": ("140106",), "agency": "140106:centre"}
LEADER = {"roles": ("leader",), "jurisdictions": ("140100",), "agency": "140100:centre", "sub": "leader-1"}
HRSS = {"roles": ("department",), "jurisdictions": ("140106",), "agency": "140106:hrss", "sub": "hrss-clerk"}


def case_code(jurisdiction: str = "140106", category: str = "labour") -> str:
    return format_code(f"{jurisdiction[:6]}261123{CATEGORY_CODES[category]}{next(_sequence):04d}")


def registered(*, jurisdiction: str = "140106", category: str = "labour", people: int = 90,
               flags: tuple[str, ...] = ("mass_dispute",), severity: str = "general", channel: str = "walk_in",
               registered_at: datetime | None = None, grid: str | None = None, immediate_red: bool = False,
               amount: float | None = 1800000, court_referral: dict | None = None, case_id: str | None = None,
               code: str | None = None) -> dict:
    """An intake.case_registered envelope, as intake publishes it."""
    data = {"channel": channel, "summary": "测试纠纷", "severity": severity, "risk_flags": list(flags),
            "immediate_red": immediate_red, "people_involved": people, "amount": amount, "grid": grid,
            "registered_at": iso(registered_at or datetime.now(UTC)), "court_referral": court_referral}
    case = {"case_id": case_id or uuid.uuid4().hex, "case_code": code or case_code(jurisdiction, category),
            "jurisdiction": jurisdiction, "category": category}
    return make_envelope("intake", "case_registered", case=case, data=data)


def event_about(envelope: dict, source: str, event_type: str, data: dict) -> dict:
    """Another service's event about the same case."""
    case = {key: envelope[key] for key in ("case_id", "case_code", "jurisdiction", "category")}
    return make_envelope(source, event_type, case=case, data=data)


def clock(running) -> Clock:
    return get_extension(running.container, Clock)


def advance(*runnings, **delta: float) -> None:
    for running in runnings:
        clock(running).advance(**delta)


def emitted(running, event_type: str, case_id: str | None = None) -> list[dict]:
    """Events routing wrote to its outbox (the atomic record of what it emits), oldest first."""
    query = {"event_type": event_type}
    if case_id:
        query["envelope.case_id"] = case_id
    return [doc["envelope"] for doc in running.db.outbox.find(query).sort("created_at", 1)]


def bind_capture(amqp_uri: str, name: str = "test-capture-routing") -> str:
    """A queue that receives every event routing publishes on the bus."""
    exchange = Exchange("routing.events", type="topic", durable=True)
    with Connection(amqp_uri) as conn:
        channel = conn.channel()
        exchange.bind(channel).declare()
        Queue(name, exchange=exchange, routing_key="#", durable=False, auto_delete=False).bind(channel).declare()
    return name


def read_capture(amqp_uri: str, name: str = "test-capture-routing") -> list[dict]:
    bodies = []
    with Connection(amqp_uri) as conn:
        queue = Queue(name, no_declare=True).bind(conn.channel())
        while (message := queue.get(no_ack=True)) is not None:
            bodies.append(json.loads(message.body))
    return bodies


def metric(running, name: str, **labels) -> float:
    for line in running.get("/metrics").text.splitlines():
        if not line.startswith(name + ("{" if labels else " ")):
            continue
        if all(f'{key}="{value}"' in line for key, value in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0
