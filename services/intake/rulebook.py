"""Intake's rule data: YAML files under services/intake/data/, each overridable by a config key."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path

import yaml

from services.common.config import setting
from services.intake.domain.casefile import Lifecycle, parse_lifecycle
from services.intake.domain.channels import ChannelBook, parse_channels
from services.intake.domain.classification import Classifier, parse_classification
from services.intake.domain.dedup import DedupPolicy, parse_dedup
from services.intake.domain.rules import RulesError, positive_number

DATA_DIR = Path(__file__).resolve().parent / "data"
FILES = {
    "channels": ("INTAKE_CHANNELS_FILE", "channels.yaml"),
    "classifier": ("INTAKE_CLASSIFICATION_FILE", "classification.yaml"),
    "dedup": ("INTAKE_DEDUP_FILE", "dedup.yaml"),
    "lifecycle": ("INTAKE_LIFECYCLE_FILE", "lifecycle.yaml"),
}


@dataclass(frozen=True)
class Rulebook:
    channels: ChannelBook
    classifier: Classifier
    dedup: DedupPolicy
    lifecycle: Lifecycle


def read_yaml(path: Path) -> dict:
    try:
        with open(path, encoding="utf-8") as handle:
            raw = yaml.safe_load(handle)
    except (OSError, yaml.YAMLError) as exc:
        raise RulesError(f"cannot read {path}: {exc}") from exc
    if not isinstance(raw, dict):
        raise RulesError(f"{path}: expected a YAML mapping")
    return raw


def load_rulebook(config: dict) -> Rulebook:
    """Read and check every rule file; a bad file stops the service at start, naming the problem.
    INTAKE_DEDUP_WINDOW_DAYS, when set, replaces the dedup file's window_days."""
    paths = {name: Path(setting(config, key, DATA_DIR / default)) for name, (key, default) in FILES.items()}
    parsers = {"channels": parse_channels, "classifier": parse_classification, "dedup": parse_dedup,
               "lifecycle": parse_lifecycle}
    parsed = {}
    for name, path in paths.items():
        try:
            parsed[name] = parsers[name](read_yaml(path))
        except RulesError as exc:
            raise RulesError(f"{path}: {exc}") from exc
    window_days = setting(config, "INTAKE_DEDUP_WINDOW_DAYS", None)
    if window_days is not None:
        days = positive_number(window_days, "INTAKE_DEDUP_WINDOW_DAYS")
        parsed["dedup"] = replace(parsed["dedup"], window=timedelta(days=days))
    return Rulebook(**parsed)
