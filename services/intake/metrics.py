"""intake's business metrics, declared once at start so every series exists from the first scrape."""

from __future__ import annotations

from services.common.metrics import ServiceMetrics


class IntakeMetrics:
    """Labels are inlets, counties, categories, flags and statuses — never a person."""

    def __init__(self, metrics: ServiceMetrics):
        self.registered = metrics.counter(
            "onestop_cases_registered_total", "Cases registered, by inlet, county and category",
            ["channel", "county", "category"])
        self.merged = metrics.counter(
            "onestop_cases_merged_total", "Reports merged into an earlier case file, by inlet", ["channel"])
        self.risk_flags = metrics.counter("onestop_risk_flags_total", "Risk flags raised on case files", ["flag"])
        self.status_changes = metrics.counter(
            "onestop_case_status_changes_total", "Case status changes, by new status", ["to_status"])
        self.closed = metrics.counter("onestop_cases_closed_total", "Cases closed, by final outcome",
                                      ["final_status"])
        self.rate_limited = metrics.counter("onestop_public_rate_limited_total",
                                            "Public requests refused by the per-client rate limit")
        self.case_locked = metrics.counter(
            "onestop_public_case_locked_total",
            "Public requests refused because their case code had too many wrong phone tails")
        self.ratings = metrics.counter("onestop_ratings_total", "Ratings from the public, by score", ["score"])
