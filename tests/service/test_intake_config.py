"""intake's settings come from config/onestop.yaml, so a deployment sets them in the environment."""

from datetime import timedelta

import pytest
import yaml
from nameko.testing.utils import get_extension

from services.common.config import load_config
from services.intake.dependencies import IntakeClock
from services.intake.domain.rules import RulesError
from services.intake.rulebook import DATA_DIR
from services.intake.service import IntakeService
from tests.support.intake_samples import CLERK, GRID_REPORT_OF_THE_WAGE_ARREARS, case_payload

DEFAULTS = {
    "INTAKE_CHANNELS_FILE": "", "INTAKE_CLASSIFICATION_FILE": "", "INTAKE_DEDUP_FILE": "",
    "INTAKE_LIFECYCLE_FILE": "", "INTAKE_DEDUP_WINDOW_DAYS": None, "INTAKE_PUBLIC_RATE_LIMIT": 30,
    "INTAKE_PUBLIC_RATE_WINDOW_SECONDS": 60, "INTAKE_TRUST_FORWARDED_FOR": False, "INTAKE_CLOSING_SWEEP_SECONDS": 300,
    "INTAKE_PUBLIC_CASE_FAILURES": 10, "INTAKE_PUBLIC_CASE_FAILURE_WINDOW_SECONDS": 900,
}


@pytest.fixture
def environment(monkeypatch):
    for key in DEFAULTS:
        monkeypatch.delenv(key, raising=False)
    return monkeypatch


def progress(intake, code, headers=None):
    return intake.get(f"/api/v1/public/progress/{code}?phone_tail=0000", headers=headers or {}).status_code


def test_every_intake_setting_is_in_the_config_file_with_its_default(environment):
    config = load_config()
    assert {key: config.get(key, "missing") for key in DEFAULTS} == DEFAULTS


def test_every_intake_setting_is_read_from_the_environment(environment):
    values = {"INTAKE_CHANNELS_FILE": "/etc/onestop/channels.yaml",
              "INTAKE_CLASSIFICATION_FILE": "/etc/onestop/classification.yaml",
              "INTAKE_DEDUP_FILE": "/etc/onestop/dedup.yaml", "INTAKE_LIFECYCLE_FILE": "/etc/onestop/lifecycle.yaml",
              "INTAKE_DEDUP_WINDOW_DAYS": "14", "INTAKE_PUBLIC_RATE_LIMIT": "5",
              "INTAKE_PUBLIC_RATE_WINDOW_SECONDS": "120", "INTAKE_TRUST_FORWARDED_FOR": "true",
              "INTAKE_CLOSING_SWEEP_SECONDS": "30", "INTAKE_PUBLIC_CASE_FAILURES": "5",
              "INTAKE_PUBLIC_CASE_FAILURE_WINDOW_SECONDS": "1800"}
    for key, value in values.items():
        environment.setenv(key, value)
    config = load_config()
    assert {key: config[key] for key in values} == {
        **{key: values[key] for key in values if key.endswith("_FILE")},
        "INTAKE_DEDUP_WINDOW_DAYS": 14, "INTAKE_PUBLIC_RATE_LIMIT": 5, "INTAKE_PUBLIC_RATE_WINDOW_SECONDS": 120,
        "INTAKE_TRUST_FORWARDED_FOR": True, "INTAKE_CLOSING_SWEEP_SECONDS": 30, "INTAKE_PUBLIC_CASE_FAILURES": 5,
        "INTAKE_PUBLIC_CASE_FAILURE_WINDOW_SECONDS": 1800}


def test_a_public_rate_limit_set_in_the_environment_takes_effect(environment, start_service):
    environment.setenv("INTAKE_PUBLIC_RATE_LIMIT", "2")
    intake = start_service(IntakeService)
    case = intake.post("/api/v1/cases", case_payload(), auth=CLERK).json()
    assert [progress(intake, case["case_code"]) for _ in range(3)] == [404, 404, 429]


