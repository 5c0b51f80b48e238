"""Test-session plumbing: green sockets first, the embedded store, a fresh RabbitMQ vhost."""

import eventlet

eventlet.monkey_patch()  # before anything imports sockets (DESIGN.md §7.8)

import os  # noqa: E402
import uuid  # noqa: E402

import pytest  # noqa: E402

from tests.support import infra  # noqa: E402


@pytest.fixture(scope="session")
def mongo_uri():
    """A SecantusDB server with in-memory storage for this test session (or MONGO_URI)."""
    if os.environ.get("TEST_MONGO_URI"):
        yield os.environ["TEST_MONGO_URI"]
        return
    server = infra.EmbeddedStore.start()
    try:
        yield server.uri
    finally:
        server.stop()


@pytest.fixture(scope="session")
def vhost_pool():
    pool = infra.VhostPool()
    try:
        yield pool
    finally:
        pool.close()


@pytest.fixture
def amqp_uri(vhost_pool):
    """A fresh vhost on the local RabbitMQ for each test: no message outlives its test."""
    name = vhost_pool.take()
    try:
        yield infra.vhost_uri(name)
    finally:
        vhost_pool.release(name)


@pytest.fixture
def config_factory(mongo_uri, amqp_uri):
    """Config for one service container: its own port; the test's databases and vhost."""
    prefix = f"t{uuid.uuid4().hex[:10]}"

    def make(service: str, **overrides) -> dict:
        return infra.service_config(service, mongo_uri=mongo_uri, amqp_uri=amqp_uri,
                                    database_prefix=prefix, **overrides)

    return make


@pytest.fixture
def start_service(container_factory, config_factory):
    """Start a service class in a container; returns (container, base_url, config)."""

    def start(service_cls, **overrides):
        config = config_factory(service_cls.name, **overrides)
        container = container_factory(service_cls, config)
        container.start()
        return infra.Running(container, config)

    return start
