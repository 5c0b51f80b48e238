import pytest

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


@pytest.fixture(scope="session")
def system(vhost_pool, receivers):
    """One running system for the end-to-end scenarios, started as `make run` starts it."""
    smtp, gateway = receivers
    name = vhost_pool.take()
    running = start_system(vhost_uri(name), extra_env={
        "SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(smtp.port), "SMTP_FROM": "notify@onestop.test",
        "SMS_GATEWAY_URL": gateway.url("/sms"), "SMS_GATEWAY_TOKEN": "e2e",
        "WECHAT_GATEWAY_URL": gateway.url("/wechat"), "WECHAT_GATEWAY_TOKEN": "e2e",
        "ROUTING_SWEEP_SECONDS": "1",
    })
    running.smtp, running.gateway = smtp, gateway
    try:
        yield running
    finally:
        stop_system(running)
        vhost_pool.release(name)
