"""The mediation rules as typed values, parsed from the YAML data file (data/rules.yaml).

Parsing is strict: a deployment's override with a typo must stop the service at start with a
message naming the key, not misbehave on the first booking.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from services.common.contracts import CATEGORIES

MEDIATOR_TYPES = ("peoples", "industry", "administrative", "judicial", "lawyer", "psychologist")
PURPOSES = ("mediation", "legal_aid", "counselling")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_CLOCK = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


class RulesError(ValueError):
    """The rules file cannot be used; the message names the key."""


@dataclass(frozen=True)
class WorkingWindow:
    days: frozenset[int]  # ISO weekdays, Monday = 1
    start: time
    end: time


@dataclass(frozen=True)
class ReminderRule:
    name: str
    before_minutes: int


@dataclass(frozen=True)
class MediationTypeRule:
    key: str
    aliases: frozenset[str]
    prefer: tuple[str, ...]


@dataclass(frozen=True)
class FollowupPlan:
    category: str
    reason: str
    visits: int
    interval_working_days: int


@dataclass(frozen=True)
class Rules:
    timezone: ZoneInfo
    slot_minutes: int
    min_session_minutes: int
    max_session_minutes: int
    booking_grace_minutes: int
    max_days_ahead: int
    video_link_template: str
    reminders: tuple[ReminderRule, ...]
    default_working_hours: tuple[WorkingWindow, ...]
    purposes: dict[str, frozenset[str]]
    mediation_types: tuple[MediationTypeRule, ...]
    suggestion_limit: int
    weights: dict[str, float]
    first_visit_working_days: int
    urgent_interval_working_days: int
    followup_plans: dict[str, FollowupPlan] = field(default_factory=dict)

    def mediation_type(self, raw: str | None) -> MediationTypeRule | None:
        """routing's mediation_type, whatever spelling it used, or None when unknown."""
        if not raw:
            return None
        wanted = raw.strip().lower()
        for rule in self.mediation_types:
            if wanted == rule.key or wanted in rule.aliases:
                return rule
        return None


def _require(mapping: dict, key: str, where: str):
    if not isinstance(mapping, dict) or key not in mapping:
        raise RulesError(f"{where}.{key} is missing")
    return mapping[key]


