"""Working-day clocks on the Chinese calendar: public holidays off, make-up working days on."""

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.routing.domain.calendar import DAY_SECONDS, NaturalCalendar, WorkingCalendar

CST = ZoneInfo("Asia/Shanghai")
calendar = WorkingCalendar()


def local(*args) -> datetime:
    return datetime(*args, tzinfo=CST)


def working_days(start: datetime, days: float) -> datetime:
    return calendar.add(start, days * DAY_SECONDS).astimezone(CST)


def test_the_calendar_knows_national_day_and_its_make_up_days():
    assert not calendar.is_workday(date(2026, 10, 1))
    assert not calendar.is_workday(date(2026, 10, 7))
    assert calendar.is_workday(date(2026, 10, 10))  # Saturday, made up for the holiday
    assert calendar.is_workday(date(2026, 9, 20))  # Sunday, made up for the holiday
    assert not calendar.is_workday(date(2026, 10, 11))  # an ordinary Sunday


def test_one_working_day_from_friday_afternoon_is_monday_afternoon():
    assert working_days(local(2026, 11, 20, 15, 0), 1) == local(2026, 11, 23, 15, 0)


def test_13710_across_the_national_day_holiday_and_a_make_up_saturday():
    registered = local(2026, 9, 30, 10, 0)  # Wednesday, the eve of the holiday
    assert working_days(registered, 1) == local(2026, 10, 8, 10, 0)  # 1-7 October off
    assert working_days(registered, 3) == local(2026, 10, 10, 10, 0)  # Saturday 10 October is worked
    assert working_days(registered, 7) == local(2026, 10, 15, 10, 0)  # Sunday 11 October is not
    assert working_days(registered, 10) == local(2026, 10, 20, 10, 0)


def test_a_clock_started_on_a_holiday_begins_on_the_next_working_day():
    assert working_days(local(2026, 10, 3, 9, 30), 1) == local(2026, 10, 9, 0, 0)


def test_a_clock_started_on_a_make_up_sunday_counts_that_sunday():
    assert working_days(local(2026, 9, 19, 12, 0), 1) == local(2026, 9, 21, 0, 0)


def test_the_2025_arrangement_has_its_own_make_up_days():
    # 2025: 1-8 October off; Sunday 28 September and Saturday 11 October worked
    assert working_days(local(2025, 9, 27, 12, 0), 1) == local(2025, 9, 29, 0, 0)
    assert working_days(local(2025, 9, 30, 12, 0), 2) == local(2025, 10, 10, 12, 0)
    assert working_days(local(2025, 10, 10, 12, 0), 1) == local(2025, 10, 11, 12, 0)


def test_span_counts_only_working_time():
    assert calendar.span(local(2026, 9, 30, 10, 0), local(2026, 10, 8, 10, 0)) == DAY_SECONDS
    assert calendar.span(local(2026, 10, 2), local(2026, 10, 5)) == 0
    assert calendar.span(local(2026, 10, 8), local(2026, 10, 2)) == 0


def test_the_rules_file_overrides_and_extends_the_calendar():
    custom = WorkingCalendar(extra_holidays=[date(2026, 11, 23)], extra_workdays=[date(2026, 11, 22)])
    assert not custom.is_workday(date(2026, 11, 23))
    assert custom.is_workday(date(2026, 11, 22))
    assert custom.add(local(2026, 11, 21, 12, 0), 1.5 * DAY_SECONDS).astimezone(CST) == local(2026, 11, 24, 12, 0)


def test_a_year_the_package_does_not_know_falls_back_to_weekdays():
    with pytest.raises(NotImplementedError):
        import chinese_calendar
        chinese_calendar.is_workday(date(2099, 1, 5))
    assert calendar.is_workday(date(2099, 1, 5))  # a Monday
    assert not calendar.is_workday(date(2099, 1, 4))  # a Sunday


def test_natural_calendar_is_plain_time():
    natural = NaturalCalendar()
    start = local(2026, 10, 1, 8, 0)
    assert natural.add(start, 1800) == start + timedelta(minutes=30)
    assert natural.span(start, start + timedelta(days=30)) == 30 * DAY_SECONDS


moments = st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2026, 12, 1), timezones=st.just(CST))


@settings(max_examples=60, deadline=None)
@given(start=moments, seconds=st.floats(min_value=0, max_value=15 * DAY_SECONDS, allow_nan=False))
def test_span_undoes_add(start, seconds):
    end = calendar.add(start, seconds)
    assert end >= start
    assert calendar.span(start, end) == pytest.approx(seconds, abs=1e-3)
