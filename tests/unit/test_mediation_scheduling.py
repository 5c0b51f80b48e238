"""Session times: half-open intervals at the edges, time zones, reservation slots, working hours,
and reminders."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.mediation.dependencies import load_rules
from services.mediation.domain.rules import parse_working_hours
from services.mediation.domain.scheduling import (
    SchedulingError,
    Slot,
    check_slot,
    floor_to_slot,
    next_reminder_at,
    overlaps,
    reminder_plan,
    slot_marks,
    take_due_reminder,
    within_working_hours,
)

RULES = load_rules()
SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 24, 0, 0, tzinfo=UTC)  # Tuesday 08:00 in Taiyuan


def local(day, hour, minute=0):
    return datetime(2026, 11, day, hour, minute, tzinfo=SHANGHAI)


def slot(start, end):
    return check_slot(start, end, NOW, RULES)


def test_times_with_any_offset_are_stored_in_utc():
    booked = slot(local(25, 9), local(25, 10, 30))
    assert booked.starts_at == datetime(2026, 11, 25, 1, 0, tzinfo=UTC)
    assert booked.starts_at.tzinfo == UTC and booked.minutes == 90
    same = slot(datetime(2026, 11, 25, 1, 0, tzinfo=UTC), datetime(2026, 11, 25, 2, 30, tzinfo=UTC))
    assert same == booked
    kolkata = slot(datetime(2026, 11, 25, 6, 30, tzinfo=ZoneInfo("Asia/Kolkata")),
                   datetime(2026, 11, 25, 8, 0, tzinfo=ZoneInfo("Asia/Kolkata")))
    assert kolkata == booked


@pytest.mark.parametrize("start,end,field,words", [
    (datetime(2026, 11, 25, 9), datetime(2026, 11, 25, 10), "starts_at", "UTC offset"),
    (local(25, 10), local(25, 9), "ends_at", "end after"),
    (local(25, 10), local(25, 10), "ends_at", "end after"),
    (local(25, 9, 2), local(25, 10), "starts_at", "5-minute"),
    (local(25, 9), local(25, 10, 1), "ends_at", "5-minute"),
    (local(25, 9), local(25, 9, 10), "ends_at", "at least"),
    (local(25, 8), local(25, 17), "ends_at", "at most"),
    (local(23, 9), local(23, 10), "starts_at", "past"),
    (local(24, 7, 25), local(24, 8), "starts_at", "past"),
])
def test_times_that_can_never_be_booked_name_the_field(start, end, field, words):
    with pytest.raises(SchedulingError) as info:
        slot(start, end)
    assert info.value.field == field and words in info.value.message


def test_a_session_may_be_booked_just_after_it_began_and_not_too_far_ahead():
    on_the_spot = slot(local(24, 7, 30), local(24, 9))  # 30 minutes' grace
    assert on_the_spot.starts_at < NOW
    with pytest.raises(SchedulingError, match="days ahead"):
        check_slot(NOW + timedelta(days=181), NOW + timedelta(days=181, hours=1), NOW, RULES)


def test_back_to_back_sessions_do_not_clash_and_one_minute_of_overlap_does():
    nine, ten, eleven = local(25, 9), local(25, 10), local(25, 11)
    assert not overlaps(nine, ten, ten, eleven)
    assert not overlaps(ten, eleven, nine, ten)
    assert overlaps(nine, ten + timedelta(minutes=1), ten, eleven)
    assert overlaps(nine, eleven, ten, ten + timedelta(minutes=15))  # one inside the other
    first, second = slot(nine, ten), slot(ten, eleven)
    assert not set(slot_marks(first, 5)) & set(slot_marks(second, 5))
    assert len(slot_marks(first, 5)) == 12 and slot_marks(first, 5)[-1] == ten.astimezone(UTC) - timedelta(minutes=5)


def test_the_same_moment_written_in_two_zones_reserves_the_same_slots():
    taiyuan = slot(local(25, 10), local(25, 11))
    utc = slot(datetime(2026, 11, 25, 2, 30, tzinfo=UTC), datetime(2026, 11, 25, 3, 30, tzinfo=UTC))
    shared = set(slot_marks(taiyuan, 5)) & set(slot_marks(utc, 5))
    assert min(shared) == datetime(2026, 11, 25, 2, 30, tzinfo=UTC) and len(shared) == 6


aligned = st.integers(min_value=0, max_value=200).map(lambda n: NOW + timedelta(minutes=5 * n))
lengths = st.integers(min_value=3, max_value=40).map(lambda n: timedelta(minutes=5 * n))


@given(aligned, lengths, aligned, lengths)
def test_slot_reservations_clash_exactly_when_the_intervals_overlap(start_a, length_a, start_b, length_b):
    a, b = Slot(start_a, start_a + length_a), Slot(start_b, start_b + length_b)
    share = bool(set(slot_marks(a, 5)) & set(slot_marks(b, 5)))
    assert share == overlaps(a.starts_at, a.ends_at, b.starts_at, b.ends_at)


def test_floor_to_slot_finds_the_slot_a_moment_falls_in():
    assert floor_to_slot(local(25, 9, 7), 5) == datetime(2026, 11, 25, 1, 5, tzinfo=UTC)


HOURS = parse_working_hours([
    {"days": ["mon", "tue", "wed", "thu", "fri"], "start": "08:30", "end": "12:00"},
    {"days": ["mon", "tue", "wed", "thu", "fri"], "start": "14:30", "end": "17:30"},
    {"days": ["sat"], "start": "09:00", "end": "12:00"},
    {"days": ["sat"], "start": "12:00", "end": "15:00"},
])


@pytest.mark.parametrize("start,end,inside", [
    (local(25, 9), local(25, 11), True),
    (local(25, 8, 30), local(25, 12), True),          # exactly the window
    (local(25, 8), local(25, 9), False),              # before opening
    (local(25, 11), local(25, 15), False),            # across lunch
    (local(28, 10), local(28, 14), True),             # Saturday's windows touch: one stretch
    (local(29, 10), local(29, 11), False),            # Sunday
    (local(25, 17), local(25, 18), False),
])
def test_a_session_must_lie_inside_one_stretch_of_working_hours(start, end, inside):
    assert within_working_hours(Slot(start.astimezone(UTC), end.astimezone(UTC)), HOURS, SHANGHAI) is inside


def test_working_hours_are_local_time_whatever_zone_the_session_was_given_in():
    # 01:00 UTC is 09:00 in Taiyuan (inside); 09:00 UTC is 17:00 there (inside); 10:00 UTC is 18:00 (outside)
    assert within_working_hours(Slot(datetime(2026, 11, 25, 1, tzinfo=UTC), datetime(2026, 11, 25, 2, tzinfo=UTC)),
                                HOURS, SHANGHAI)
    assert within_working_hours(Slot(datetime(2026, 11, 25, 9, tzinfo=UTC),
                                     datetime(2026, 11, 25, 9, 30, tzinfo=UTC)), HOURS, SHANGHAI)
    assert not within_working_hours(Slot(datetime(2026, 11, 25, 10, tzinfo=UTC),
                                         datetime(2026, 11, 25, 11, tzinfo=UTC)), HOURS, SHANGHAI)


def test_reminders_a_day_and_two_hours_before_only_while_still_ahead():
    starts = local(27, 9).astimezone(UTC)
    plan = reminder_plan(starts, NOW, RULES.reminders)
    assert [(item["name"], item["due_at"]) for item in plan] == [
        ("day_before", starts - timedelta(days=1)), ("two_hours_before", starts - timedelta(hours=2))]
    assert next_reminder_at(plan) == starts - timedelta(days=1)
    soon = local(24, 11).astimezone(UTC)  # booked three hours ahead: the day-before one is past
    assert [item["name"] for item in reminder_plan(soon, NOW, RULES.reminders)] == ["two_hours_before"]
    assert reminder_plan(local(24, 9).astimezone(UTC), NOW, RULES.reminders) == []


def test_a_due_reminder_is_sent_once_and_a_late_sweeper_sends_only_the_latest():
    starts = local(27, 9).astimezone(UTC)
    plan = reminder_plan(starts, NOW, RULES.reminders)
    assert take_due_reminder(plan, NOW, starts) == (None, plan)

    sent, plan_after = take_due_reminder(plan, starts - timedelta(hours=20), starts)
    assert sent == "day_before"
    assert next_reminder_at(plan_after) == starts - timedelta(hours=2)
    assert take_due_reminder(plan_after, starts - timedelta(hours=19), starts)[0] is None

    sent, late = take_due_reminder(plan, starts - timedelta(hours=1), starts)
    assert sent == "two_hours_before"
    assert [(item["name"], item["skipped"]) for item in late] == [("day_before", True), ("two_hours_before", False)]
    assert next_reminder_at(late) is None

    sent, after_start = take_due_reminder(plan, starts + timedelta(minutes=5), starts)
    assert sent is None and next_reminder_at(after_start) is None
