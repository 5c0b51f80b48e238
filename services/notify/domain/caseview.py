"""Notify's own small view of a case: which unit handles it now (from routing's events),
so that a leader's instruction reaches that unit. Events may arrive out of order; the
newest wins."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime


def occurred(event: Mapping) -> datetime:
    value = event["occurred_at"]
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


def updated(view: Mapping | None, event: Mapping) -> dict | None:
    """The view after a routing event, or None when the event changes nothing (older or unrelated)."""
    at = occurred(event)
    if view is not None and view.get("as_of") is not None and view["as_of"] >= at:
        return None
    data = event["data"]
    if event["event_type"] == "case_assigned":
        changes = {"unit": data["unit"], "level": data["level"], "lead_department": data.get("lead_department"),
                   "departments": list(data.get("departments") or [])}
    elif event["event_type"] == "case_escalated":
        changes = {"unit": data["to_unit"], "level": data["to_level"]}
    else:
        return None
    return {**(dict(view) if view else {}), **changes, "as_of": at}
