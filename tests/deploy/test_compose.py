"""docker-compose.yml, validated offline against the Compose specification."""

import json
from pathlib import Path

import check_jsonschema
import jsonschema
import pytest
import yaml

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
