"""Session times: validation, half-open intervals, reservation slots, working hours, reminders.

Intervals are half open, [starts_at, ends_at): a session ending at 10:00 and one starting at
10:00 do not clash. Times arrive with any UTC offset and are compared and stored in UTC.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from services.mediation.domain.rules import ReminderRule, Rules, WorkingWindow


class SchedulingError(ValueError):
    """A requested time that can never be booked, whatever the calendar holds."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Slot:
    """A checked session time, in UTC."""

    starts_at: datetime
    ends_at: datetime

    @property
    def minutes(self) -> int:
        return int((self.ends_at - self.starts_at).total_seconds() // 60)


def to_utc(moment: datetime, field: str = "starts_at") -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise SchedulingError(field, "a time must carry its UTC offset, e.g. 2026-11-24T10:00:00+08:00")
    return moment.astimezone(UTC)


def overlaps(a_start: datetime, a_end: datetime, b_start: datetime, b_end: datetime) -> bool:
    return a_start < b_end and b_start < a_end


def check_slot(starts_at: datetime, ends_at: datetime, now: datetime, rules: Rules) -> Slot:
    """The session time as UTC, or SchedulingError naming the field at fault."""
    start, end = to_utc(starts_at, "starts_at"), to_utc(ends_at, "ends_at")
    if end <= start:
        raise SchedulingError("ends_at", "the session must end after it starts")
    step = rules.slot_minutes
    for field, moment in (("starts_at", start), ("ends_at", end)):
        if moment.second or moment.microsecond or moment.minute % step:
            raise SchedulingError(field, f"sessions start and end on {step}-minute marks (e.g. 09:00, 09:{step:02d})")
    minutes = (end - start).total_seconds() / 60
    if minutes < rules.min_session_minutes:
        raise SchedulingError("ends_at", f"a session lasts at least {rules.min_session_minutes} minutes")
    if minutes > rules.max_session_minutes:
        raise SchedulingError("ends_at", f"a session lasts at most {rules.max_session_minutes} minutes")
    if start < now - timedelta(minutes=rules.booking_grace_minutes):
        raise SchedulingError("starts_at", "the session would start in the past")
    if start > now + timedelta(days=rules.max_days_ahead):
        raise SchedulingError("starts_at", f"sessions are booked at most {rules.max_days_ahead} days ahead")
    return Slot(start, end)


def floor_to_slot(moment: datetime, step_minutes: int) -> datetime:
    """The start of the reservation slot a moment falls in (for asking what is free then)."""
    moment = moment.astimezone(UTC)
    return moment.replace(minute=moment.minute - moment.minute % step_minutes, second=0, microsecond=0)


def slot_marks(slot: Slot, step_minutes: int) -> list[datetime]:
    """The start of every reservation slot the session covers (half open: not its end)."""
    step = timedelta(minutes=step_minutes)
    marks, moment = [], slot.starts_at
    while moment < slot.ends_at:
        marks.append(moment)
        moment += step
    return marks


def _merged_windows(windows: Iterable[WorkingWindow], weekday: int) -> list[tuple]:
    spans = sorted((w.start, w.end) for w in windows if weekday in w.days)
    merged: list[list] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [tuple(span) for span in merged]


def within_working_hours(slot: Slot, windows: Iterable[WorkingWindow], zone: ZoneInfo) -> bool:
    """True when the whole session lies inside one stretch of the mediator's working hours."""
    local_start, local_end = slot.starts_at.astimezone(zone), slot.ends_at.astimezone(zone)
    if local_end.date() != local_start.date():
        return False
    return any(
        start <= local_start.time() and local_end.time() <= end
        for start, end in _merged_windows(windows, local_start.isoweekday())
    )


def describe_hours(windows: Iterable[WorkingWindow]) -> str:
    names = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    parts = []
    for window in windows:
        days = ",".join(names[day - 1] for day in sorted(window.days))
        parts.append(f"{days} {window.start:%H:%M}-{window.end:%H:%M}")
    return "; ".join(parts) or "no working hours"


def reminder_plan(starts_at: datetime, now: datetime, reminders: Iterable[ReminderRule]) -> list[dict]:
    """The reminders still ahead of a session booked now (one already past is not planned)."""
    plan = []
    for rule in reminders:
        due = starts_at - timedelta(minutes=rule.before_minutes)
        if due > now:
            plan.append({"name": rule.name, "due_at": due, "sent_at": None, "skipped": False})
    return sorted(plan, key=lambda item: item["due_at"])


def next_reminder_at(plan: list[dict]) -> datetime | None:
    pending = [item["due_at"] for item in plan if item["sent_at"] is None]
    return min(pending) if pending else None


def take_due_reminder(plan: list[dict], now: datetime, starts_at: datetime) -> tuple[str | None, list[dict]]:
    """Which reminder to send now, and the plan with every due one marked.

    When the sweeper was away and several are due at once, only the latest is sent (the
    others would only repeat it); none is sent once the session has begun.
    """
    due = [item for item in plan if item["sent_at"] is None and item["due_at"] <= now]
    if not due:
        return None, plan
    latest = max(due, key=lambda item: item["due_at"])
    send = latest["name"] if now < starts_at else None
    updated = []
    for item in plan:
        if any(item is candidate for candidate in due):
            sent = send is not None and item is latest
            item = {**item, "sent_at": now, "skipped": not sent}
        updated.append(item)
    return send, updated
