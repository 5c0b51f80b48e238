"""SLA clocks: start, pause, resume, stop, and the colour warnings each one falls due for.

A clock is a plain dict (it is stored as is inside the routing case):

    id, name, label, calendar, status (running | paused | met | stopped),
    started_at, total (seconds of the clock's own calendar), elapsed (accrued before the
    running segment), segment_start, deadline, due {colour: time} (not raised yet),
    raised {colour: {"due", "at"}}, ended_at, end_reason, on_time, paused_at, pause_reason, pauses[]

Working-day clocks measure working time, so a pause over a weekend costs nothing and a resumed
clock gets back exactly the working time it had left.
"""

from __future__ import annotations

from datetime import datetime

from services.routing.domain.calendar import Calendars
from services.routing.domain.rules import COLOUR_RANK, WARNING_COLOURS, ClockSpec

ACTIVE = ("running", "paused")


def start(spec: ClockSpec, at: datetime, calendars: Calendars, *, clock_id: str | None = None,
          deadline: datetime | None = None) -> dict:
    """A running clock from `at`; `deadline` overrides the spec's duration (a court's own deadline)."""
    calendar = calendars.get(spec.calendar)
    total = calendar.span(at, deadline) if deadline is not None else spec.seconds
    clock = {
        "id": clock_id or spec.name, "name": spec.name, "label": spec.label, "calendar": spec.calendar,
        "status": "running", "started_at": at, "total": total, "elapsed": 0.0, "segment_start": at,
        "deadline": None, "due": {}, "raised": {}, "ended_at": None, "end_reason": None, "on_time": None,
        "paused_at": None, "pause_reason": None, "pauses": [],
    }
    _schedule(clock, spec.colours, calendars)
    return clock


def _schedule(clock: dict, colours: dict[str, float], calendars: Calendars) -> None:
    calendar = calendars.get(clock["calendar"])
    base, elapsed, total = clock["segment_start"], clock["elapsed"], clock["total"]
    clock["deadline"] = calendar.add(base, max(0.0, total - elapsed))
    clock["due"] = {
        colour: calendar.add(base, max(0.0, fraction * total - elapsed))
        for colour, fraction in colours.items() if colour not in clock["raised"]
    }


def pause(clock: dict, at: datetime, reason: str, calendars: Calendars) -> bool:
    if clock["status"] != "running":
        return False
    calendar = calendars.get(clock["calendar"])
    clock["elapsed"] += calendar.span(clock["segment_start"], at)
    clock.update(status="paused", segment_start=None, due={}, deadline=None, paused_at=at, pause_reason=reason)
    return True


def resume(clock: dict, at: datetime, colours: dict[str, float], calendars: Calendars) -> bool:
    if clock["status"] != "paused":
        return False
    clock["pauses"].append({"from": clock["paused_at"], "to": at, "reason": clock["pause_reason"]})
    clock.update(status="running", segment_start=at, paused_at=None, pause_reason=None)
    _schedule(clock, colours, calendars)
    return True


def move_deadline(clock: dict, deadline: datetime, previous: datetime, colours: dict[str, float],
                  calendars: Calendars) -> None:
    """A new deadline (a court's extension from `previous`): a running clock ends on it; a paused one gets
    the extra time for when it resumes. Warnings already raised stand; the others fall due anew."""
    calendar = calendars.get(clock["calendar"])
    if clock["status"] == "running":
        clock["total"] = clock["elapsed"] + calendar.span(clock["segment_start"], deadline)
        _schedule(clock, colours, calendars)
    elif clock["status"] == "paused":
        clock["total"] += calendar.span(previous, deadline) - calendar.span(deadline, previous)


def stop(clock: dict, at: datetime, reason: str, *, met: bool, calendars: Calendars) -> bool:
    """Met (its condition was fulfilled) or stopped (the case left the clock's reach)."""
    if clock["status"] not in ACTIVE:
        return False
    if clock["status"] == "running":
        used = clock["elapsed"] + calendars.get(clock["calendar"]).span(clock["segment_start"], at)
    else:
        used = clock["elapsed"]
    clock.update(status="met" if met else "stopped", ended_at=at, end_reason=reason,
                 on_time=used <= clock["total"], due={}, segment_start=None, elapsed=used)
    return True


def due_warnings(clock: dict, now: datetime) -> list[tuple[str, datetime]]:
    """Colours whose time has come and that were not raised yet, earliest first."""
    if clock["status"] != "running":
        return []
    due = [(colour, at) for colour, at in clock["due"].items() if at <= now]
    return sorted(due, key=lambda item: (item[1], COLOUR_RANK[item[0]]))


def raise_warning(clock: dict, colour: str, due_at: datetime, now: datetime) -> None:
    clock["raised"][colour] = {"due": due_at, "at": now}
    clock["due"].pop(colour, None)


def colour(clock: dict) -> str:
    """The highest colour raised on a clock that still runs (a met clock no longer colours the case)."""
    if clock["status"] not in ACTIVE:
        return "none"
    raised = [c for c in WARNING_COLOURS if c in clock["raised"]]
    return max(raised, key=COLOUR_RANK.__getitem__) if raised else "none"


def next_due(clock: dict) -> datetime | None:
    if clock["status"] != "running" or not clock["due"]:
        return None
    return min(clock["due"].values())
