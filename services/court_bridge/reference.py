"""Reading the reference data files (data/*.yaml, or the files the config names)."""

from __future__ import annotations

from pathlib import Path

import yaml

from services.common.config import setting
from services.court_bridge.domain.model import Reference, build_reference

DATA = Path(__file__).resolve().parent / "data"
DEV_COURT_API_KEY = "onestop-dev-court-key"  # data/courts.yaml's default: the simulator's, never a court's


def read_yaml(path: str | Path) -> dict:
    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle) or {}


def load_reference(config: dict) -> Reference:
    """The courts, causes and rules: data/*.yaml unless the config names other files."""
    return build_reference(
        courts=read_yaml(setting(config, "COURT_COURTS_FILE", DATA / "courts.yaml")),
        causes=read_yaml(setting(config, "COURT_CAUSES_FILE", DATA / "causes.yaml")),
        rules=read_yaml(setting(config, "COURT_RULES_FILE", DATA / "rules.yaml")),
        base_urls=setting(config, "COURT_BASE_URLS", {}),
        api_keys=setting(config, "COURT_API_KEYS", {}),
        default_base_url=setting(config, "COURT_DEFAULT_BASE_URL", None),
    )
