"""What the routes answer: our documents shaped for people (no internal claims or leases)."""

from __future__ import annotations

from services.court_bridge.domain.model import Court, Reference


def court_view(court: Court) -> dict:
    return {"court_id": court.court_id, "name": court.name, "system": court.system,
            "jurisdictions": list(court.jurisdictions), "categories": sorted(court.categories),
            "sits_in_centre": court.sits_in_centre, "referral_days": court.referral_days}


def referral_view(referral: dict, reference: Reference) -> dict:
    court = reference.court(referral["court_id"])
    return {
        "court_id": referral["court_id"],
        "court_name": court.name if court else None,
        "referral_id": referral["referral_id"],
        "batch_id": referral.get("batch_id"),
        "state": referral["state"],
        "case_code": referral.get("case_code"),
        "merged_into": referral.get("merged_into"),
        "cause": referral.get("cause"),
        "received_at": referral.get("received_at"),
        "deadline": referral.get("deadline"),
        "extended_days": referral.get("extended_days", 0),
        "extensions": referral.get("extensions", []),
        "outcome": referral.get("outcome"),
        "concluded_at": referral.get("concluded_at"),
        "feedback": referral.get("feedback"),
    }


def message_view(message: dict) -> dict:
    return {
        "message_id": message["_id"],
        "court_id": message["court_id"],
        "operation": message["operation"],
        "case_code": message["case_code"],
        "state": message["state"],
        "attempts": message["attempts"],
        "stuck": message.get("stuck", False),
        "last_error": message.get("last_error"),
        "created_at": message["created_at"],
        "last_failed_at": message.get("last_failed_at"),
        "next_attempt_at": message["due_at"] if message["state"] == "pending" else None,
        "delivered_at": message.get("delivered_at"),
    }


def poll_view(poll: dict) -> dict:
    return {
        "kind": poll["kind"],
        "court_id": poll["court_id"],
        "case_code": poll["case_code"],
        "remote_id": poll["remote_id"],
        "state": poll["state"],
        "failures": poll["failures"],
        "last_error": poll.get("last_error"),
        "next_check_at": poll["due_at"] if poll["state"] == "active" else None,
    }


def _without(document: dict | None, *keys: str) -> dict | None:
    if document is None:
        return None
    return {key: value for key, value in document.items() if key not in keys}


def case_view(case_code: str, case: dict | None, referrals: list[dict], messages: list[dict],
              reference: Reference) -> dict:
    case = case or {}
    first = referrals[0] if referrals else {}
    return {
        "case_code": case_code,
        "case_id": case.get("case_id") or first.get("case_id"),
        "jurisdiction": case.get("jurisdiction") or first.get("jurisdiction"),
        "category": case.get("category") or first.get("category"),
        "referrals": [referral_view(referral, reference) for referral in referrals],
        "agreement": case.get("agreement"),
        "confirmation": _without(case.get("confirmation"), "next_check_at"),
        "failure": case.get("failure"),
        "withdrawal": case.get("withdrawal"),
        "filing": case.get("filing"),
        "enforcements": case.get("enforcements", []),
        "onsite": case.get("onsite", []),
        "messages": [message_view(message) for message in messages],
    }


def confirmation_due_view(case: dict) -> dict:
    confirmation = case["confirmation"]
    return {"case_code": case["_id"], "jurisdiction": case["jurisdiction"], "state": confirmation["state"],
            "warning": confirmation.get("warning"), "apply_by": confirmation["apply_by"],
            "court_id": confirmation.get("court_id"), "error": confirmation.get("error")}
