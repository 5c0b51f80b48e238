"""The per-agency broker permissions of deploy/rabbitmq/definitions.json, on the real RabbitMQ:
every service runs with its own user, and an agency can neither publish as another, call an
RPC it has no business calling, listen in on others' RPC replies, nor delete another's exchange.

Each test has a vhost of its own (the amqp_uri fixture, deleted after it) and users made for
it (deleted after it), given the definitions' exchanges and permissions."""

import json
import subprocess
import sys
import uuid
from datetime import UTC
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import quote

import pytest
import requests
from kombu import Connection, Exchange, Queue

from services.court_bridge.service import CourtBridgeService
from services.intake.service import IntakeService
from services.mediation.service import MediationService
from services.routing.service import RoutingService
from tests.support.broker import publish_event
from tests.support.court_bridge_support import COURT, batch, referral_item
from tests.support.infra import GUEST, MANAGEMENT_API, management_api_available, wait_for
from tests.support.mediation_samples import (
    DISPATCHER,
    MEDIATOR,
    IntakeStub,
    at,
    case_code,
    created,
    freeze,
    local,
    mediation_requested,
    mediator,
    room,
)
from tests.support.notify_samples import APPLICANT_PHONE, COMPLETE, UNITS, envelope
from tests.support.notify_world import notify_world
from tests.support.samples import case_payload

ROOT = Path(__file__).resolve().parents[2]
DEFINITIONS = ROOT / "deploy/rabbitmq/definitions.json"
pytestmark = pytest.mark.skipif(not management_api_available(), reason="RabbitMQ management API not enabled")
CLERK = {"roles": ("intake_clerk",), "jurisdictions": ("140106",)}


def api(method: str, path: str, **kwargs) -> requests.Response:
    response = requests.request(method, f"{MANAGEMENT_API}/{path}", auth=GUEST, timeout=10, **kwargs)
    response.raise_for_status()
    return response


@pytest.fixture
def broker(amqp_uri):
    """The definitions applied to this test's vhost: its exchanges, and each agency's permissions
    and topic permissions for a user made for the test. `users[service]` is that user's AMQP URI."""
    vhost = amqp_uri.rsplit("/", 1)[1]
    definitions = json.loads(DEFINITIONS.read_text())
    with Connection(amqp_uri) as connection:
        channel = connection.channel()
        for exchange in definitions["exchanges"]:
            Exchange(exchange["name"], type=exchange["type"], durable=exchange["durable"]).bind(channel).declare()
    suffix = uuid.uuid4().hex[:6]
    users = {}
    try:
        for permission in definitions["permissions"]:
            service = permission["user"]
            if service == "admin":
                continue
            user, password = f"{service}-{suffix}", uuid.uuid4().hex
            api("PUT", f"users/{quote(user)}", json={"password": password, "tags": ""})
            users[service] = f"amqp://{quote(user)}:{password}@127.0.0.1:5672/{vhost}"
            api("PUT", f"permissions/{vhost}/{quote(user)}",
                json={key: permission[key] for key in ("configure", "write", "read")})
        for topic in definitions["topic_permissions"]:
            api("PUT", f"topic-permissions/{vhost}/{quote(topic['user'])}-{suffix}",
                json={key: topic[key] for key in ("exchange", "write", "read")})
        yield SimpleNamespace(vhost=vhost, users=users, admin_uri=amqp_uri)
    finally:
        for service in users:
            requests.delete(f"{MANAGEMENT_API}/users/{quote(service)}-{suffix}", auth=GUEST, timeout=10)


@pytest.fixture
def start_agency(start_service, broker):
    """Start a service class under its own agency's broker user, declaring no exchange of others."""
    def start(service_cls, **overrides):
        return start_service(service_cls, AMQP_URI=broker.users[service_cls.name],
                             DECLARE_EVENT_EXCHANGES=False, **overrides)
    return start


def refused(error: BaseException) -> bool:
    return "ACCESS_REFUSED" in str(error) or "403" in str(error)


