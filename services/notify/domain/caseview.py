"""Notify's own small view of a case: which unit handles it now (from routing's events),
so that a leader's instruction reaches that unit. Events may arrive out of order; the
newest wins."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from services.notify.domain.rules import MessageRule

# The routing events that change which unit handles a case.
CHANGED_BY = frozenset({"case_assigned", "case_escalated"})


def occurred(event: Mapping) -> datetime:
    value = event["occurred_at"]
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


def changes_view(event: Mapping) -> bool:
    return event["source"] == "routing" and event["event_type"] in CHANGED_BY


def needed(rules: Iterable[MessageRule]) -> bool:
    """Whether choosing these rules' recipients reads the view (a `case.<field>` reference)."""
    return any(reference.startswith("case.")
               for rule in rules
               for reference in (*rule.mentions, *(ref for group in rule.to for ref in (*group.units,
                                                                                     *group.leaders_of))))


def updated(view: Mapping | None, event: Mapping) -> dict | None:
    """The view after a routing event, or None when the event changes nothing (older or unrelated)."""
    if not changes_view(event):
        return None
    at = occurred(event)
    if view is not None and view.get("as_of") is not None and view["as_of"] >= at:
        return None
    data = event["data"]
    if event["event_type"] == "case_assigned":
        changes = {"unit": data["unit"], "level": data["level"], "lead_department": data.get("lead_department"),
                   "departments": list(data.get("departments") or [])}
    else:
        changes = {"unit": data["to_unit"], "level": data["to_level"]}
    return {**(dict(view) if view else {}), **changes, "as_of": at}
