"""Risk follow-up planning on Chinese working days, and when a case turns green."""

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from services.mediation.dependencies import load_rules
from services.mediation.domain.followup import (
    FollowupClosed,
    add_working_days,
    is_working_day,
    plan_for,
    record_visit,
    visits_ahead,
)

RULES = load_rules()
SHANGHAI = ZoneInfo("Asia/Shanghai")


def test_working_days_follow_the_holiday_calendar():
    assert not is_working_day(date(2026, 10, 1))    # National Day
    assert not is_working_day(date(2026, 10, 7))
    assert is_working_day(date(2026, 10, 10))       # Saturday made a working day
    assert not is_working_day(date(2026, 11, 28))   # an ordinary Saturday
    # beyond the package's table: weekdays less the holidays fixed by date
    assert is_working_day(date(2027, 3, 3)) and not is_working_day(date(2027, 3, 6))
    assert not is_working_day(date(2027, 1, 1)) and not is_working_day(date(2027, 10, 1))  # both Fridays


def test_ten_working_days_skip_weekends_and_the_national_day_holiday():
    assert add_working_days(date(2026, 11, 24), 10) == date(2026, 12, 8)
    # from Monday 28 September: 29, 30 Sep, then the holiday to 7 October, then 8, 9, 10 (Sat, worked) ...
    assert add_working_days(date(2026, 9, 28), 10) == date(2026, 10, 16)
    assert add_working_days(date(2026, 12, 31), 1) == date(2027, 1, 4)


@pytest.mark.parametrize("category,visits", [("family", 2), ("domestic_violence", 3), ("neighbour", 2)])
def test_risky_categories_get_a_plan_with_the_first_visit_within_ten_working_days(category, visits):
    concluded = datetime(2026, 11, 24, 16, 0, tzinfo=UTC)  # already 25 November in Taiyuan
    plan = plan_for(category, concluded, RULES)
    assert plan.planned_visits == visits and plan.reason
    assert plan.first_visit_due == datetime(2026, 12, 9, 23, 59, 59, tzinfo=SHANGHAI).astimezone(UTC)


def test_other_categories_need_no_follow_up():
    assert plan_for("labour", datetime(2026, 11, 24, tzinfo=UTC), RULES) is None


def visit(states, state, planned=2, green=False, when=datetime(2026, 12, 1, 2, tzinfo=UTC)):
    return record_visit(previous_states=states, planned_visits=planned, interval_working_days=20,
                        green_already=green, state=state, visited_at=when, rules=RULES)


def test_a_case_turns_green_when_the_planned_visits_in_a_row_find_it_stable():
    first = visit([], "stable")
    assert (first.visit_number, first.green, first.stable_streak) == (1, False, 1)
    assert first.next_visit_due == datetime(2026, 12, 29, 23, 59, 59, tzinfo=SHANGHAI).astimezone(UTC)
    second = visit(["stable"], "stable")
    assert second.green and second.next_visit_due is None and second.visit_number == 2


def test_a_tense_visit_pushes_green_further_and_brings_the_next_visit_forward():
    tense = visit(["stable"], "tense")
    assert not tense.green and tense.stable_streak == 0
    assert tense.next_visit_due == datetime(2026, 12, 4, 23, 59, 59, tzinfo=SHANGHAI).astimezone(UTC)
    assert not visit(["stable", "tense"], "stable").green
    assert visit(["stable", "tense", "stable"], "stable").green
    assert not visit(["improving"], "stable", planned=2).green
    assert visit(["stable", "stable"], "stable", planned=3).green


def test_no_visit_after_green():
    with pytest.raises(FollowupClosed):
        visit(["stable", "stable"], "stable", green=True)


def end_of(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 23, 59, 59, tzinfo=SHANGHAI).astimezone(UTC)


def ahead(made=0, streak=0, planned=2, next_due=end_of(date(2026, 12, 9))):
    return [(visit.visit_number, visit.due) for visit in visits_ahead(
        visits_made=made, stable_streak=streak, planned_visits=planned, next_visit_due=next_due,
        interval_working_days=20, rules=RULES)]


def test_the_planned_visits_are_laid_out_from_the_next_one_on_working_days():
    # the first within 10 working days (9 December), the second 20 working days later: over
    # Christmas week and 元旦 2027 (1 January, a Friday) to Thursday 7 January
    assert ahead() == [(1, end_of(date(2026, 12, 9))), (2, end_of(date(2027, 1, 7)))]
    assert [number for number, _ in ahead(planned=3)] == [1, 2, 3]
    # one stable visit made of two: one more, the next
    assert ahead(made=1, streak=1, next_due=end_of(date(2027, 1, 7))) == [(2, end_of(date(2027, 1, 7)))]
    # a tense visit restarted the count: two more stable visits are planned, from the brought-forward one
    assert ahead(made=2, streak=0, next_due=end_of(date(2026, 12, 2))) == [
        (3, end_of(date(2026, 12, 2))), (4, end_of(date(2026, 12, 30)))]
    assert ahead(made=2, streak=2, next_due=None) == []  # green
