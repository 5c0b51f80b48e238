from pathlib import Path

import pytest
import yaml

from services.routing.dependencies import DEFAULT_RULES
from tests.support.broker import tap
from tests.support.infra import vhost_uri
from tests.support.notify_fakes import HttpGateway, SmtpSink
from tests.support.system import start_system, stop_system


@pytest.fixture(scope="session")
def receivers():
    """Where notify delivers in the end-to-end runs: a real SMTP server and an HTTP gateway."""
    smtp, gateway = SmtpSink(), HttpGateway()
    try:
        yield smtp, gateway
    finally:
        smtp.close()
        gateway.close()


# Scenario 5 watches a case climb the whole ladder in real time. Rules are data: this deployment
# adds a drill clock of 12 s (blue at 9.6 s, yellow at 12, red at 24) for environment cases only,
# so the other scenarios keep the real clocks.
DRILL_CATEGORY = "environment"
BUS_TAP = "e2e.bus-tap"
DRILL_CLOCK = {"label": "演练：响应联系", "duration": {"minutes": 0.2}, "calendar": "natural", "starts": "assigned",
               "stops_on": ["accepted"], "restart_on_reassign": False, "only_if": {"category_in": [DRILL_CATEGORY]},
               "colours": {"blue": 0.8, "yellow": 1.0, "red": 2.0}}


@pytest.fixture(scope="session")
def drill_rules(tmp_path_factory) -> str:
    rules = yaml.safe_load(DEFAULT_RULES.read_text(encoding="utf-8"))
    rules["clocks"]["drill_first_contact"] = DRILL_CLOCK
    path = tmp_path_factory.mktemp("e2e-rules") / "rules.yaml"
    path.write_text(yaml.safe_dump(rules, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return str(path)


@pytest.fixture(scope="session")
def court_clock(tmp_path_factory) -> Path:
    """court_bridge's drill clock (COURT_CLOCK_FILE): an offset in seconds it re-reads while it runs."""
    path = tmp_path_factory.mktemp("e2e-court-clock") / "offset"
    path.write_text("0")
    return path


@pytest.fixture(scope="session")
def system(vhost_pool, receivers, drill_rules, court_clock):
    """One running system for the end-to-end scenarios, started as `make run` starts it."""
    smtp, gateway = receivers
    name = vhost_pool.take()
    running = start_system(vhost_uri(name), extra_env={
        "ROUTING_RULES_FILE": drill_rules, "COURT_CLOCK_FILE": str(court_clock),
        "SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(smtp.port), "SMTP_FROM": "notify@onestop.test",
        "SMS_GATEWAY_URL": gateway.url("/sms"), "SMS_GATEWAY_TOKEN": "e2e",
        "WECHAT_GATEWAY_URL": gateway.url("/wechat"), "WECHAT_GATEWAY_TOKEN": "e2e",
        "ROUTING_SWEEP_SECONDS": "1",
    })
    running.smtp, running.gateway = smtp, gateway
    tap(running.env["AMQP_URI"], BUS_TAP, running.ports)  # every event, for the personal-data check
    try:
        yield running
    finally:
        stop_system(running)
        vhost_pool.release(name)


def pytest_collection_modifyitems(items):
    """The security checks and the fuzzing come last: they throw everything at the shared
    system, and the scenarios should meet it as a centre would."""
    e2e = [index for index, item in enumerate(items) if item.module.__name__.startswith("tests.e2e.")]
    if e2e:
        block = items[e2e[0]:e2e[-1] + 1]
        block.sort(key=lambda item: item.module.__name__.endswith("test_security"))
        items[e2e[0]:e2e[-1] + 1] = block
