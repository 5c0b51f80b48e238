"""A deployment's own reference data and rules, and what routing refuses to start with."""

import pytest
import yaml

from services.common.config import ConfigError
from services.routing.dependencies import DEFAULT_RULES
from services.routing.service import RoutingService
from tests.support.broker import publish_event
from tests.support.infra import wait_for
from tests.support.routing_support import registered


def rules_file(tmp_path, mutate) -> str:
    with open(DEFAULT_RULES, encoding="utf-8") as handle:
        data = yaml.safe_load(handle)
    mutate(data)
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return str(path)


def test_a_deployment_points_routing_at_its_own_rules(start_service, tmp_path):
    def mutate(data):
        data["tiers"][1]["when"] = {"people_at_least": 200}  # this county calls 200 people a mass dispute
        data["clocks"]["first_contact"]["duration"] = {"minutes": 10}

    routing = start_service(RoutingService, ROUTING_SWEEP_SECONDS=3600, ROUTING_RULES_FILE=rules_file(tmp_path, mutate))
    envelope = registered(flags=())
    publish_event(routing.config["AMQP_URI"], envelope)
    case = wait_for(lambda: routing.db.cases.find_one({"_id": envelope["case_id"]}), message="the case")
    assert case["tier"] == "general" and case["rule"]["rule_id"] == "general.major"
    first_contact = next(c for c in case["clocks"] if c["name"] == "first_contact")
    assert (first_contact["deadline"] - first_contact["started_at"]).total_seconds() == 600


@pytest.mark.parametrize("overrides,message", [
    ({"ROUTING_DIRECTORY_FILE": "/nonexistent/directory.yaml"}, "No such file"),
    # production secrets, so that the clock offset is what is refused
    ({"ONESTOP_ENV": "prod", "ONESTOP_JWT_SECRET": "j" * 40, "ONESTOP_PII_KEY": "p" * 40,
      "ROUTING_CLOCK_OFFSET_SECONDS": 60}, "ROUTING_CLOCK_OFFSET_SECONDS"),
])
def test_routing_refuses_to_start_with_unusable_settings(config_factory, container_factory, overrides, message):
    container = container_factory(RoutingService, config_factory("routing", **overrides))
    with pytest.raises(ConfigError, match=message):
        container.start()


def test_routing_refuses_rules_that_do_not_hold_together(config_factory, container_factory, tmp_path):
    path = rules_file(tmp_path, lambda data: data["clocks"]["sign"].update(duration={"working_days": -1}))
    container = container_factory(RoutingService, config_factory("routing", ROUTING_RULES_FILE=path))
    with pytest.raises(ConfigError, match="clock sign: the duration must be positive"):
        container.start()
