"""Dependency providers a service declares: its store, the outbox relay, health checks."""

from __future__ import annotations

import logging

from kombu import Connection
from nameko.extensions import DependencyProvider
from nameko.timer import Timer

from services.common.config import check_production_safety, setting
from services.common.consumers import RetryTopology
from services.common.metrics import ServiceMetrics
from services.common.mongo import MongoConnection, Repository
from services.common.outbox import OutboxRelay

log = logging.getLogger(__name__)


class Store(DependencyProvider):
    """Injects the service's repository: `store = Store(IntakeRepository)`."""

    connection = MongoConnection()
    relay = OutboxRelay()
    service_metrics = ServiceMetrics()

    def __init__(self, repository_cls: type[Repository]):
        self.repository_cls = repository_cls

    def setup(self) -> None:
        self.connection.register_indexes(self.repository_cls.indexes)

    def get_dependency(self, worker_ctx) -> Repository:
        return self.repository_cls(self.connection, self.relay, self.service_metrics, worker_ctx)


class Outbox(DependencyProvider):
    relay = OutboxRelay()

    def get_dependency(self, worker_ctx) -> OutboxRelay:
        return self.relay


class HealthChecks:
    def __init__(self, provider: Health):
        self._provider = provider

    def readiness(self) -> dict:
        provider = self._provider
        service = provider.container.service_name
        database = provider.connection.ping() and provider.connection.indexes_ready
        broker = provider.broker_reachable()
        for name, up in (("database", database), ("broker", broker)):
            provider.service_metrics.dependency_up.labels(service, name).set(1 if up else 0)
        return {"service": service, "ready": database and broker,
                "checks": {"database": database, "broker": broker}}

    def refresh_dead_letter_depth(self) -> None:
        provider = self._provider
        try:
            depth = provider.retry_topology.dead_letter_depth()
        except Exception as exc:  # broker away: the readiness check reports it
            log.debug("dead-letter depth unknown: %s", exc)
            return
        provider.service_metrics.dead_letter_depth.labels(
            provider.container.service_name
        ).set(depth)


class Health(DependencyProvider):
    connection = MongoConnection()
    retry_topology = RetryTopology()
    service_metrics = ServiceMetrics()

    def setup(self) -> None:
        # Here rather than in `onestop serve` alone: every way of starting a service (nameko run,
        # a container image's entrypoint, a test) must refuse development secrets in production.
        check_production_safety(self.container.config)
        self.amqp_uri = self.container.config["AMQP_URI"]

    def broker_reachable(self) -> bool:
        try:
            with Connection(self.amqp_uri, connect_timeout=2) as connection:
                connection.ensure_connection(max_retries=1, timeout=2)
            return True
        except Exception:
            return False

    def get_dependency(self, worker_ctx) -> HealthChecks:
        return HealthChecks(self)


class ConfiguredTimer(Timer):
    """A nameko timer whose interval is a config key. It fires in every replica:
    the work it starts must claim what it does (leases, atomic updates)."""

    def __init__(self, config_key: str, default: float, **kwargs):
        super().__init__(interval=default, **kwargs)
        self.config_key = config_key
        self.default = default

    def setup(self) -> None:
        self.interval = float(setting(self.container.config, self.config_key, self.default))
        super().setup()


every = ConfiguredTimer.decorator