def _int(value, where: str, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise RulesError(f"{where} must be an integer ≥ {minimum}, not {value!r}")
    return value


def parse_clock(value: str, where: str = "time") -> time:
    if not isinstance(value, str) or not _CLOCK.match(value):
        raise RulesError(f"{where} must be HH:MM, not {value!r}")
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


def parse_working_hours(windows, where: str = "working_hours") -> tuple[WorkingWindow, ...]:
    if not isinstance(windows, list):
        raise RulesError(f"{where} must be a list")
    parsed = []
    for index, window in enumerate(windows):
        here = f"{where}[{index}]"
        days = _require(window, "days", here)
        if not isinstance(days, list) or not days or any(day not in WEEKDAYS for day in days):
            raise RulesError(f"{here}.days must list days among {', '.join(WEEKDAYS)}")
        start = parse_clock(_require(window, "start", here), f"{here}.start")
        end = parse_clock(_require(window, "end", here), f"{here}.end")
        if end <= start:
            raise RulesError(f"{here} ends before it starts")
        parsed.append(WorkingWindow(frozenset(WEEKDAYS.index(day) + 1 for day in days), start, end))
    return tuple(parsed)


def parse_rules(raw: dict) -> Rules:
    if not isinstance(raw, dict):
        raise RulesError("the rules file must be a mapping")
    try:
        zone = ZoneInfo(str(_require(raw, "timezone", "rules")))
    except ZoneInfoNotFoundError as exc:
        raise RulesError(f"rules.timezone is not a known time zone: {raw['timezone']!r}") from exc

    scheduling = _require(raw, "scheduling", "rules")
    slot = _int(_require(scheduling, "slot_minutes", "scheduling"), "scheduling.slot_minutes", 1)
    if 60 % slot:
        raise RulesError("scheduling.slot_minutes must divide an hour")
    min_minutes = _int(_require(scheduling, "min_session_minutes", "scheduling"),
                       "scheduling.min_session_minutes", slot)
    max_minutes = _int(_require(scheduling, "max_session_minutes", "scheduling"),
                       "scheduling.max_session_minutes", min_minutes)
    template = str(_require(scheduling, "video_link_template", "scheduling"))
    if "{session_id}" not in template or not template.startswith("https://"):
        raise RulesError("scheduling.video_link_template must be an https:// URL with {session_id}")

    reminders = []
    for index, item in enumerate(_require(raw, "reminders", "rules") or []):
        name = str(_require(item, "name", f"reminders[{index}]"))
        before = _int(_require(item, "before_minutes", f"reminders[{index}]"),
                      f"reminders[{index}].before_minutes", 1)
        reminders.append(ReminderRule(name, before))
    reminders.sort(key=lambda rule: -rule.before_minutes)

    purposes = {}
    raw_purposes = _require(raw, "purposes", "rules")
    for purpose in PURPOSES:
        types = _require(raw_purposes, purpose, "purposes")
        if not isinstance(types, list) or not types or any(kind not in MEDIATOR_TYPES for kind in types):
            raise RulesError(f"purposes.{purpose} must list mediator types among {', '.join(MEDIATOR_TYPES)}")
        purposes[purpose] = frozenset(types)

    mediation_types = []
    for key, item in (_require(raw, "mediation_types", "rules") or {}).items():
        prefer = _require(item, "prefer", f"mediation_types.{key}")
        if not isinstance(prefer, list) or any(kind not in MEDIATOR_TYPES for kind in prefer):
            raise RulesError(f"mediation_types.{key}.prefer must list mediator types")
        aliases = frozenset(str(alias).lower() for alias in item.get("aliases") or [])
        mediation_types.append(MediationTypeRule(str(key), aliases, tuple(prefer)))

    suggestions = _require(raw, "suggestions", "rules")
    weights = _require(suggestions, "weights", "suggestions")
    needed = ("continuity", "speciality", "committee", "type", "locality", "open_file", "upcoming_session")
    for key in needed:
        if not isinstance(_require(weights, key, "suggestions.weights"), int | float):
            raise RulesError(f"suggestions.weights.{key} must be a number")

    followup = _require(raw, "followup", "rules")
    plans = {}
    for category, item in (_require(followup, "plans", "followup") or {}).items():
        if category not in CATEGORIES:
            raise RulesError(f"followup.plans.{category} is not a category")
        here = f"followup.plans.{category}"
        plans[category] = FollowupPlan(
            category=category,
            reason=str(_require(item, "reason", here)),
            visits=_int(_require(item, "visits", here), f"{here}.visits", 1),
            interval_working_days=_int(_require(item, "interval_working_days", here),
                                       f"{here}.interval_working_days", 1),
        )

    return Rules(
        timezone=zone,
        slot_minutes=slot,
        min_session_minutes=min_minutes,
        max_session_minutes=max_minutes,
        booking_grace_minutes=_int(_require(scheduling, "booking_grace_minutes", "scheduling"),
                                   "scheduling.booking_grace_minutes"),
        max_days_ahead=_int(_require(scheduling, "max_days_ahead", "scheduling"), "scheduling.max_days_ahead", 1),
        video_link_template=template,
        reminders=tuple(reminders),
        default_working_hours=parse_working_hours(
            _require(raw, "default_working_hours", "rules"), "default_working_hours"),
        purposes=purposes,
        mediation_types=tuple(mediation_types),
        suggestion_limit=_int(_require(suggestions, "limit", "suggestions"), "suggestions.limit", 1),
        weights={key: float(weights[key]) for key in needed},
        first_visit_working_days=_int(_require(followup, "first_visit_working_days", "followup"),
                                      "followup.first_visit_working_days", 1),
        urgent_interval_working_days=_int(_require(followup, "urgent_interval_working_days", "followup"),
                                          "followup.urgent_interval_working_days", 1),
        followup_plans=plans,
    )
