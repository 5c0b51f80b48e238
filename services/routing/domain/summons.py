"""中心吹哨、部门报到: who is summoned, by when, and whether they reported in time. Pure."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from services.routing.domain.calendar import WorkingCalendar
from services.routing.domain.reference import Unit


def on_site_today(department: Unit, now: datetime, calendar: WorkingCalendar) -> bool:
    """常驻 departments are at the centre on working days; 轮驻 ones on their weekdays; 随驻 only when called."""
    day = calendar.local_day(now)
    if not calendar.is_workday(day):
        return False
    stationing = department.stationing or {}
    if stationing.get("mode") == "permanent":
        return True
    return stationing.get("mode") == "rotating" and day.isoweekday() in stationing.get("weekdays", ())


def summon(departments: list[Unit], now: datetime, calendar: WorkingCalendar, on_site_minutes: int) -> list[dict]:
    summons = []
    for department in departments:
        present = on_site_today(department, now, calendar)
        minutes = on_site_minutes if present else department.distance_minutes or on_site_minutes
        summons.append({
            "summons_id": uuid.uuid4().hex,
            "department": department.unit_id,
            "report_by": now + timedelta(minutes=minutes),
            "on_site": present,
            "window_minutes": minutes,
            "summoned_at": now,
            "acknowledged_at": None,
            "on_time": None,
            "status": "outstanding",
        })
    return summons


def acknowledge(summons: dict, at: datetime) -> dict:
    """The department reported; on time when it arrived by the report-by time."""
    if summons["status"] != "outstanding":
        raise ValueError(f"summons {summons['summons_id']} is {summons['status']}")
    return {**summons, "acknowledged_at": at, "on_time": at <= summons["report_by"], "status": "acknowledged"}
