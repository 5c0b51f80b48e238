"""court_bridge's dependency providers: its reference data and court adapters, its clock."""

from __future__ import annotations

from datetime import datetime, timedelta

from nameko.extensions import DependencyProvider

from services.common.config import setting
from services.common.contracts import utcnow
from services.court_bridge.adapters import CourtAdapter, adapter_for
from services.court_bridge.domain.model import Reference
from services.court_bridge.reference import load_reference


class CourtLink:
    """What a worker gets: the reference data and an adapter per court."""

    def __init__(self, reference: Reference, adapters: dict[str, CourtAdapter]):
        self.reference = reference
        self._adapters = adapters

    def adapter(self, court_id: str) -> CourtAdapter:
        return self._adapters[court_id]


class CourtReference(DependencyProvider):
    def setup(self) -> None:
        config = self.container.config
        self.reference = load_reference(config)
        timeout = float(setting(config, "COURT_HTTP_TIMEOUT_SECONDS", 10))
        self.adapters = {court_id: adapter_for(court, timeout)
                         for court_id, court in self.reference.courts.items()}

    def get_dependency(self, worker_ctx) -> CourtLink:
        return CourtLink(self.reference, self.adapters)


class Clock(DependencyProvider):
    """"Now" for every deadline. COURT_CLOCK_OFFSET_SECONDS (or `offset`, in tests) moves it."""

    def setup(self) -> None:
        self.offset = timedelta(seconds=float(setting(self.container.config, "COURT_CLOCK_OFFSET_SECONDS", 0)))

    def now(self) -> datetime:
        return utcnow() + self.offset

    def get_dependency(self, worker_ctx) -> Clock:
        return self
