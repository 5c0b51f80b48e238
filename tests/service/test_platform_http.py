"""Platform behaviour through intake's HTTP entrypoints: auth, bad input, health, metrics."""

import json

import pytest
import requests

from services.common.config import DEV_JWT_SECRET, ConfigError
from services.intake.service import IntakeService
from tests.support.samples import case_payload

CLERK = {"roles": ("intake_clerk",), "jurisdictions": ("140106",)}


@pytest.fixture
def intake(start_service):
    return start_service(IntakeService)


def stored_cases(intake):
    return intake.db.cases.count_documents({})


def post_raw(intake, data, headers):
    return requests.post(intake.base_url + "/api/v1/cases", data=data, headers=headers, timeout=10)


def assert_error(response, status, code=None):
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "message", "fields"}
    assert "Traceback" not in response.text
    if code:
        assert body["error"] == code
    return body


def test_a_valid_case_is_stored_and_audited(intake):
    response = intake.post("/api/v1/cases", case_payload(), auth=CLERK)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "registered" and body["duplicate_of"] is None
    assert body["case_code"].startswith("140106-")
    assert intake.db.cases.find_one({"case_code": body["case_code"]})["_id"] == body["case_id"]
    audit = intake.db.audit_log.find_one({"case_code": body["case_code"]})
    assert audit["action"] == "case.register" and audit["actor"]["roles"] == ["intake_clerk"]
    outbox = intake.db.outbox.find_one({"envelope.case_id": body["case_id"]})
    assert outbox["event_type"] == "case_registered"


def nested(depth: int) -> list:
    value: list = []
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize("name,data,status,code", [
    ("not json", b"{not json", 400, "invalid_json"),
    ("empty body", b"", 400, "invalid_json"),
    ("json array", b"[1, 2]", 400, "validation_failed"),
    ("wrong types", json.dumps(case_payload(people_involved="ninety", parties="x")).encode(), 400,
     "validation_failed"),
    ("unknown field", json.dumps(case_payload(priority="urgent")).encode(), 400, "validation_failed"),
    ("dollar key", json.dumps(case_payload(parties=[{"$where": "1"}])).encode(), 400,
     "validation_failed"),
    ("dollar key top", json.dumps({"$set": {"status": "closed"}}).encode(), 400, "validation_failed"),
    ("bad channel", json.dumps(case_payload(channel="carrier_pigeon")).encode(), 400, "validation_failed"),
    ("110 without incident", json.dumps(case_payload(channel="police_110")).encode(), 400,
     "validation_failed"),
    ("2 MB body", json.dumps(case_payload(description="x" * 2_000_000)).encode(), 413, "payload_too_large"),
    ("nested 100k deep", b"[" * 100_000 + b"]" * 100_000, 400, "validation_failed"),
    ("lone surrogate", b'{"channel": "walk_in", "summary": "\\ud800"}', 400, "validation_failed"),
    ("nested 40 deep", json.dumps(case_payload(attachments=nested(40))).encode(), 400, "validation_failed"),
])
def test_bad_input_gets_its_json_error_and_stores_nothing(intake, name, data, status, code):
    headers = {**intake.headers(**CLERK), "Content-Type": "application/json"}
    body = assert_error(post_raw(intake, data, headers), status, code)
    assert body["message"]
    assert stored_cases(intake) == 0
    assert intake.db.outbox.count_documents({}) == 0


def test_an_answered_error_is_one_log_line_without_a_traceback(intake, caplog):
    with caplog.at_level("INFO"):
        assert_error(post_raw(intake, b"{not json", {**intake.headers(**CLERK)}), 400, "invalid_json")
        assert_error(intake.get("/api/v1/cases/140106-261201-LB-0099-X", auth=CLERK), 400, "invalid_case_code")
    answered = [record for record in caplog.records if record.name == "nameko.containers"]
    assert len(answered) == 2, [record.getMessage() for record in caplog.records]
    assert all(record.levelname == "INFO" and record.exc_info is None for record in answered)
    assert "Traceback" not in caplog.text


def test_field_errors_name_the_fields(intake):
    response = intake.post("/api/v1/cases", case_payload(people_involved=0, priority="x"), auth=CLERK)
    fields = assert_error(response, 400)["fields"]
    assert "people_involved" in fields and "priority" in fields


def test_no_token_bad_token_wrong_role_and_wrong_county_are_refused(intake):
    assert_error(intake.post("/api/v1/cases", case_payload()), 401, "token_missing")
    assert_error(intake.post("/api/v1/cases", case_payload(), headers={"Authorization": "Bearer x.y.z"}),
                 401, "token_invalid")
    assert_error(intake.post("/api/v1/cases", case_payload(),
                             auth={"roles": ("mediator",), "jurisdictions": ("140106",)}), 403, "role_forbidden")
    assert_error(intake.post("/api/v1/cases", case_payload(),
                             auth={"roles": ("intake_clerk",), "jurisdictions": ("140105",)}), 403,
                 "jurisdiction_forbidden")
    assert stored_cases(intake) == 0
    metrics = intake.get("/metrics").text
    assert 'onestop_auth_refusals_total{reason="token_missing",service="intake"} 1.0' in metrics
    assert 'onestop_auth_refusals_total{reason="jurisdiction_forbidden",service="intake"} 1.0' in metrics


def test_unknown_routes_and_methods_answer_json(intake):
    assert_error(intake.get("/api/v1/nowhere"), 404, "not_found")
    response = requests.delete(intake.base_url + "/healthz", timeout=5)
    assert_error(response, 405, "method_not_allowed")


def test_health_readiness_metrics_and_openapi(intake):
    assert intake.get("/healthz").json() == {"status": "ok", "service": "intake"}
    ready = intake.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"] == {"database": True, "broker": True}
    intake.post("/api/v1/cases", case_payload(), auth=CLERK)
    metrics = intake.get("/metrics")
    assert metrics.headers["Content-Type"].startswith("text/plain")
    assert ('onestop_http_requests_total{method="POST",route="/api/v1/cases",service="intake",status="201"} 1.0'
            in metrics.text)
    assert 'onestop_dependency_up{dependency="database",service="intake"} 1.0' in metrics.text
    spec = intake.get("/api/v1/openapi.json").json()
    assert spec["openapi"].startswith("3.")
    post = spec["paths"]["/api/v1/cases"]["post"]
    assert post["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/CaseIntake")
    assert "channel" in spec["components"]["schemas"]["CaseIntake"]["properties"]
    assert "/api/v1/cases/{code}" in spec["paths"]


def test_readiness_reports_a_dead_broker(start_service):
    intake = start_service(IntakeService)
    from nameko.testing.utils import get_extension

    from services.common.dependencies import Health
    health = get_extension(intake.container, Health)
    health.amqp_uri = "amqp://guest:guest@127.0.0.1:1/"
    response = intake.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["broker"] is False


def test_a_service_refuses_to_start_in_production_with_a_development_secret(start_service):
    with pytest.raises(ConfigError, match="ONESTOP_JWT_SECRET is the development default"):
        start_service(IntakeService, ONESTOP_ENV="prod", ONESTOP_JWT_SECRET=DEV_JWT_SECRET,
                      ONESTOP_PII_KEY="p" * 40)
