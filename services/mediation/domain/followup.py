"""风险人员管理: the follow-up plan of a risky case and the visits that close it.

Working days follow the Chinese public-holiday calendar (holidays off, make-up Saturdays on).
Beyond the years the `chinesecalendar` package knows, weekdays are used less the holidays
fixed by solar date (the lunar ones and make-up days are unknowable until the State Council
publishes them; a package update brings them).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import chinese_calendar

from services.mediation.domain.rules import Rules

VISIT_STATES = ("stable", "improving", "tense", "escalating")
URGENT_STATES = ("tense", "escalating")
# 元旦, 劳动节, 国庆节 (国务院《全国年节及纪念日放假办法》, 2025 revision)
FIXED_HOLIDAYS = frozenset({(1, 1), (5, 1), (5, 2), (10, 1), (10, 2), (10, 3)})


class FollowupClosed(ValueError):
    """A visit recorded on a follow-up that has already turned green."""


def is_working_day(day: date) -> bool:
    try:
        return chinese_calendar.is_workday(day)
    except NotImplementedError:  # a year the package has no holiday table for
        return day.weekday() < 5 and (day.month, day.day) not in FIXED_HOLIDAYS


def add_working_days(day: date, count: int) -> date:
    """The `count`-th working day after `day` (which itself is not counted)."""
    current, left = day, count
    while left > 0:
        current += timedelta(days=1)
        if is_working_day(current):
            left -= 1
    return current


def end_of_local_day(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(23, 59, 59), zone).astimezone(UTC)


@dataclass(frozen=True)
class Plan:
    reason: str
    planned_visits: int
    interval_working_days: int
    first_visit_due: datetime


def plan_for(category: str, concluded_at: datetime, rules: Rules) -> Plan | None:
    """The follow-up a case of this category needs, whatever its outcome; None if it needs none."""
    plan = rules.followup_plans.get(category)
    if plan is None:
        return None
    local_day = concluded_at.astimezone(rules.timezone).date()
    due_day = add_working_days(local_day, rules.first_visit_working_days)
    return Plan(plan.reason, plan.visits, plan.interval_working_days, end_of_local_day(due_day, rules.timezone))


@dataclass(frozen=True)
class VisitResult:
    visit_number: int
    green: bool
    stable_streak: int
    next_visit_due: datetime | None


def record_visit(
    *,
    previous_states: list[str],
    planned_visits: int,
    interval_working_days: int,
    green_already: bool,
    state: str,
    visited_at: datetime,
    rules: Rules,
) -> VisitResult:
    """The case turns green once the last `planned_visits` visits in a row found it stable;
    a visit that does not find it stable pushes that further, and a tense or escalating one
    brings the next visit forward."""
    if green_already:
        raise FollowupClosed("this follow-up is green (closed); no more visits are planned")
    if state not in VISIT_STATES:
        raise ValueError(f"unknown visit state {state!r}")
    states = [*previous_states, state]
    streak = 0
    for earlier in reversed(states):
        if earlier != "stable":
            break
        streak += 1
    green = streak >= planned_visits
    next_due = None
    if not green:
        gap = rules.urgent_interval_working_days if state in URGENT_STATES else interval_working_days
        local_day = visited_at.astimezone(rules.timezone).date()
        next_due = end_of_local_day(add_working_days(local_day, gap), rules.timezone)
    return VisitResult(len(states), green, streak, next_due)


@dataclass(frozen=True)
class PlannedVisit:
    visit_number: int
    due: datetime


def visits_ahead(*, visits_made: int, stable_streak: int, planned_visits: int, next_visit_due: datetime | None,
                 interval_working_days: int, rules: Rules) -> list[PlannedVisit]:
    """The visits still planned before the case can turn green, with the day each is due: the
    next one when it is due now, each later one the plan's interval after the one before — as
    long as every visit is made when due and finds the case stable (one that does not adds
    visits and moves the dates, and the plan is worked out again from it)."""
    if next_visit_due is None:  # green: nothing more is planned
        return []
    ahead, due = [], next_visit_due
    for number in range(visits_made + 1, visits_made + 1 + max(planned_visits - stable_streak, 1)):
        if ahead:
            due = end_of_local_day(add_working_days(due.astimezone(rules.timezone).date(), interval_working_days),
                                   rules.timezone)
        ahead.append(PlannedVisit(number, due))
    return ahead
