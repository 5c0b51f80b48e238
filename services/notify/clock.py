"""The service's clock. Quiet hours, reminders, retries and latency all read it, so a test
can move it (`get_extension(container, Clock).travel_to(moment)`) instead of waiting for
22:00. Time keeps running from there, so retries and leases still fall due."""

from __future__ import annotations

from datetime import datetime, timedelta

from nameko.extensions import DependencyProvider

from services.common.contracts import utcnow


class Clock(DependencyProvider):
    def setup(self) -> None:
        self.offset = timedelta()

    def travel_to(self, moment: datetime) -> None:
        """Make now() read `moment` (tz-aware) at this instant, and run on from there."""
        self.offset = moment - utcnow()

    def now(self) -> datetime:
        return utcnow() + self.offset

    def get_dependency(self, worker_ctx) -> Clock:
        return self
