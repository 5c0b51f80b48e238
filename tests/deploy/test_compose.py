"""docker-compose.yml, validated offline against the Compose specification."""

import json
import re
from pathlib import Path
from urllib.parse import urlsplit

import check_jsonschema
import jsonschema
import pytest
import yaml

from tests.deploy.environment import unread

ROOT = Path(__file__).resolve().parents[2]
ONESTOP = ("intake", "routing", "mediation", "court_bridge", "notify")
COMPOSE_SCHEMA = Path(check_jsonschema.__file__).parent / "builtin_schemas" / "vendor" / "compose-spec.json"


@pytest.fixture(scope="module")
def compose():
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_the_compose_file_matches_the_compose_specification(compose):
    schema = json.loads(COMPOSE_SCHEMA.read_text())
    errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(compose), key=str)
    assert not errors, [f"{'/'.join(map(str, e.path))}: {e.message}" for e in errors]


def test_every_service_has_an_image_environment_and_healthcheck(compose):
    services = compose["services"]
    assert set(ONESTOP) | {"rabbitmq", "mongo", "court_simulator", "prometheus", "grafana"} <= set(services)
    for name, service in services.items():
        assert service.get("image"), f"{name} has no image"
        assert service.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
    for name in ONESTOP:
        env = services[name]["environment"]
        for key in ("AMQP_URI", "MONGO_URI", "ONESTOP_ENV", "ONESTOP_JWT_SECRET", "ONESTOP_PII_KEY", "SERVICE"):
            assert env.get(key), f"{name} lacks {key}"
        assert services[name]["build"]["args"]["SERVICE"] == name
        assert env["AMQP_URI"].startswith(f"amqp://{name}:"), f"{name} must use its own broker user"
        assert "replicaSet=rs0" in env["MONGO_URI"]
        assert services[name]["depends_on"]["mongo"]["condition"] == "service_healthy"


def test_files_the_compose_file_mounts_exist(compose):
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), f"{name} mounts missing {source}"


def test_each_agency_user_may_publish_only_to_its_own_exchange():
    definitions = json.loads((ROOT / "deploy/rabbitmq/definitions.json").read_text())
    permissions = {p["user"]: p for p in definitions["permissions"]}
    import re

    for name in ONESTOP:
        write = re.compile(permissions[name]["write"])
        assert write.match(f"{name}.events")
        for other in set(ONESTOP) - {name}:
            assert not write.match(f"{other}.events"), f"{name} may publish as {other}"
        assert re.compile(permissions[name]["read"]).match(f"evt-intake-case_registered--{name}.handle")


def demo_value(value: str) -> str:
    """What the compose file gives when the variable is not set: ${NAME:-default} -> default."""
    found = re.fullmatch(r"\$\{[A-Z0-9_]+:-(.*)\}", str(value))
    return found.group(1) if found else str(value)


def test_every_variable_a_service_is_given_is_one_onestop_reads(compose):
    for name in ONESTOP:
        assert not unread(compose["services"][name]["environment"]), f"{name} is given variables nothing reads"


def test_court_bridge_talks_to_the_simulator_service(compose):
    services = compose["services"]
    address = urlsplit(demo_value(services["court_bridge"]["environment"]["COURT_DEFAULT_BASE_URL"]))
    assert address.hostname == "court_simulator"
    assert f"{address.port}:{address.port}" in services["court_simulator"]["ports"]


def test_notify_can_be_given_each_channel(compose):
    env = compose["services"]["notify"]["environment"]
    for key in ("SMTP_HOST", "SMTP_PORT", "SMTP_USER", "SMTP_PASSWORD", "SMTP_FROM", "SMTP_STARTTLS",
                "SMS_GATEWAY_URL", "SMS_GATEWAY_TOKEN", "WECHAT_GATEWAY_URL", "WECHAT_GATEWAY_TOKEN"):
        assert key in env, f"notify cannot be given {key}"
    assert demo_value(env["SMTP_HOST"]) == "mailpit" and "mailpit" in compose["services"]


def test_prometheus_scrapes_rabbitmqs_per_queue_metrics_for_the_alerts(compose):
    rabbitmq = compose["services"]["rabbitmq"]
    [plugins] = [v.split(":")[0] for v in rabbitmq["volumes"] if v.split(":")[1] == "/etc/rabbitmq/enabled_plugins"]
    assert "rabbitmq_prometheus" in (ROOT / plugins).read_text()
    scrape = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())["scrape_configs"]
    [job] = [job for job in scrape if job["job_name"] == "rabbitmq"]
    assert job["static_configs"][0]["targets"] == ["rabbitmq:15692"] and job["metrics_path"] == "/metrics/detailed"
    assert job["params"]["vhost"] == [re.search(r"amqp://[^@]+@rabbitmq:5672/(\w+)",
                                                compose["services"]["intake"]["environment"]["AMQP_URI"]).group(1)]
    # the families that carry the metrics the alerts and the dashboard use
    assert set(job["params"]["family"]) == {"queue_coarse_metrics", "queue_consumer_count"}
