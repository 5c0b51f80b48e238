"""SLA clocks: deadlines, colour thresholds, pauses, stops."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from services.routing.dependencies import DEFAULT_DIRECTORY, DEFAULT_RULES, load_reference
from services.routing.domain import clocks

REF = load_reference(DEFAULT_DIRECTORY, DEFAULT_RULES)
SPECS = REF.rules.clocks
CAL = REF.rules.calendars
CST = ZoneInfo("Asia/Shanghai")


def local(*args) -> datetime:
    return datetime(*args, tzinfo=CST)


def test_the_clocks_of_the_rules_file():
    assert SPECS["first_contact"].seconds == 30 * 60 and SPECS["first_contact"].calendar == "natural"
    assert SPECS["classification"].seconds == 24 * 3600
    assert [SPECS[name].seconds / 86400 for name in ("sign", "first_feedback", "resolve", "followup")] == [1, 3, 7, 10]
    assert all(SPECS[name].calendar == "working" for name in ("sign", "first_feedback", "resolve", "followup"))
    assert SPECS["presuit"].seconds == 30 * 86400 and SPECS["presuit"].starts == "referral"


def test_first_contact_turns_blue_at_24_minutes_yellow_at_30_red_at_60():
    start = local(2026, 11, 23, 10, 0)
    clock = clocks.start(SPECS["first_contact"], start, CAL)
    assert clock["deadline"] == start + timedelta(minutes=30)
    assert clock["due"] == {"blue": start + timedelta(minutes=24), "yellow": start + timedelta(minutes=30),
                            "red": start + timedelta(minutes=60)}
    assert clocks.due_warnings(clock, start + timedelta(minutes=23)) == []
    assert [c for c, _ in clocks.due_warnings(clock, start + timedelta(minutes=61))] == ["blue", "yellow", "red"]


def test_working_day_thresholds_skip_the_weekend():
    clock = clocks.start(SPECS["sign"], local(2026, 11, 20, 16, 0), CAL)  # Friday 16:00
    assert clock["deadline"].astimezone(CST) == local(2026, 11, 23, 16, 0)
    assert clock["due"]["blue"].astimezone(CST) == local(2026, 11, 23, 11, 12)  # 80 % of 24 working hours
    assert clock["due"]["red"].astimezone(CST) == local(2026, 11, 24, 4, 0)  # 150 %


def test_a_pause_over_the_weekend_costs_nothing_and_resume_gives_back_the_rest():
    spec = SPECS["first_feedback"]
    clock = clocks.start(spec, local(2026, 11, 19, 12, 0), CAL)  # Thursday noon, 3 working days
    assert clock["deadline"].astimezone(CST) == local(2026, 11, 24, 12, 0)
    assert clocks.pause(clock, local(2026, 11, 20, 12, 0), "等待鉴定结论", CAL)
    assert clock["status"] == "paused" and clock["due"] == {} and clock["deadline"] is None
    assert clocks.due_warnings(clock, local(2026, 12, 30)) == []
    assert clocks.resume(clock, local(2026, 11, 25, 9, 0), spec.colours, CAL)  # the next Wednesday
    # one working day used before the pause; two left from Wednesday 09:00
    assert clock["deadline"].astimezone(CST) == local(2026, 11, 27, 9, 0)
    assert clock["pauses"][0]["reason"] == "等待鉴定结论"
    assert not clocks.resume(clock, local(2026, 11, 25, 10, 0), spec.colours, CAL)


def test_a_colour_already_raised_is_not_due_again_after_a_resume():
    spec = SPECS["first_contact"]
    start = local(2026, 11, 23, 10, 0)
    clock = clocks.start(spec, start, CAL)
    clocks.raise_warning(clock, "blue", clock["due"]["blue"], start + timedelta(minutes=25))
    clocks.pause(clock, start + timedelta(minutes=26), "当事人住院", CAL)
    clocks.resume(clock, start + timedelta(hours=5), spec.colours, CAL)
    assert set(clock["due"]) == {"yellow", "red"}
    assert clock["deadline"] == start + timedelta(hours=5, minutes=4)


def test_stop_met_on_time_or_late_and_the_colour_goes_with_it():
    spec = SPECS["first_contact"]
    start = local(2026, 11, 23, 10, 0)
    early = clocks.start(spec, start, CAL)
    assert clocks.stop(early, start + timedelta(minutes=12), "accepted", met=True, calendars=CAL)
    assert early["status"] == "met" and early["on_time"] is True
    late = clocks.start(spec, start, CAL)
    clocks.raise_warning(late, "yellow", late["due"]["yellow"], start + timedelta(minutes=31))
    assert clocks.colour(late) == "yellow"
    clocks.stop(late, start + timedelta(minutes=40), "accepted", met=True, calendars=CAL)
    assert late["on_time"] is False and clocks.colour(late) == "none" and clocks.next_due(late) is None
    assert not clocks.stop(late, start + timedelta(minutes=50), "again", met=True, calendars=CAL)


def test_a_court_deadline_overrides_the_30_days():
    start = local(2026, 11, 2, 9, 0)
    clock = clocks.start(SPECS["presuit"], start, CAL, deadline=local(2026, 11, 22, 9, 0))
    assert clock["deadline"] == local(2026, 11, 22, 9, 0)
    assert clock["due"]["blue"] == start + timedelta(days=16)


def test_a_courts_extension_moves_the_deadline_and_the_warnings_not_raised_yet():
    spec = SPECS["presuit"]
    start = local(2026, 11, 2, 9, 0)
    clock = clocks.start(spec, start, CAL)
    clocks.raise_warning(clock, "blue", clock["due"]["blue"], start + timedelta(days=25))
    clocks.move_deadline(clock, start + timedelta(days=45), clock["deadline"], spec.colours, CAL)
    assert clock["deadline"] == start + timedelta(days=45)
    assert clock["due"] == {"yellow": start + timedelta(days=45), "red": start + timedelta(days=54)}
    assert "blue" in clock["raised"]  # what was raised stands
    paused = clocks.start(spec, start, CAL)
    clocks.pause(paused, start + timedelta(days=10), "等待鉴定", CAL)
    clocks.move_deadline(paused, start + timedelta(days=40), start + timedelta(days=30), spec.colours, CAL)
    clocks.resume(paused, start + timedelta(days=12), spec.colours, CAL)
    assert paused["deadline"] == start + timedelta(days=42)  # ten extra days, two of them paused
