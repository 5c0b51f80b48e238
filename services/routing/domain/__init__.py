"""Routing's domain: pure rules and state machines (no I/O, no nameko, no pymongo)."""

from __future__ import annotations

from dataclasses import dataclass

from services.routing.domain.reference import Directory, ReferenceDataError
from services.routing.domain.rules import RoutingRules

LADDER_UNIT_SPECS = ("grid", "community", "township", "county_centre", "city_centre")


@dataclass(frozen=True)
class Reference:
    """The directory and the rules, checked against each other."""

    directory: Directory
    rules: RoutingRules

    @classmethod
    def from_data(cls, directory_data: dict, rules_data: dict) -> Reference:
        reference = cls(Directory.from_data(directory_data), RoutingRules.from_data(rules_data))
        reference._cross_check()
        return reference

    def _cross_check(self) -> None:
        catalog = self.directory.department_catalog
        for flag, keys in self.rules.flag_departments.items():
            unknown = [key for key in keys if key not in catalog]
            if unknown:
                raise ReferenceDataError(f"flag_departments.{flag}: unknown departments {unknown}")
        fallback = self.rules.triage_fallback_unit
        if fallback and self.directory.unit(fallback) is None:
            raise ReferenceDataError(f"triage.fallback_unit {fallback} is not a unit of the directory")
        for rung in self.rules.ladder:
            if rung.unit not in LADDER_UNIT_SPECS and not rung.unit.startswith("city_department:"):
                raise ReferenceDataError(f"escalation rung {rung.rung}: unknown unit {rung.unit}")
        unknown_tags = [tag for tag in self.rules.tags if not tag.replace("_", "").isalnum()]
        if unknown_tags:
            raise ReferenceDataError(f"tags: not identifiers {unknown_tags}")
