"""The per-agency broker permissions of deploy/rabbitmq/definitions.json, on the real RabbitMQ:
services run with them, and an agency cannot publish as another."""

import json
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest
import requests
from kombu import Connection, Exchange

from services.intake.service import IntakeService
from services.routing.service import RoutingService
from tests.support.infra import GUEST, MANAGEMENT_API, management_api_available, wait_for
from tests.support.samples import case_payload

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(not management_api_available(), reason="RabbitMQ management API not enabled")


@pytest.fixture
def agency_users(amqp_uri):
    """The definitions' permissions applied to this test's vhost, for users made for the test."""
    vhost = amqp_uri.rsplit("/", 1)[1]
    definitions = json.loads((ROOT / "deploy/rabbitmq/definitions.json").read_text())
    suffix = uuid.uuid4().hex[:6]
    made = {}
    for permission in definitions["permissions"]:
        service = permission["user"]
        if service == "admin":
            continue
        user, password = f"{service}-{suffix}", uuid.uuid4().hex
        requests.put(f"{MANAGEMENT_API}/users/{user}", auth=GUEST, timeout=10,
                     json={"password": password, "tags": ""}).raise_for_status()
        requests.put(f"{MANAGEMENT_API}/permissions/{vhost}/{user}", auth=GUEST, timeout=10,
                     json={key: permission[key] for key in ("configure", "write", "read")}).raise_for_status()
        made[service] = f"amqp://{quote(user)}:{password}@127.0.0.1:5672/{vhost}"
    yield made
    for service in made:
        requests.delete(f"{MANAGEMENT_API}/users/{service}-{suffix}", auth=GUEST, timeout=10)


def test_services_work_with_their_own_users(start_service, agency_users):
    routing = start_service(RoutingService, AMQP_URI=agency_users["routing"])
    intake = start_service(IntakeService, AMQP_URI=agency_users["intake"])
    created = intake.post("/api/v1/cases", case_payload(),
                          auth={"roles": ("intake_clerk",), "jurisdictions": ("140106",)}).json()
    wait_for(lambda: routing.get(f"/api/v1/routing/cases/{created['case_code']}",
                                 auth={"roles": ("dispatcher",), "jurisdictions": ("140106",)}).status_code == 200,
             message="routing, with its own broker user, to receive the case")


def test_a_court_cannot_publish_as_intake(agency_users):
    exchange = Exchange("intake.events", type="topic", durable=True)
    with Connection(agency_users["intake"]) as conn:  # intake declares its exchange
        exchange.bind(conn.channel()).declare()
    with Connection(agency_users["court_bridge"], transport_options={"confirm_publish": True}) as conn:
        producer = conn.Producer()
        with pytest.raises(Exception) as info:
            producer.publish({"forged": True}, exchange=exchange, routing_key="case_registered")
        assert "ACCESS_REFUSED" in str(info.value) or "403" in str(info.value)
