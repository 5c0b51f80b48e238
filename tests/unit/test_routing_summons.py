"""中心吹哨、部门报到: report-by times from stationing and distance; on time or late."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.routing.dependencies import DEFAULT_DIRECTORY, DEFAULT_RULES, load_reference
from services.routing.domain.reference import Unit
from services.routing.domain.summons import acknowledge, on_site_today, summon

REF = load_reference(DEFAULT_DIRECTORY, DEFAULT_RULES)
CAL = REF.rules.calendars.working
CST = ZoneInfo("Asia/Shanghai")


def department(mode: str, weekdays=(), distance=35) -> Unit:
    stationing = {"mode": mode, **({"weekdays": list(weekdays)} if weekdays else {})}
    return Unit(unit_id="140106:test", name="测试局", kind="department", level="county", jurisdiction="140106",
                contacts={}, stationing=stationing, distance_minutes=distance)


MONDAY = datetime(2026, 11, 23, 9, 0, tzinfo=CST)
TUESDAY = MONDAY + timedelta(days=1)
NATIONAL_DAY = datetime(2026, 10, 5, 9, 0, tzinfo=CST)  # a Monday inside the holiday


@pytest.mark.parametrize("unit,when,expected", [
    (department("permanent"), MONDAY, True),
    (department("permanent"), NATIONAL_DAY, False),
    (department("rotating", [1, 3]), MONDAY, True),
    (department("rotating", [1, 3]), TUESDAY, False),
    (department("on_call"), MONDAY, False),
    (department("permanent"), datetime(2026, 10, 10, 9, 0, tzinfo=CST), True),  # the make-up Saturday
])
def test_who_is_on_site_today(unit, when, expected):
    assert on_site_today(unit, when, CAL) is expected


def test_report_by_comes_from_presence_or_the_distance_band():
    present, away = department("permanent"), department("rotating", [3], distance=27)
    first, second = summon([present, away], MONDAY, CAL, on_site_minutes=10)
    assert first["on_site"] and first["report_by"] == MONDAY + timedelta(minutes=10)
    assert not second["on_site"] and second["report_by"] == MONDAY + timedelta(minutes=27)
    assert first["summons_id"] != second["summons_id"] and first["status"] == "outstanding"


def test_acknowledged_on_time_or_late_and_only_once():
    (item,) = summon([department("on_call", distance=30)], MONDAY, CAL, on_site_minutes=10)
    on_time = acknowledge(item, MONDAY + timedelta(minutes=30))
    assert on_time["on_time"] is True and on_time["status"] == "acknowledged"
    assert acknowledge(item, MONDAY + timedelta(minutes=31))["on_time"] is False
    with pytest.raises(ValueError):
        acknowledge(on_time, MONDAY + timedelta(minutes=40))
