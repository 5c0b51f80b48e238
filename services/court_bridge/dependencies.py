"""court_bridge's dependency providers: its reference data and court adapters, its clock."""

from __future__ import annotations

import contextlib
import logging
import time
from datetime import datetime, timedelta
from pathlib import Path

from nameko.extensions import DependencyProvider

from services.common.config import ConfigError, setting
from services.common.contracts import utcnow
from services.court_bridge.adapters import CourtAdapter, adapter_for
from services.court_bridge.domain.model import Reference
from services.court_bridge.reference import DEV_COURT_API_KEY, load_reference

CLOCK_FILE_READ_SECONDS = 0.5

log = logging.getLogger(__name__)


class CourtLink:
    """What a worker gets: the reference data and an adapter per court."""

    def __init__(self, reference: Reference, adapters: dict[str, CourtAdapter]):
        self.reference = reference
        self._adapters = adapters

    def adapter(self, court_id: str) -> CourtAdapter:
        return self._adapters[court_id]


def unconfigured_courts(config: dict, reference: Reference) -> list[str]:
    """In production, the courts whose key is still the shipped development key: sending it to a
    real court's system would fail at best. An agency's court_bridge configures only its own court;
    the others are never called there."""
    if str(config.get("ONESTOP_ENV", "dev")) != "prod":
        return []
    return sorted(court_id for court_id, court in reference.courts.items() if court.api_key == DEV_COURT_API_KEY)


class CourtReference(DependencyProvider):
    def setup(self) -> None:
        config = self.container.config
        self.reference = load_reference(config)
        timeout = float(setting(config, "COURT_HTTP_TIMEOUT_SECONDS", 10))
        unconfigured = unconfigured_courts(config, self.reference)
        if unconfigured:
            log.warning("production: %d courts still have the development key and will not be called until "
                        "COURT_API_KEYS gives them theirs: %s", len(unconfigured), ", ".join(unconfigured))
        self.adapters = {
            court_id: adapter_for(court, timeout, unusable=(
                "no production credential for this court: set its key in COURT_API_KEYS"
                if court_id in unconfigured else None))
            for court_id, court in self.reference.courts.items()
        }

    def get_dependency(self, worker_ctx) -> CourtLink:
        return CourtLink(self.reference, self.adapters)


class Clock(DependencyProvider):
    """"Now" for every deadline. COURT_CLOCK_OFFSET_SECONDS (or `offset`, in tests) moves it; in
    development, COURT_CLOCK_FILE names a file holding an offset in seconds that a drill (or an
    end-to-end test of a deadline 30 days away) may change while the service runs."""

    def setup(self) -> None:
        config = self.container.config
        self.offset = timedelta(seconds=float(setting(config, "COURT_CLOCK_OFFSET_SECONDS", 0)))
        self.offset_file = setting(config, "COURT_CLOCK_FILE", None)
        if self.offset_file and str(config.get("ONESTOP_ENV", "dev")) == "prod":
            raise ConfigError("COURT_CLOCK_FILE is for development and drills; unset it in production")
        self._file_offset, self._read_at = timedelta(), 0.0

    def now(self) -> datetime:
        return utcnow() + self.offset + self._offset_from_file()

    def _offset_from_file(self) -> timedelta:
        if not self.offset_file or time.monotonic() - self._read_at < CLOCK_FILE_READ_SECONDS:
            return self._file_offset
        self._read_at = time.monotonic()
        # a file being rewritten, or not there yet: keep the last offset read
        with contextlib.suppress(OSError, ValueError):
            self._file_offset = timedelta(seconds=float(Path(self.offset_file).read_text().strip() or 0))
        return self._file_offset

    def get_dependency(self, worker_ctx) -> Clock:
        return self
