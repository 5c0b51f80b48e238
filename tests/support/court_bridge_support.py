"""Test helpers for court_bridge: a stub intake exposing register_case, the court simulator
as a subprocess (fixtures `court_sim`, `court_simulator_process`: load this module with
`pytest_plugins`), and shortcuts for the events court_bridge consumes."""

from __future__ import annotations

import subprocess
import sys
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
import requests
from nameko.rpc import rpc

from services.common.contracts import iso, make_envelope
from services.court_bridge.domain.codes import check_character
from tests.support.infra import ROOT, free_port, wait_for

CATEGORY_CODES = {
    "labour": "LB", "family": "FM", "domestic_violence": "DV", "neighbour": "NB", "property_management": "PM",
    "lending": "LD", "consumer": "CS", "traffic": "TF", "medical": "MD", "land": "LA", "construction": "CN",
    "education": "ED", "environment": "EV", "tenancy": "TN", "contract": "CT", "other": "OT",
}
COURT_ID = "140106:court"
COURT = {"roles": ("court",), "jurisdictions": ("140106",), "agency": COURT_ID}
MEDIATOR = {"roles": ("mediator",), "jurisdictions": ("140106",)}
DISPATCHER = {"roles": ("dispatcher",), "jurisdictions": ("140106",)}


def make_case_code(jurisdiction: str, category: str, sequence: int, day: date = date(2026, 11, 23)) -> str:
    body = f"{jurisdiction[:6]}{day:%y%m%d}{CATEGORY_CODES[category]}{sequence:04d}"
    return f"{body[:6]}-{body[6:12]}-{body[12:14]}-{body[14:]}-{check_character(body)}"


class StubIntake:
    """intake.register_case as agreed between the services, in memory; idempotent on
    (channel, channel_ref) like the real one. `mode` makes it reject or fail on purpose."""

    name = "intake"
    cases: dict = {}
    calls: list = []
    mode: str = "ok"  # ok | reject | fail | merge
    names_court: bool = False  # answer with the case's court_referral, as intake may
    merge_into: dict | None = None  # for `merge`: {"case_id", "case_code"} of the earlier case
    on_call = None  # a test's hook, run before each registration (to stage a race)

    @classmethod
    def reset(cls) -> None:
        cls.cases = {}
        cls.calls = []
        cls.mode = "ok"
        cls.merge_into = None
        cls.on_call = None
        cls.names_court = False

    @rpc
    def register_case(self, payload: dict, actor: dict) -> dict:
        StubIntake.calls.append({"payload": payload, "actor": actor})
        if StubIntake.on_call is not None:
            StubIntake.on_call(payload)
        if StubIntake.mode == "fail":
            raise RuntimeError("intake is broken")
        key = (payload["channel"], payload.get("channel_ref"))
        if StubIntake.mode == "reject":
            return {"outcome": "rejected", "case_id": None, "case_code": None, "status": None, "duplicate_of": None,
                    "severity": None, "risk_flags": [], "error": "validation_failed",
                    "message": "the request has invalid fields", "fields": {"summary": ["too vague"]}}
        if key in StubIntake.cases:
            case = StubIntake.cases[key]
            named = StubIntake.court_of(case) if StubIntake.names_court else {}
            return {**{k: v for k, v in case.items() if k != "payload"}, **named, "outcome": "existing"}
        case = {"case_id": uuid.uuid4().hex,
                "case_code": make_case_code(payload["jurisdiction"], payload["category"], len(StubIntake.cases) + 1),
                "status": "registered", "duplicate_of": None, "severity": "general", "risk_flags": [],
                "error": None, "message": None, "fields": None, "payload": payload}
        if StubIntake.mode == "merge":
            case.update(status="merged", duplicate_of=StubIntake.merge_into["case_code"],
                        duplicate_of_id=StubIntake.merge_into["case_id"])
        StubIntake.cases[key] = case
        outcome = "merged" if StubIntake.mode == "merge" else "registered"
        return {**{k: v for k, v in case.items() if k != "payload"}, "outcome": outcome}

    @staticmethod
    def court_of(case: dict) -> dict:
        """What intake says of the court a case came from, when asked to name it."""
        payload = case["payload"]
        return {"court_referral": {"court_id": payload.get("court_id"), "referral_id": payload.get("channel_ref")}}


def intake_case(channel_ref: str) -> dict:
    return StubIntake.cases[("court_referral", channel_ref)]


TERMS = ["被申请人于2026年12月31日前向申请人归还借款人民币12000元", "申请人放弃其余利息请求，双方就本纠纷再无其他争议"]


def mediation_sessions(parties=("p-applicant", "p-respondent")) -> list[dict]:
    """Two sessions as mediation reports them: the respondent missed the first."""
    now = datetime.now(UTC)
    first, second = now - timedelta(days=6), now - timedelta(days=2)
    return [
        {"session_id": "s-1", "kind": "on_site", "purpose": "mediation", "starts_at": iso(first),
         "ends_at": iso(first + timedelta(hours=1)), "mediator_id": "mediator-7", "attended": [parties[0]],
         "absent": [parties[1]]},
        {"session_id": "s-2", "kind": "video", "purpose": "mediation", "starts_at": iso(second),
         "ends_at": iso(second + timedelta(hours=1)), "mediator_id": "mediator-7", "attended": list(parties),
         "absent": []},
    ]


