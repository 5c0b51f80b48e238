"""Prometheus metrics: one registry per container, so several containers (two intake
workers in a test, say) never clash, and the platform's own series always exist.

Label values never carry personal data: services, routes (templates, not paths),
event types, categories, county codes, outcomes.
"""

from __future__ import annotations

from nameko.extensions import DependencyProvider, SharedExtension
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class ServiceMetrics(SharedExtension):
    """The container's registry with the platform metrics, plus get-or-create for a service's own."""

    def setup(self) -> None:
        self.service = self.container.service_name
        self.registry = CollectorRegistry()
        self._metrics: dict[str, object] = {}
        self.http_requests = self.counter(
            "onestop_http_requests_total", "HTTP requests answered",
            ["service", "method", "route", "status"],
        )
        self.http_latency = self.histogram(
            "onestop_http_request_duration_seconds", "HTTP request latency",
            ["service", "method", "route"],
        )
        self.auth_refusals = self.counter(
            "onestop_auth_refusals_total", "Requests refused for authentication or authorisation",
            ["service", "reason"],
        )
        self.events_published = self.counter(
            "onestop_events_published_total", "Events published to the broker by the outbox relay",
            ["service", "event_type"],
        )
        self.events_consumed = self.counter(
            "onestop_events_consumed_total",
            "Events received, by outcome: processed, duplicate, retried, waiting (a dependency is away), "
            "dead_lettered, invalid",
            ["service", "source", "event_type", "outcome"],
        )
        self.events_dead_lettered = self.counter(
            "onestop_events_dead_lettered_total", "Events moved to the dead-letter queue",
            ["service", "source", "event_type"],
        )
        self.handler_latency = self.histogram(
            "onestop_event_handler_duration_seconds", "Time spent handling one event",
            ["service", "source", "event_type"],
        )
        self.outbox_pending = self.gauge(
            "onestop_outbox_pending_events", "Events written but not yet published", ["service"],
        )
        self.outbox_oldest_age = self.gauge(
            "onestop_outbox_oldest_pending_age_seconds",
            "Age of the oldest event not yet published (0 when none)", ["service"],
        )
        self.outbox_publish_failures = self.counter(
            "onestop_outbox_publish_failures_total",
            "Attempts to publish an outbox event that failed, by reason", ["service", "reason"],
        )
        self.dead_letter_depth = self.gauge(
            "onestop_dead_letter_queue_messages",
            "Messages waiting in this service's dead-letter queue", ["service"],
        )
        self.dependency_up = self.gauge(
            "onestop_dependency_up", "1 when the broker or database answered the last check",
            ["service", "dependency"],
        )
        # A service's own metrics exist from the first scrape when it declares them: alerts
        # and dashboards then see zeros, not absent series.
        declare = getattr(self.container.service_cls, "declare_metrics", None)
        if declare is not None:
            declare(self)
        for dependency in ("broker", "database"):
            self.dependency_up.labels(self.service, dependency).set(0)
        self.outbox_pending.labels(self.service).set(0)
        self.outbox_oldest_age.labels(self.service).set(0)
        self.dead_letter_depth.labels(self.service).set(0)

    def _get_or_create(self, kind, name: str, documentation: str, labels, **kwargs):
        metric = self._metrics.get(name)
        if metric is None:
            metric = kind(name, documentation, list(labels), registry=self.registry, **kwargs)
            self._metrics[name] = metric
        return metric

    def counter(self, name: str, documentation: str, labels=()) -> Counter:
        return self._get_or_create(Counter, name, documentation, labels)

    def gauge(self, name: str, documentation: str, labels=()) -> Gauge:
        return self._get_or_create(Gauge, name, documentation, labels)

    def histogram(self, name: str, documentation: str, labels=(), buckets=LATENCY_BUCKETS) -> Histogram:
        return self._get_or_create(Histogram, name, documentation, labels, buckets=buckets)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class Metrics(DependencyProvider):
    """Gives a worker the container's ServiceMetrics, for the service's business metrics."""

    service_metrics = ServiceMetrics()

    def get_dependency(self, worker_ctx) -> ServiceMetrics:
        return self.service_metrics
