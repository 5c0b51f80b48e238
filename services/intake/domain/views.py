"""What staff and the public see of a case file. The public sees masked data only."""

from __future__ import annotations

from services.intake.domain.casefile import Lifecycle, public_timeline, rating_refusal
from services.intake.domain.codes import local_day

SUMMARY_FIELDS = ("case_code", "jurisdiction", "category", "channel", "channels", "status", "severity",
                  "risk_flags", "immediate_red", "summary", "people_involved", "amount", "registered_at",
                  "duplicate_of", "repeat_of")
FILE_FIELDS = ("grid", "channel_ref", "description", "occurred_on", "attachments", "reports", "risk_reasons",
               "status_at", "court_referral", "related", "close_due_at", "closed_at", "final_status")


def summary_view(case: dict) -> dict:
    view = {"case_id": case["_id"]}
    view.update({name: case.get(name) for name in SUMMARY_FIELDS})
    return view


def file_view(case: dict, parties: list[dict], texts: dict[str, str]) -> dict:
    """The staff view: parties as the caller prepared them (names in clear, phones and IDs masked)
    and the summary and description as written (`texts`, decrypted by the caller)."""
    view = summary_view(case)
    view.update({name: case.get(name) for name in FILE_FIELDS})
    view.update(texts)
    view["parties"] = parties
    view["timeline"] = sorted(case.get("timeline") or [], key=lambda entry: entry["at"])
    for entry in view["timeline"]:
        entry.pop("event_id", None)
    view["related"] = list(case.get("related") or [])
    rating = case.get("rating")
    view["rating"] = ({"score": rating["score"], "comment": rating.get("comment"), "at": rating["at"]}
                      if rating else None)
    return view


def progress_view(case: dict, lifecycle: Lifecycle) -> dict:
    label = lifecycle.label
    return {
        "case_code": case["case_code"],
        "status": case["status"],
        "status_text": label("status", case["status"]),
        "category_text": label("category", case["category"]),
        "registered_on": local_day(case["registered_at"]).isoformat(),
        "parties": [
            {"role": party["role"], "role_text": label("party_role", party["role"]),
             "name": party["name_masked"], "phone": party.get("phone_masked")}
            for party in case.get("parties") or [] if party["role"] in ("applicant", "respondent")
        ],
        "timeline": public_timeline(case.get("timeline") or []),
        "duplicate_of": case.get("duplicate_of"),
        "can_rate": rating_refusal(case["status"]) is None and not case.get("rating"),
    }
