"""The escalation ladder: grid → community → township → county centre (backstop), then supervision
by the command centre above, inspection and the discipline body. Pure."""

from __future__ import annotations

from dataclasses import dataclass

from services.routing.domain.reference import Directory, Location
from services.routing.domain.rules import Rung


@dataclass(frozen=True)
class Step:
    rung: str
    index: int
    level: str
    unit: str
    takes_over: bool


def rung_unit(rung: Rung, location: Location, directory: Directory) -> str | None:
    """The unit that stands on a rung for a case at `location`, if the directory has it."""
    spec = rung.unit
    if spec == "grid":
        unit = f"grid:{location.grid}" if location.grid else None
    elif spec == "community":
        unit = f"{location.community}:committee" if location.community else None
    elif spec == "township":
        unit = f"{location.township}:office" if location.township else None
    elif spec == "county_centre":
        unit = f"{location.county}:centre" if location.county else None
    elif spec == "city_centre":
        unit = f"{location.city}:centre" if location.city else None
    elif spec.startswith("city_department:"):
        unit = f"{location.city}:{spec.partition(':')[2]}" if location.city else None
    else:
        unit = None
    return unit if unit and directory.unit(unit) else None


def start_position(level: str, unit: str, ladder: list[Rung]) -> dict:
    """Where a freshly assigned case stands: the rung of its handling level (a department sits on its
    county's rung, below the centre)."""
    index = next((i for i, rung in enumerate(ladder) if rung.level == level), len(ladder) - 1)
    return {"rung": ladder[index].rung, "index": index, "level": level, "unit": unit, "steps": 0}


def next_step(position: dict, location: Location, ladder: list[Rung], directory: Directory) -> Step | None:
    """The next rung above `position` that has a unit for this case, or None at the top.

    A rung whose unit is the one already standing there is passed over, so a department-handled
    case goes first to its county centre, and a centre-handled case to the rung above.
    """
    for index in range(position["index"], len(ladder)):
        rung = ladder[index]
        unit = rung_unit(rung, location, directory)
        if unit is None or unit == position["unit"]:
            continue
        if index == position["index"] and directory.units[unit].kind != "centre":
            continue
        return Step(rung=rung.rung, index=index, level=rung.level, unit=unit, takes_over=rung.takes_over)
    return None