def test_the_definitions_are_generated_from_the_subscriber_catalogue():
    check = subprocess.run([sys.executable, str(ROOT / "deploy/tools/rabbitmq_definitions.py"), "--check"],
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stderr


def test_intake_routing_and_court_bridge_work_with_their_own_users(start_agency):
    routing = start_agency(RoutingService)
    intake = start_agency(IntakeService)
    bridge = start_agency(CourtBridgeService)

    created_case = intake.post("/api/v1/cases", case_payload(), auth=CLERK).json()
    wait_for(lambda: routing.get(f"/api/v1/routing/cases/{created_case['case_code']}",
                                 auth={"roles": ("dispatcher",), "jurisdictions": ("140106",)}).status_code == 200,
             message="routing, with its own broker user, to receive the case")

    # a court's referral: court_bridge calls intake.register_case over RPC
    answer = bridge.post("/api/v1/court/referrals", batch("B-perm", [referral_item("R-perm")]), auth=COURT)
    assert answer.status_code == 200, answer.text
    [result] = answer.json()["results"]
    assert result["case_code"], result
    registered = intake.db.cases.find_one({"case_code": result["case_code"]})
    assert registered is not None and registered["channel"] == "court_referral"


def test_notify_asks_intake_and_routing_for_addresses_with_its_own_user(start_agency, broker):
    with notify_world(start_agency) as world:
        publish_event(broker.admin_uri, envelope("intake", "case_registered"))
        wait_for(lambda: world.sms(APPLICANT_PHONE), message="the applicant's sms (intake.contacts answered)")

        publish_event(broker.admin_uri, envelope("routing", "departments_summoned"))
        sent = world.settled(8, kind="summons")
        assert [(n["channel"], n["status"], n["error"]) for n in sent if n["status"] != "sent"] == []
        for summons in COMPLETE[("routing", "departments_summoned")]["summons"]:
            phone = UNITS[summons["department"]]["contacts"]["phone"]
            assert len(world.sms(phone)) == 1, f"routing.lookup_unit gave no address for {summons['department']}"


def test_mediation_asks_intake_for_the_parties_with_its_own_user(start_agency, broker):
    IntakeStub.calls.clear()
    start_agency(IntakeStub)
    mediation = start_agency(MediationService)
    freeze(mediation)
    code = case_code(sequence=3)
    request = mediation_requested(code)
    IntakeStub.parties[request["case_id"]] = [
        {"party_id": "p-1", "role": "applicant", "kind": "person", "name": "王建国", "phone": "13812345678",
         "address": None},
        {"party_id": "p-2", "role": "respondent", "kind": "person", "name": "李秀英", "phone": None,
         "address": None}]
    publish_event(broker.admin_uri, request)
    wait_for(lambda: mediation.get(f"/api/v1/mediations/{code}", auth=MEDIATOR).status_code == 200,
             message="mediation, with its own broker user, to open the file")

    room_id = created(mediation.post("/api/v1/rooms", room(), auth=DISPATCHER), "room_id")
    mediator_id = created(mediation.post("/api/v1/mediators", mediator(), auth=DISPATCHER), "mediator_id")
    session_id = created(mediation.post(f"/api/v1/mediations/{code}/sessions", {
        "kind": "on_site", "room_id": room_id, "mediator_id": mediator_id,
        "starts_at": at(25, 9), "ends_at": at(25, 11)}, auth=DISPATCHER), "session_id")
    freeze(mediation, local(25, 10).astimezone(UTC))
    attended = mediation.post(f"/api/v1/mediations/{code}/sessions/{session_id}/attendance", {
        "parties": [{"party_id": "p-1", "role": "applicant", "present": True},
                    {"party_id": "p-2", "role": "respondent", "present": True}]}, auth=MEDIATOR)
    assert attended.status_code == 200, attended.text

    concluded = mediation.post(f"/api/v1/mediations/{code}/outcome", {
        "type": "agreement", "terms": ["双方自愿和解。"], "amount": 1000, "performance_deadline": "2026-12-31",
        "confirmation_requested": False}, auth=MEDIATOR)
    assert concluded.status_code == 201, concluded.text
    assert request["case_id"] in IntakeStub.calls, "the agreement was rendered without asking intake"


def test_a_court_cannot_publish_as_intake(broker):
    court = Connection(broker.users["court_bridge"], transport_options={"confirm_publish": True})
    with court as conn, pytest.raises(Exception) as info:
        conn.Producer().publish({"forged": True}, exchange="intake.events", routing_key="case_registered")
    assert refused(info.value)


def rpc_call(uri: str, method: str) -> None:
    with Connection(uri, transport_options={"confirm_publish": True}) as conn:
        conn.Producer().publish({"args": ["case-1"], "kwargs": {}}, exchange="nameko-rpc", routing_key=method,
                                reply_to=str(uuid.uuid4()), correlation_id=str(uuid.uuid4()))


def test_a_court_cannot_call_intake_contacts_nor_listen_to_rpc_replies(broker):
    rpc_call(broker.users["notify"], "intake.contacts")  # the broker takes it from notify
    with pytest.raises(Exception) as info:
        rpc_call(broker.users["court_bridge"], "intake.contacts")
    assert refused(info.value), info.value
    rpc_call(broker.users["court_bridge"], "intake.register_case")  # its own call still goes

    # nor bind a queue of its own to every routing key of nameko-rpc (the replies carry phones)
    eavesdropper = Queue(f"rpc.reply-court_bridge-{uuid.uuid4()}", exchange=Exchange("nameko-rpc", no_declare=True),
                         routing_key="#", auto_delete=True)
    with Connection(broker.users["court_bridge"]) as conn, pytest.raises(Exception) as info:
        eavesdropper.bind(conn.channel()).declare()
    assert refused(info.value), info.value


def test_an_agency_cannot_delete_or_redeclare_another_agencys_exchange(broker):
    for exchange in ("intake.events", "mediation.events"):
        with Connection(broker.users["court_bridge"]) as conn, pytest.raises(Exception) as info:
            conn.channel().exchange_delete(exchange)
        assert refused(info.value), info.value
        with Connection(broker.users["court_bridge"]) as conn, pytest.raises(Exception) as info:
            Exchange(exchange, type="topic", durable=True).bind(conn.channel()).declare()
        assert refused(info.value), info.value
    still_there = api("GET", f"exchanges/{broker.vhost}").json()
    assert {"intake.events", "mediation.events"} <= {exchange["name"] for exchange in still_there}
