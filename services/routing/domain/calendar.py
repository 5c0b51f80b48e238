"""Calendars for clocks: natural time, and Chinese working days (public holidays off, make-up
working days on) as published by the State Council and packaged by chinesecalendar."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import chinese_calendar

DAY_SECONDS = 86400.0
MAX_DAYS = 3660  # a clock longer than ten years is a data error, not a deadline


class NaturalCalendar:
    name = "natural"

    def add(self, start: datetime, seconds: float) -> datetime:
        return start + timedelta(seconds=seconds)

    def span(self, start: datetime, end: datetime) -> float:
        return max(0.0, (end - start).total_seconds())


class WorkingCalendar:
    """Working time accrues only on working days (whole local days).

    One working day from Friday 15:00 is Monday 15:00; from the eve of National Day it runs on
    after the holiday, and a make-up Saturday counts.
    """

    name = "working"

    def __init__(self, timezone: str = "Asia/Shanghai", extra_holidays: Iterable[date] = (),
                 extra_workdays: Iterable[date] = ()):
        self.tz = ZoneInfo(timezone)
        self.extra_holidays = frozenset(extra_holidays)
        self.extra_workdays = frozenset(extra_workdays)

    def is_workday(self, day: date) -> bool:
        if day in self.extra_workdays:
            return True
        if day in self.extra_holidays:
            return False
        try:
            return chinese_calendar.is_workday(day)
        except NotImplementedError:
            # A year the package does not know yet: weekdays work until the data file lists the arrangement.
            return day.weekday() < 5

    def local_day(self, moment: datetime) -> date:
        return moment.astimezone(self.tz).date()

    def _day_end(self, day: date) -> datetime:
        return datetime.combine(day + timedelta(days=1), time(0), tzinfo=self.tz).astimezone(UTC)

    def add(self, start: datetime, seconds: float) -> datetime:
        if seconds <= 0:
            return start
        cursor = start.astimezone(UTC)
        remaining = seconds
        for _ in range(MAX_DAYS):
            day = self.local_day(cursor)
            day_end = self._day_end(day)
            if self.is_workday(day):
                available = (day_end - cursor).total_seconds()
                if remaining <= available:
                    return cursor + timedelta(seconds=remaining)
                remaining -= available
            cursor = day_end
        raise ValueError(f"a span of {seconds} working seconds does not end within {MAX_DAYS} days")

    def span(self, start: datetime, end: datetime) -> float:
        if end <= start:
            return 0.0
        cursor = start.astimezone(UTC)
        end = end.astimezone(UTC)
        total = 0.0
        for _ in range(MAX_DAYS + 1):
            if cursor >= end:
                return total
            day = self.local_day(cursor)
            segment_end = min(self._day_end(day), end)
            if self.is_workday(day):
                total += (segment_end - cursor).total_seconds()
            cursor = segment_end
        raise ValueError(f"a span from {start} to {end} is longer than {MAX_DAYS} days")


class Calendars:
    def __init__(self, working: WorkingCalendar):
        self.working = working
        self.natural = NaturalCalendar()

    def get(self, name: str) -> NaturalCalendar | WorkingCalendar:
        return self.working if name == "working" else self.natural
