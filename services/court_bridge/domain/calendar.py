"""Deadlines counted in calendar days, falling at the end of a local (Asia/Shanghai) day.

A court counts "30 days from referral" by dates, not by hours: a case referred at 23:50 on
1 November has until the end of 1 December (Asia/Shanghai), whatever the time of day.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

LOCAL = ZoneInfo("Asia/Shanghai")


def local_date(moment: datetime) -> date:
    return moment.astimezone(LOCAL).date()


def end_of_local_day(day: date) -> datetime:
    """The first instant after `day` in Asia/Shanghai, in UTC."""
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=LOCAL).astimezone(UTC)


def days_after(start: datetime, days: int) -> datetime:
    """The end of the local day `days` days after the local date of `start`."""
    return end_of_local_day(local_date(start) + timedelta(days=days))
