"""The mediation record (调解笔录) a court receives when mediation fails: with the feedback on a
referral, and with the filing (调解不成 → 立案 carries the record and the undisputed facts).

It is what mediation reported in `mediation.mediation_failed`: when it ended, who mediated,
each session with who attended and who did not, the parties who could not be reached or
refused to mediate, the reason and the facts nobody disputes. Party ids only: the court reads
names from its own file of the case.

An older mediation sends only the reason and the undisputed facts. The record then says so
(`complete: false` and a note the court can read) and dates the end by the event — never by
the time court_bridge happens to write or file, which would tell the court something untrue.
"""

from __future__ import annotations

from datetime import datetime

RESULT = "调解不成"
INCOMPLETE_NOTE = ("调解组织未提供调解过程记录（调解次数、到场情况、调解员），"
                   "仅载明调解不成的原因及无争议事实；结束时间为调解结果登记时间。")


def _session(session: dict) -> dict:
    return {
        "session_id": session["session_id"],
        "kind": session["kind"],
        "purpose": session.get("purpose", "mediation"),
        "starts_at": session["starts_at"],
        "ends_at": session.get("ends_at"),
        "mediator_id": session.get("mediator_id"),
        "attended": list(session.get("attended") or []),
        "absent": list(session.get("absent") or []),
    }


def mediation_record(data: dict, reported_at: datetime) -> dict:
    """The record from the data of `mediation.mediation_failed`; `reported_at` is the event's time.

    `failed_at` marks a producer that sends the record: without it, the fields of the record
    are absent rather than empty, and the record is marked incomplete.
    """
    complete = data.get("failed_at") is not None
    sessions = sorted((_session(session) for session in data.get("sessions") or []),
                      key=lambda session: session["starts_at"])
    return {
        "result": RESULT,
        "reason": data["reason"],
        "undisputed_facts": data.get("undisputed_facts"),
        "ended_at": data.get("failed_at") or reported_at,
        "mediator_id": data.get("mediator_id"),
        "sessions": sessions,
        "unreachable_parties": list(data.get("unreachable_parties") or []),
        "refusing_parties": list(data.get("refusing_parties") or []),
        "complete": complete,
        "note": None if complete else INCOMPLETE_NOTE,
    }


def record_of_failure(failure: dict | None) -> dict | None:
    """The record kept with a failure; for a failure stored before records were kept, the
    fallback built from what was stored then."""
    if failure is None:
        return None
    if failure.get("record"):
        return failure["record"]
    return mediation_record({"reason": failure["reason"], "undisputed_facts": failure.get("undisputed_facts")},
                            failure["failed_at"])
