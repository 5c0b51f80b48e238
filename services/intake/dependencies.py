"""Intake's own dependency providers: its rule data, the PII cipher, a controllable clock and the
public routes' per-case limit of wrong phone tails."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from nameko.extensions import DependencyProvider

from services.common.config import setting
from services.common.contracts import utcnow
from services.common.pii import PiiCipher
from services.intake.domain.rules import RulesError
from services.intake.rulebook import Rulebook, load_rulebook

DEFAULT_CASE_FAILURES = 10
DEFAULT_CASE_FAILURE_WINDOW_SECONDS = 900


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


@dataclass(frozen=True)
class CaseGuard:
    """How many wrong phone tails a case code allows per fixed window on the public routes."""

    failures: int = DEFAULT_CASE_FAILURES
    window_seconds: int = DEFAULT_CASE_FAILURE_WINDOW_SECONDS


def positive_whole_number(value: object, key: str) -> int:
    try:
        number = int(value) if isinstance(value, int | str) and not isinstance(value, bool) else None
    except ValueError:
        number = None
    if number is None or number <= 0:
        raise RulesError(f"{key}: expected a positive whole number, got {value!r}")
    return number


class PublicCaseGuard(DependencyProvider):
    """INTAKE_PUBLIC_CASE_FAILURES wrong tails per INTAKE_PUBLIC_CASE_FAILURE_WINDOW_SECONDS,
    read and checked when the container starts (a bad value stops it, naming the key)."""

    def setup(self) -> None:
        config = self.container.config
        self.guard = CaseGuard(
            positive_whole_number(setting(config, "INTAKE_PUBLIC_CASE_FAILURES", DEFAULT_CASE_FAILURES),
                                  "INTAKE_PUBLIC_CASE_FAILURES"),
            positive_whole_number(setting(config, "INTAKE_PUBLIC_CASE_FAILURE_WINDOW_SECONDS",
                                          DEFAULT_CASE_FAILURE_WINDOW_SECONDS),
                                  "INTAKE_PUBLIC_CASE_FAILURE_WINDOW_SECONDS"),
        )

    def get_dependency(self, worker_ctx) -> CaseGuard:
        return self.guard
