"""notify's business metrics, declared once at start so every series exists from the first scrape."""

from __future__ import annotations

from services.common.metrics import ServiceMetrics

LATENCY_BUCKETS = (0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600, 4 * 3600, 12 * 3600, 24 * 3600)


class NotifyMetrics:
    """Labels are kinds, channels and results — never a person or an address."""

    def __init__(self, metrics: ServiceMetrics):
        self.notifications = metrics.counter(
            "onestop_notifications_total", "Messages by kind, channel and result", ["kind", "channel", "result"])
        self.latency = metrics.histogram(
            "onestop_notification_latency_seconds", "From an event's message being queued to its delivery",
            ["channel"], buckets=LATENCY_BUCKETS)
        self.retries = metrics.counter(
            "onestop_notification_retries_total", "Delivery attempts scheduled again", ["channel"])
        self.gateway_errors = metrics.counter(
            "onestop_gateway_errors_total", "Failed calls to a channel's gateway", ["channel"])
