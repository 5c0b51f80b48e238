"""Shared checks for rule data read from YAML: a bad file stops the service at start."""

from __future__ import annotations

from collections.abc import Iterable


class RulesError(ValueError):
    """Rule data that cannot be used; the message names the file section and the problem."""


def require_keys(entry: object, keys: Iterable[str], where: str) -> None:
    if not isinstance(entry, dict):
        raise RulesError(f"{where}: expected a mapping")
    missing = [key for key in keys if key not in entry]
    if missing:
        raise RulesError(f"{where}: missing {', '.join(missing)}")


def string_list(value: object, where: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
        raise RulesError(f"{where}: expected a list of non-empty strings")
    return list(value)


def positive_number(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise RulesError(f"{where}: expected a positive number, got {value!r}")
    return float(value)