def mediation_event(event_type: str, case: dict, **data) -> dict:
    """A mediation event as mediation now sends it (with the terms, the mediation record);
    pass `older=True` for one from a mediation that sent only the original fields."""
    older = data.pop("older", False)
    occurred_at = data.pop("occurred_at", None)
    now = iso(datetime.now(UTC))
    defaults = {
        "agreement_reached": {"agreement_id": uuid.uuid4().hex, "partial": False, "amount": 12000.0,
                              "performance_deadline": "2026-12-31", "confirmation_requested": True,
                              "agreement_hash": "ab" * 32, "court_referred": True},
        "mediation_failed": {"reason": "双方对赔偿数额分歧较大", "undisputed_facts": "借款事实及金额双方无异议",
                             "wants_litigation": True, "court_referred": True},
        "mediation_withdrawn": {"reason": "申请人撤回调解申请", "court_referred": True},
    }[event_type]
    if not older:
        defaults.update({
            "agreement_reached": {"terms": list(TERMS), "mediator_id": "mediator-7", "agreed_at": now},
            "mediation_failed": {"failed_at": now, "mediator_id": "mediator-7", "sessions": mediation_sessions(),
                                 "unreachable_parties": [], "refusing_parties": ["p-respondent"]},
            "mediation_withdrawn": {},
        }[event_type])
    return make_envelope("mediation", event_type, case=case, data={**defaults, **data}, occurred_at=occurred_at)


def case_of(intake_record: dict, jurisdiction: str, category: str) -> dict:
    return {"case_id": intake_record["case_id"], "case_code": intake_record["case_code"],
            "jurisdiction": jurisdiction, "category": category}


class Simulator:
    def __init__(self, process: subprocess.Popen, port: int):
        self.process = process
        self.url = f"http://127.0.0.1:{port}"

    def admin(self, path: str, body: dict | None = None) -> dict:
        response = requests.post(f"{self.url}/admin/{path}", json=body or {}, timeout=600)
        assert response.status_code < 300, response.text
        return response.json()

    def state(self) -> dict:
        return requests.get(f"{self.url}/admin/state", timeout=10).json()

    def feedback(self) -> list[dict]:
        return self.state()["feedback"]

    def make_batch(self, count: int, batch_id: str, court_id: str = COURT_ID, seed: int = 1) -> dict:
        return self.admin("batches", {"court_id": court_id, "count": count, "batch_id": batch_id, "seed": seed})

    def push(self, batch_id: str, target: str) -> dict:
        return self.admin(f"batches/{batch_id}/push", {"target": target})


@pytest.fixture(scope="session")
def court_simulator_process():
    """The simulator as its own process (as `make run` starts it), shared by the session."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "services.court_bridge.simulator", "--port", str(port),
                                "--delay", "0"], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    simulator = Simulator(process, port)

    def up() -> bool:
        try:
            return requests.get(f"{simulator.url}/healthz", timeout=1).status_code == 200
        except requests.RequestException:
            return process.poll() is not None and pytest.fail("the court simulator exited at start")

    wait_for(up, timeout=30, interval=0.2, message="the court simulator to start")
    try:
        yield simulator
    finally:
        process.terminate()
        process.wait(10)


@pytest.fixture
def court_sim(court_simulator_process):
    """The shared simulator, reset: no state, no faults, no delay."""
    court_simulator_process.admin("reset")
    court_simulator_process.admin("settings", {"delay_seconds": 0})
    return court_simulator_process


FAST = {
    "COURT_SWEEP_SECONDS": 0.1,
    "COURT_POLL_SECONDS": 0.1,
    "COURT_RETRY_DELAYS": [0.2, 0.4],
    "COURT_STUCK_AFTER_ATTEMPTS": 3,
    "COURT_HTTP_TIMEOUT_SECONDS": 1,
    "COURT_DELIVERY_LEASE_SECONDS": 5,
    "OUTBOX_SWEEP_SECONDS": 0.5,
    "OUTBOX_LEASE_SECONDS": 10,
}


def referral_item(channel_ref: str, **changes) -> dict:
    item = {
        "channel": "court_referral", "channel_ref": channel_ref, "jurisdiction": "140106003",
        "category": "lending", "cause": "private_lending", "summary": "民间借贷纠纷：张某诉李某",
        "description": "原告张某诉被告李某民间借贷纠纷一案，经迎泽区人民法院诉前委派调解。",
        "parties": [{"role": "applicant", "kind": "person", "name": "张伟", "phone": "13800001111",
                     "id_number": None, "address": None},
                    {"role": "respondent", "kind": "person", "name": "李娜", "phone": None,
                     "id_number": None, "address": None}],
        "people_involved": 2, "amount": 30000, "occurred_at": "2026-06-01", "attachments": [],
    }
    item.update(changes)
    return item


def batch(batch_id: str, items: list, court_id: str = COURT_ID) -> dict:
    return {"court_id": court_id, "batch_id": batch_id, "items": items}


def bind_sink(amqp_uri: str, name: str = "test.court_bridge.events") -> str:
    """A queue that receives every court_bridge event, so tests can read the bus."""
    from kombu import Connection, Exchange, Queue

    exchange = Exchange("court_bridge.events", type="topic", durable=True)
    with Connection(amqp_uri) as connection:
        Queue(name, exchange=exchange, routing_key="#", durable=True).bind(connection.channel()).declare()
    return name


def metric(running, name: str, **labels) -> float:
    """A sample's value from the service's /metrics (0 when absent)."""
    for line in running.get("/metrics").text.splitlines():
        if not line.startswith(name + ("{" if labels else " ")):
            continue
        if all(f'{key}="{value}"' in line for key, value in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0
