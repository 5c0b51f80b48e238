"""一案一码: intake issues case codes (the format, shared by all services, is services.common.case_codes)."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from services.common.case_codes import CATEGORY_CODES, format_code

LOCAL_ZONE = ZoneInfo("Asia/Shanghai")


def county_of(jurisdiction: str) -> str:
    return jurisdiction[:6]


def case_code(jurisdiction: str, day: date, category: str, sequence: int) -> str:
    """e.g. 140106-261123-LB-0042-7: county, date, category, the county's daily sequence, check.

    The sequence has at least four digits; a county's ten-thousandth case of a day gets five.
    """
    return format_code(f"{county_of(jurisdiction)}{day:%y%m%d}{CATEGORY_CODES[category]}{sequence:04d}")


def local_day(moment: datetime) -> date:
    """The centre's calendar day (Asia/Shanghai) of a UTC moment: codes carry the local date."""
    return moment.astimezone(LOCAL_ZONE).date()