def test_trusting_x_forwarded_for_is_switched_on_from_the_environment(environment, start_service):
    environment.setenv("INTAKE_PUBLIC_RATE_LIMIT", "1")
    environment.setenv("INTAKE_TRUST_FORWARDED_FOR", "true")
    intake = start_service(IntakeService)
    case = intake.post("/api/v1/cases", case_payload(), auth=CLERK).json()
    client_a, client_b = {"X-Forwarded-For": "203.0.113.7"}, {"X-Forwarded-For": "198.51.100.9"}
    assert [progress(intake, case["case_code"], client_a) for _ in range(2)] == [404, 429]
    assert progress(intake, case["case_code"], client_b) == 404     # another client, its own count


def test_a_case_failure_limit_set_in_the_environment_takes_effect(environment, start_service):
    environment.setenv("INTAKE_PUBLIC_CASE_FAILURES", "1")
    intake = start_service(IntakeService)
    case = intake.post("/api/v1/cases", case_payload(), auth=CLERK).json()
    assert [progress(intake, case["case_code"]) for _ in range(2)] == [404, 429]


@pytest.mark.parametrize("key,value", [("INTAKE_PUBLIC_CASE_FAILURES", "0"),
                                       ("INTAKE_PUBLIC_CASE_FAILURE_WINDOW_SECONDS", "an hour")])
def test_an_unusable_case_failure_setting_stops_the_service_at_start(environment, config_factory,
                                                                      container_factory, key, value):
    environment.setenv(key, value)
    container = container_factory(IntakeService, config_factory("intake"))
    with pytest.raises(RulesError, match=key):
        container.start()


def test_a_string_no_does_not_switch_forwarded_for_on(environment, start_service):
    intake = start_service(IntakeService, INTAKE_PUBLIC_RATE_LIMIT=1, INTAKE_TRUST_FORWARDED_FOR="false")
    case = intake.post("/api/v1/cases", case_payload(), auth=CLERK).json()
    assert progress(intake, case["case_code"], {"X-Forwarded-For": "203.0.113.7"}) == 404
    assert progress(intake, case["case_code"], {"X-Forwarded-For": "198.51.100.9"}) == 429   # both are 127.0.0.1


def test_a_dedup_window_set_in_the_environment_takes_effect(environment, start_service):
    environment.setenv("INTAKE_DEDUP_WINDOW_DAYS", "1")
    intake = start_service(IntakeService)
    first = intake.post("/api/v1/cases", case_payload(), auth=CLERK).json()
    get_extension(intake.container, IntakeClock).offset = timedelta(days=2)   # within 30 days, not within 1
    second = intake.post("/api/v1/cases", GRID_REPORT_OF_THE_WAGE_ARREARS, auth=CLERK).json()
    assert second["outcome"] == "registered" and second["duplicate_of"] is None
    assert second["case_id"] != first["case_id"]


def test_a_classification_file_named_in_the_environment_is_used(environment, start_service, tmp_path):
    rules = yaml.safe_load((DATA_DIR / "classification.yaml").read_text(encoding="utf-8"))
    next(rule for rule in rules["rules"] if rule["flag"] == "mass_dispute")["min_people"] = 200
    path = tmp_path / "classification.yaml"
    path.write_text(yaml.safe_dump(rules, allow_unicode=True), encoding="utf-8")
    environment.setenv("INTAKE_CLASSIFICATION_FILE", str(path))
    intake = start_service(IntakeService)
    created = intake.post("/api/v1/cases", case_payload(), auth=CLERK).json()     # 90 workers
    assert "mass_dispute" not in created["risk_flags"]


def test_an_unusable_dedup_window_stops_the_service_at_start(environment, config_factory, container_factory):
    environment.setenv("INTAKE_DEDUP_WINDOW_DAYS", "0")
    container = container_factory(IntakeService, config_factory("intake"))
    with pytest.raises(RulesError, match="INTAKE_DEDUP_WINDOW_DAYS"):
        container.start()
