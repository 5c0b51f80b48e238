"""Mediation test material: case codes, routing's request, rooms, mediators, an intake stub."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from kombu import Connection, Exchange, Queue
from nameko.rpc import rpc
from nameko.testing.utils import get_extension

from services.common.case_codes import CATEGORY_CODES, format_code
from services.common.contracts import make_envelope
from services.mediation.dependencies import Clock

SHANGHAI = ZoneInfo("Asia/Shanghai")
# Tuesday 24 November 2026, 08:00 in Taiyuan: the tests' "now"
NOW = datetime(2026, 11, 24, 8, 0, tzinfo=SHANGHAI).astimezone(UTC)
DISPATCHER = {"roles": ("dispatcher",), "jurisdictions": ("140106",)}
MEDIATOR = {"roles": ("mediator",), "jurisdictions": ("140106",)}


def case_code(category: str = "family", sequence: int = 1, county: str = "140106", day: str = "261123") -> str:
    return format_code(f"{county}{day}{CATEGORY_CODES[category]}{sequence:04d}")


def local(day: int, hour: int, minute: int = 0) -> datetime:
    """A time on a day of November 2026 in Taiyuan (Asia/Shanghai)."""
    return datetime(2026, 11, day, hour, minute, tzinfo=SHANGHAI)


def at(day: int, hour: int, minute: int = 0) -> str:
    return local(day, hour, minute).isoformat()


def mediation_requested(code: str, *, category: str = "family", jurisdiction: str = "140106",
                        case_id: str | None = None, **data) -> dict:
    body = {"tier": "general", "mediation_type": "peoples", "committee": "140106:committee:family",
            "departments": ["140106:women_federation"], "deadline": "2026-12-24T00:00:00Z",
            "court_referred": False}
    body.update(data)
    return make_envelope("routing", "mediation_requested", case={
        "case_id": case_id or uuid.uuid4().hex, "case_code": code, "jurisdiction": jurisdiction,
        "category": category}, data=body)


def room(**changes) -> dict:
    body = {"name": "第一调解室", "kind": "on_site", "jurisdiction": "140106", "unit": "140106:centre",
            "location": "二楼东侧", "capacity": 8, "equipment": ["录音录像", "投屏"]}
    body.update(changes)
    return body


def video_room(**changes) -> dict:
    body = {"name": "远程视频调解室", "kind": "video", "jurisdiction": "140106",
            "join_link": "https://video.taiyuan.example/rooms/yz-1", "capacity": 20}
    body.update(changes)
    return body


def mediator(**changes) -> dict:
    body = {"name": "张淑芬", "type": "peoples", "specialities": ["family", "neighbour"],
            "jurisdictions": ["140106"], "unit": "140106:committee:family",
            "organisation": "迎泽区婚姻家庭纠纷人民调解委员会"}
    body.update(changes)
    return body


FAMILY_PARTIES = [
    {"party_id": "p-1", "role": "applicant", "kind": "person", "name": "王建国", "phone": "13812345678",
     "address": "太原市迎泽区桥东街12号"},
    {"party_id": "p-2", "role": "respondent", "kind": "person", "name": "李秀英", "phone": "13987654321",
     "address": None},
]


class IntakeStub:
    """Stands in for intake's `contacts` RPC (issue 1 builds the real one)."""

    name = "intake"
    parties: dict[str, list[dict]] = {}
    calls: list[str] = []

    @rpc
    def contacts(self, case_id, roles=None):
        IntakeStub.calls.append(case_id)
        return [p for p in IntakeStub.parties.get(case_id, []) if roles is None or p["role"] in roles]


def clock(running) -> Clock:
    return get_extension(running.container, Clock)


def freeze(running, moment: datetime = NOW) -> Clock:
    found = clock(running)
    found.freeze(moment)
    return found


def listen(amqp_uri: str, source: str, event_types: list[str]) -> str:
    """Bind a fresh queue to a service's events before they are published; returns its name."""
    name = f"test-listen-{uuid.uuid4().hex[:8]}"
    exchange = Exchange(f"{source}.events", type="topic", durable=True, auto_delete=False)
    with Connection(amqp_uri) as conn:
        channel = conn.channel()
        exchange.bind(channel).declare()
        queue = Queue(name, exchange=exchange, durable=True, auto_delete=False, channel=channel)
        queue.declare()
        for event_type in event_types:
            queue.bind_to(exchange=exchange, routing_key=event_type)
    return name


def days(count: float) -> timedelta:
    return timedelta(days=count)


def open_file(running, code: str | None = None, parties: list[dict] | None = None, **changes) -> dict:
    """Publish routing's request on the broker and wait for mediation to open the file."""
    from tests.support.broker import publish_event
    from tests.support.infra import wait_for

    envelope = mediation_requested(code or case_code(), **changes)
    IntakeStub.parties[envelope["case_id"]] = FAMILY_PARTIES if parties is None else parties
    publish_event(running.config["AMQP_URI"], envelope)
    wait_for(lambda: running.db.files.find_one({"case_id": envelope["case_id"]}), message="the file to open")
    return envelope


def created(response, key: str) -> str:
    assert response.status_code == 201, response.text
    return response.json()[key]


def outbox(running, event_type: str) -> list[dict]:
    """The events of a type the service has written (published or not), oldest first."""
    return [doc["envelope"] for doc in running.db.outbox.find({"event_type": event_type}).sort("created_at", 1)]


def metric(running, name: str, **labels) -> float:
    for line in running.get("/metrics").text.splitlines():
        if line.startswith(name + ("{" if labels else " ")) and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0
