"""Intake's own dependency providers: its rule data, the PII cipher and a controllable clock."""

from __future__ import annotations

from datetime import datetime, timedelta

from nameko.extensions import DependencyProvider

from services.common.contracts import utcnow
from services.common.pii import PiiCipher
from services.intake.rulebook import Rulebook, load_rulebook


class IntakeRules(DependencyProvider):
    """The rule data, loaded once when the container starts."""

    def setup(self) -> None:
        self.rulebook = load_rulebook(self.container.config)

    def get_dependency(self, worker_ctx) -> Rulebook:
        return self.rulebook


class Pii(DependencyProvider):
    """Encrypts personal data at rest and makes the blind indexes it is matched by."""

    def setup(self) -> None:
        self.cipher = PiiCipher(self.container.config["ONESTOP_PII_KEY"])

    def get_dependency(self, worker_ctx) -> PiiCipher:
        return self.cipher


class IntakeClock(DependencyProvider):
    """`now()` for everything that depends on time. Tests move it with `offset` or `frozen_at`
    (nameko.testing.utils.get_extension) instead of waiting for deadlines."""

    def setup(self) -> None:
        self.offset = timedelta(0)
        self.frozen_at: datetime | None = None

    def now(self) -> datetime:
        return (self.frozen_at or utcnow()) + self.offset

    def get_dependency(self, worker_ctx) -> IntakeClock:
        return self
