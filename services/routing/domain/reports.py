"""The command board, KPIs and the heat map, computed from routing cases. Pure.

Every KPI is defined in docs/routing.md; the cohort is the cases registered in the period
(duplicates merged into another case are left out).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from services.routing.domain.reference import Directory
from services.routing.domain.rules import COLOURS

PERIODS = ("day", "week", "month")
RESOLVED_OUTCOMES = ("resolved", "agreement")
ENDED_OUTCOMES = ("resolved", "agreement", "failed", "withdrawn", "filed")


def period_window(period: str, day: date, timezone: ZoneInfo) -> tuple[datetime, datetime]:
    """[start, end) in UTC of the local day, ISO week (Monday first) or calendar month containing `day`."""
    if period == "day":
        first, last = day, day + timedelta(days=1)
    elif period == "week":
        first = day - timedelta(days=day.weekday())
        last = first + timedelta(days=7)
    elif period == "month":
        first = day.replace(day=1)
        last = (first + timedelta(days=32)).replace(day=1)
    else:
        raise ValueError(f"period is one of {PERIODS}")

    def moment(d: date) -> datetime:
        return datetime.combine(d, time(0), tzinfo=timezone).astimezone(UTC)

    return moment(first), moment(last)


def _rate(numerator: int, denominator: int) -> float | None:
    return round(numerator / denominator, 4) if denominator else None


def _clock(case: dict, clock_id: str) -> dict | None:
    return next((clock for clock in case.get("clocks", ()) if clock["id"] == clock_id), None)


def kpis(cases: list[dict], population: int | None) -> dict:
    cohort = [case for case in cases if case.get("state") != "merged"]
    registered = len(cohort)
    resolved = [case for case in cohort if case.get("outcome") in RESOLVED_OUTCOMES]
    ended = [case for case in cohort if case.get("outcome") in ENDED_OUTCOMES]
    hours = [(case["ended_at"] - case["registered_at"]).total_seconds() / 3600
             for case in resolved if case.get("ended_at") and case.get("registered_at")]
    resolve_results = [clock["on_time"] for clock in (_clock(case, "resolve") for case in ended)
                       if clock and clock.get("on_time") is not None]
    responded = [case for case in cohort if (_clock(case, "first_contact") or {}).get("status") == "met"
                 and _clock(case, "first_contact").get("on_time")]
    returned = [case for case in cohort if case.get("returns", 0) > 0]
    court = [case for case in cohort if case.get("court_referred")]
    court_ended = [case for case in court if case.get("mediation_outcome") or case.get("filed")]
    court_agreed = [case for case in court_ended if case.get("mediation_outcome") == "agreement"]
    filed = [case for case in cohort if case.get("filed")]
    scores = [case["rating"]["score"] for case in cohort if case.get("rating")]
    return {
        "registered": registered,
        "resolved": len(resolved),
        "resolution_rate": _rate(len(resolved), registered),
        "average_handling_hours": round(sum(hours) / len(hours), 2) if hours else None,
        "on_time_rate": _rate(sum(1 for on_time in resolve_results if on_time), len(resolve_results)),
        "response_rate": _rate(len(responded), registered),
        "return_rate": _rate(len(returned), registered),
        "presuit_success_rate": _rate(len(court_agreed), len(court_ended)),
        "litigation_per_10k": round(len(filed) / population * 10000, 4) if population else None,
        "satisfaction": round(sum(scores) / len(scores), 2) if scores else None,
        "satisfied_rate": _rate(sum(1 for score in scores if score >= 4), len(scores)),
        "counts": {
            "ended": len(ended), "returned": len(returned), "court_referred": len(court),
            "court_referred_ended": len(court_ended), "court_referred_agreed": len(court_agreed),
            "filed": len(filed), "rated": len(scores), "responded_in_time": len(responded),
        },
    }


def area_of(code: str, scope: str, directory: Directory) -> str:
    """The child of `scope` a case lies in (a county of a city, a township of a county, ...), or the
    scope itself when the case is not placed finer than that."""
    children = directory.children(scope) if scope in directory.divisions else []
    for child in children:
        if code.startswith(child.code):
            return child.code
    return scope


def heatmap(cases: list[dict], scope: str, directory: Directory) -> dict:
    cohort = [case for case in cases if case.get("state") != "merged"]
    cells: Counter = Counter()
    for case in cohort:
        cells[(area_of(case["jurisdiction"], scope, directory), case["category"])] += 1
    by_area: Counter = Counter()
    by_category: Counter = Counter()
    rows = []
    for (area, category), count in sorted(cells.items()):
        by_area[area] += count
        by_category[category] += count
        population = directory.population(area)
        rows.append({
            "jurisdiction": area, "name": _name(area, scope, directory), "category": category, "count": count,
            "per_10k": round(count / population * 10000, 4) if population else None,
        })
    areas = []
    for area, count in sorted(by_area.items()):
        population = directory.population(area)
        areas.append({"jurisdiction": area, "name": _name(area, scope, directory), "count": count,
                      "per_10k": round(count / population * 10000, 4) if population else None})
    return {"cells": rows, "areas": areas, "categories": dict(sorted(by_category.items())), "total": len(cohort)}


def _name(area: str, scope: str, directory: Directory) -> str:
    division = directory.division(area)
    name = division.name if division else area
    return f"{name}（未细分）" if area == scope and directory.children(scope) else name


def board(open_cases: list[dict], outstanding_summons: list[dict], now: datetime, directory: Directory,
          overdue_limit: int = 200) -> dict:
    """The command board: open cases by colour, level and unit; the overdue list; summons outstanding."""
    by_colour = dict.fromkeys(COLOURS, 0)
    by_level: Counter = Counter()
    by_unit: dict[str, Counter] = defaultdict(Counter)
    triage = []
    overdue = []
    for case in open_cases:
        by_colour[case["colour"]] += 1
        by_level[case["level"]] += 1
        by_unit[case["unit"]][case["colour"]] += 1
        if case.get("triage"):
            triage.append({"case_code": case["case_code"], "unit": case["unit"], "reason": case["rule"]["reason"],
                           "registered_at": case["registered_at"]})
        late = [clock for clock in case["clocks"] if clock["status"] == "running" and clock.get("deadline")
                and clock["deadline"] <= now]
        if late:
            worst = min(late, key=lambda clock: clock["deadline"])
            overdue.append({
                "case_code": case["case_code"], "colour": case["colour"], "tier": case["tier"],
                "level": case["level"], "unit": case["unit"], "clock": worst["name"],
                "deadline": worst["deadline"],
                "overdue_minutes": int((now - worst["deadline"]).total_seconds() // 60),
                "supervision": (case.get("supervision") or {}).get("unit"), "tags": case.get("tags", []),
            })
    overdue.sort(key=lambda row: row["deadline"])
    units = [{"unit": unit, "name": directory.unit_name(unit), "open": sum(colours.values()),
              "colours": {colour: colours.get(colour, 0) for colour in COLOURS}}
             for unit, colours in sorted(by_unit.items())]
    summons = [{"summons_id": s["summons_id"], "case_code": s["case_code"], "department": s["department"],
                "name": directory.unit_name(s["department"]), "report_by": s["report_by"], "on_site": s["on_site"],
                "late": s["report_by"] < now} for s in sorted(outstanding_summons, key=lambda s: s["report_by"])]
    return {
        "generated_at": now,
        "open": {"total": len(open_cases), "by_colour": by_colour, "by_level": dict(sorted(by_level.items())),
                 "by_unit": units},
        "overdue": overdue[:overdue_limit],
        "overdue_total": len(overdue),
        "triage": triage,
        "summons_outstanding": summons,
    }
