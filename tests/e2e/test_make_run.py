"""`make run`'s promise: the five services as separate processes, reachable, and a case
posted to intake reaches routing."""

from services.common.config import SERVICE_PORTS
from tests.support.infra import wait_for
from tests.support.samples import distinct_case

CLERK = {"roles": ("intake_clerk",), "jurisdictions": ("140106",)}
DISPATCHER = {"roles": ("dispatcher",), "jurisdictions": ("140106",)}


def test_every_service_runs_in_its_own_process_and_is_ready(system):
    for service in SERVICE_PORTS:
        ready = system.get(service, "/readyz")
        assert ready.status_code == 200, (service, ready.text)
        assert ready.json()["checks"] == {"database": True, "broker": True}
        assert system.get(service, "/api/v1/openapi.json").json()["info"]["title"] == f"OneStop {service}"
    wait_for(lambda: "OneStop is running" in system.logs(), timeout=10, message="the launcher's announcement")
    assert "export TOKEN=" in system.logs()


def test_a_case_posted_to_intake_reaches_routing(system):
    created = system.post("intake", "/api/v1/cases", distinct_case(9001), auth=CLERK)
    assert created.status_code == 201, created.text
    code = created.json()["case_code"]
    routed = wait_for(lambda: system.get("routing", f"/api/v1/routing/cases/{code}", auth=DISPATCHER).status_code
                      == 200, timeout=20, message="routing to hold the case")
    assert routed
    wait_for(lambda: system.metric("intake", "onestop_events_published_total", event_type="case_registered") >= 1,
             message="intake's relay to count the event it published")
