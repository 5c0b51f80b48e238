"""court_bridge's business metrics (docs/court_bridge.md explains each). No personal data
in labels: court ids, results, tracks and operations only."""

from __future__ import annotations

from services.common.metrics import ServiceMetrics


class CourtMetrics:
    def __init__(self, metrics: ServiceMetrics):
        self.referrals = metrics.counter(
            "onestop_court_referrals_total", "Referral items received from courts, by result",
            ["court", "result"])
        self.feedback_pending = metrics.gauge(
            "onestop_court_feedback_pending", "Feedback to courts queued and not yet delivered")
        self.feedback_delivered = metrics.counter(
            "onestop_court_feedback_delivered_total", "Feedback messages a court has acknowledged")
        self.confirmations = metrics.counter(
            "onestop_court_confirmations_total",
            "Judicial confirmation applications by result: applied, granted, rejected", ["result"])
        self.filings = metrics.counter(
            "onestop_court_filings_total", "Filings a court has received, by track", ["track"])
        self.adapter_errors = metrics.counter(
            "onestop_court_adapter_errors_total", "Calls to a court's system that failed, by operation",
            ["court", "operation"])
        self.stuck = metrics.gauge(
            "onestop_court_stuck_items", "Messages and status checks on the stuck list")
        self.confirmation_warnings = metrics.counter(
            "onestop_court_confirmation_warnings_total",
            "Confirmation windows warned about: due_soon (within the warning days), overdue", ["level"])
        self.batch_seconds = metrics.histogram(
            "onestop_court_referral_batch_seconds", "Time to answer a referral batch",
            buckets=(0.1, 0.5, 1, 2.5, 5, 10, 20, 30, 45, 60, 90, 120))
