"""Routing's view of a case (GET /api/v1/routing/cases/{code}; DESIGN.md §5). Pure."""

from __future__ import annotations

from services.common.case_codes import InvalidCaseCode, canonical_case_code
from services.routing.domain import Reference
from services.routing.domain.case import deadlines, iso


def canonical_code(code: str) -> str | None:
    """A case code as typed (any case, with or without dashes) in its canonical dashed form;
    None when it is not a case code or its check character is wrong."""
    try:
        return canonical_case_code(code)
    except InvalidCaseCode:
        return None


def _clock(clock: dict) -> dict:
    return {
        "id": clock["id"], "name": clock["name"], "label": clock["label"], "calendar": clock["calendar"],
        "status": clock["status"], "started_at": iso(clock["started_at"]), "deadline": iso(clock["deadline"]),
        "colour": max((c for c in ("blue", "yellow", "red") if c in clock["raised"]),
                      key=("blue", "yellow", "red").index, default="none"),
        "raised": {colour: {"due": iso(r["due"]), "at": iso(r["at"])} for colour, r in clock["raised"].items()},
        "ended_at": iso(clock["ended_at"]), "end_reason": clock["end_reason"], "on_time": clock["on_time"],
        "paused_at": iso(clock["paused_at"]), "pause_reason": clock["pause_reason"],
        "remaining_seconds": (max(0.0, clock["total"] - clock["elapsed"]) if clock["status"] == "paused" else None),
        "pauses": [{"from": iso(p["from"]), "to": iso(p["to"]), "reason": p["reason"]} for p in clock["pauses"]],
    }


def case_view(case: dict, summons: list[dict], ref: Reference) -> dict:
    directory = ref.directory
    escalation = case["escalation"]
    supervision = case.get("supervision")
    return {
        "case_id": case["_id"], "case_code": case["case_code"], "jurisdiction": case["jurisdiction"],
        "category": case["category"], "channel": case["channel"], "severity": case["severity"],
        "risk_flags": case["risk_flags"], "marks": case.get("marks", []), "people_involved": case["people_involved"],
        "court_referred": case["court_referred"],
        "tier": case["tier"], "level": case["level"], "unit": case["unit"],
        "unit_name": directory.unit_name(case["unit"]),
        "lead_department": case["lead_department"], "departments": case["departments"],
        "committee": case["committee"], "mediation_type": case["mediation_type"], "triage": case["triage"],
        "state": case["state"], "outcome": case["outcome"], "colour": case["colour"],
        "peak_colour": case["peak_colour"], "deadlines": deadlines(case),
        "clocks": [_clock(clock) for clock in case["clocks"]],
        "summons": [{
            "summons_id": s["summons_id"], "department": s["department"],
            "department_name": directory.unit_name(s["department"]), "report_by": iso(s["report_by"]),
            "on_site": s["on_site"], "acknowledged_at": iso(s["acknowledged_at"]), "on_time": s["on_time"],
            "status": s["status"],
        } for s in summons],
        "rule": {key: case["rule"][key] for key in ("rule_id", "reason", "level_rule_id", "level_reason")},
        "escalation": {"rung": escalation["rung"], "level": escalation["level"], "unit": escalation["unit"],
                       "steps": escalation["steps"]},
        "supervision": ({"rung": supervision["rung"], "unit": supervision["unit"],
                         "name": directory.unit_name(supervision["unit"]), "since": iso(supervision["since"])}
                        if supervision else None),
        "leader": ({**case["leader"], "at": iso(case["leader"]["at"])} if case.get("leader") else None),
        "tags": case["tags"], "returns": case["returns"],
        "presuit_extensions": [{"at": iso(e["at"]), "previous_deadline": iso(e["previous_deadline"]),
                                "deadline": iso(e["deadline"]), "reason": e["reason"]}
                               for e in case.get("presuit_extensions", ())],
        "registered_at": iso(case["registered_at"]), "received_at": iso(case["received_at"]),
        "accepted_at": iso(case.get("accepted_at")), "resolved_at": iso(case.get("resolved_at")),
        "ended_at": iso(case.get("ended_at")), "merged_into": case.get("merged_into"),
        "history": [{"at": iso(entry["at"]), "action": entry["action"], "actor": entry["actor"],
                     "details": entry["details"]} for entry in case["history"]],
    }
