"""Mediation's own dependency providers: its rules (a YAML data file) and its clock."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import yaml
from nameko.extensions import DependencyProvider

from services.common.config import setting
from services.common.contracts import utcnow
from services.mediation.domain.rules import Rules, RulesError, parse_rules

DEFAULT_RULES_FILE = Path(__file__).resolve().parent / "data" / "rules.yaml"


def load_rules(path: str | Path = DEFAULT_RULES_FILE) -> Rules:
    try:
        with open(path, encoding="utf-8") as handle:
            raw = yaml.safe_load(handle)
    except (OSError, yaml.YAMLError) as exc:
        raise RulesError(f"cannot read the mediation rules file {path}: {exc}") from exc
    try:
        return parse_rules(raw)
    except RulesError as exc:
        raise RulesError(f"{path}: {exc}") from exc


class RulesProvider(DependencyProvider):
    """The rules, read once at start; MEDIATION_RULES_FILE points at a deployment's own file.
    A bad file stops the service at start, with the key at fault in the message."""

    def setup(self) -> None:
        self.rules = load_rules(setting(self.container.config, "MEDIATION_RULES_FILE", DEFAULT_RULES_FILE))

    def get_dependency(self, worker_ctx) -> Rules:
        return self.rules


class Clock(DependencyProvider):
    """What time it is for bookings, reminders and follow-ups.

    MEDIATION_CLOCK_OFFSET_SECONDS shifts it (a rehearsal of next week's reminders); tests
    move it with `advance` or pin it with `freeze` instead of sleeping.
    """

    def setup(self) -> None:
        self.offset = timedelta(seconds=float(setting(self.container.config, "MEDIATION_CLOCK_OFFSET_SECONDS", 0)))
        self.frozen: datetime | None = None

    def now(self) -> datetime:
        return self.frozen if self.frozen is not None else utcnow() + self.offset

    def advance(self, delta: timedelta) -> None:
        if self.frozen is not None:
            self.frozen += delta
        else:
            self.offset += delta

    def freeze(self, moment: datetime | None) -> None:
        self.frozen = moment

    def get_dependency(self, worker_ctx) -> Clock:
        return self
