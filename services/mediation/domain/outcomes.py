"""How a mediation ends. Four distinct outcomes, so success rates stay honest:

* agreement — the parties settled everything (terms, amounts, performance deadline, whether
  they ask the court for judicial confirmation 司法确认);
* partial — they settled some matters, others stay open (still an agreement document);
* failed — with the reason, which parties could not be reached or refused, the undisputed
  facts 无争议事实 for the court, and whether a party wants to litigate;
* withdrawn — the applicant withdrew, they settled on their own, or went to court first.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

from services.common.contracts import iso

OUTCOME_TYPES = ("agreement", "partial", "failed", "withdrawn")
FAILURE_REASONS = ("refused", "unreachable", "no_agreement", "other")
WITHDRAWAL_REASONS = ("applicant_withdrew", "settled_privately", "went_to_court", "other")
ROLE_LABELS = {"applicant": "申请人", "respondent": "被申请人", "third_party": "第三人"}
ROLE_ORDER = ("applicant", "respondent", "third_party")


class OutcomeRefused(ValueError):
    """The file cannot take this outcome now (HTTP 422)."""


class OutcomeInputError(ValueError):
    """A field of the outcome is wrong whatever the file's state (HTTP 400)."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


def produces_agreement(outcome_type: str) -> bool:
    return outcome_type in ("agreement", "partial")


def check_can_conclude(*, has_outcome: bool, outcome_type: str, held_mediation_sessions: int) -> None:
    if has_outcome:
        raise OutcomeRefused("this mediation already has its outcome; an outcome is recorded once")
    if produces_agreement(outcome_type) and held_mediation_sessions == 0:
        raise OutcomeRefused("an agreement needs a mediation session that was held: record its attendance first")


def check_outcome_input(outcome: dict, today: date) -> None:
    kind = outcome["type"]
    if produces_agreement(kind):
        deadline = outcome.get("performance_deadline")
        if deadline is not None and deadline < today:
            raise OutcomeInputError("performance_deadline", "the performance deadline is already past")
        if kind == "partial" and not outcome.get("unresolved"):
            raise OutcomeInputError("unresolved", "a partial agreement names the matters left unresolved")
    if kind == "failed":
        unreachable = set(outcome.get("unreachable_parties") or [])
        refusing = set(outcome.get("refusing_parties") or [])
        named = {"refused": ("refusing_parties", refusing), "unreachable": ("unreachable_parties", unreachable)}
        if outcome["reason"] in named:
            field, parties = named[outcome["reason"]]
            if not parties:
                raise OutcomeInputError(field, "name the parties (party_id) who refused or could not be reached")
        if unreachable & refusing:
            raise OutcomeInputError("refusing_parties", "a party who could not be reached cannot have refused: "
                                    + ", ".join(sorted(unreachable & refusing)))


def event_for(outcome: dict, *, court_referred: bool, recorded_at: datetime, mediator_id: str | None,
              sessions: Iterable[dict] = (), agreement_id: str | None = None,
              agreement_hash: str | None = None) -> tuple[str, dict]:
    """The event an outcome emits, and its data (docs/contracts.md). `mediator_id` is the lead
    mediator; `sessions` are the file's sessions, of which a failure carries the record."""
    kind = outcome["type"]
    if produces_agreement(kind):
        deadline = outcome.get("performance_deadline")
        return "agreement_reached", {
            "agreement_id": agreement_id,
            "partial": kind == "partial",
            "amount": outcome.get("amount"),
            "performance_deadline": deadline.isoformat() if deadline else None,
            "confirmation_requested": bool(outcome.get("confirmation_requested")),
            "agreement_hash": agreement_hash,
            "court_referred": court_referred,
            # the very list the document numbers 一、二、…, so the court can hold one against the other
            "terms": list(outcome["terms"]),
            "mediator_id": mediator_id,
            "agreed_at": iso(recorded_at),
        }
    if kind == "failed":
        return "mediation_failed", {
            "reason": outcome["reason"],
            "undisputed_facts": outcome.get("undisputed_facts"),
            "wants_litigation": bool(outcome.get("wants_litigation")),
            "court_referred": court_referred,
            "failed_at": iso(recorded_at),
            "mediator_id": mediator_id,
            "sessions": session_record(sessions),
            "unreachable_parties": list(dict.fromkeys(outcome.get("unreachable_parties") or [])),
            "refusing_parties": list(dict.fromkeys(outcome.get("refusing_parties") or [])),
        }
    return "mediation_withdrawn", {"reason": outcome["reason"], "court_referred": court_referred}


RECORDED_STATUSES = ("held", "no_show")


def session_record(sessions: Iterable[dict]) -> list[dict]:
    """The mediation record (调解笔录) the court receives: the mediation sessions that were held
    or that nobody came to, with who attended and who was absent — by party id only, names stay
    with intake. Sessions not yet held or cancelled did not happen; legal aid and counselling
    are help given to a party, not part of the mediation, and stay on the file."""
    record = []
    for session in sessions:
        if session["purpose"] != "mediation" or session["status"] not in RECORDED_STATUSES:
            continue
        parties = (session.get("attendance") or {}).get("parties") or []
        record.append({
            "session_id": session["_id"],
            "kind": session["kind"],
            "purpose": session["purpose"],
            "starts_at": iso(session["starts_at"]),
            "ends_at": iso(session["ends_at"]),
            "mediator_id": session["mediator_id"],
            "attended": _party_ids(parties, present=True),
            "absent": _party_ids(parties, present=False),
        })
    return record


def _party_ids(parties: list[dict], *, present: bool) -> list[str]:
    # a party recorded by role only has no id to carry; the record never carries a name instead
    return list(dict.fromkeys(p["party_id"] for p in parties if p.get("party_id") and p["present"] is present))


def stored_outcome(outcome: dict, *, recorded_at: datetime, recorded_by: str, mediator_id: str | None) -> dict:
    """The outcome as the file keeps it: what was said (no empty fields), when and by whom."""
    kept = {key: value for key, value in outcome.items() if value is not None}
    if kept.get("performance_deadline") is not None:
        kept["performance_deadline"] = kept["performance_deadline"].isoformat()
    kept.update({"recorded_at": recorded_at, "recorded_by": recorded_by, "mediator_id": mediator_id})
    return kept


# -- the agreement document (调解协议书) --------------------------------------------------------
@dataclass(frozen=True)
class PartyOnAgreement:
    role_label: str
    name: str
    kind: str
    address: str | None


class AgreementRefused(OutcomeRefused):
    pass


_DIGITS = "零一二三四五六七八九"


def chinese_numeral(number: int) -> str:
    """一 … 九十九, for numbering an agreement's terms; larger numbers stay in digits."""
    if not 0 < number < 100:
        return str(number)
    tens, units = divmod(number, 10)
    if tens == 0:
        return _DIGITS[units]
    return ("" if tens == 1 else _DIGITS[tens]) + "十" + (_DIGITS[units] if units else "")


def chinese_date(day: date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


def yuan(amount: float) -> str:
    return f"{amount:,.2f}"


def parties_on_agreement(contacts: list[dict]) -> list[PartyOnAgreement]:
    """Parties as intake holds them, names exactly as given, applicants first."""
    named = [party for party in contacts if (party.get("name") or "").strip()]
    if not named:
        raise AgreementRefused("intake holds no named parties for this case; an agreement needs them")
    named.sort(key=lambda p: ROLE_ORDER.index(p["role"]) if p.get("role") in ROLE_ORDER else len(ROLE_ORDER))
    return [
        PartyOnAgreement(ROLE_LABELS.get(party.get("role"), "当事人"), party["name"], party.get("kind") or "person",
                         party.get("address"))
        for party in named
    ]


def agreement_context(*, case_code: str, agreement_no: str, parties: list[PartyOnAgreement], outcome: dict,
                      mediator_name: str, organisation: str | None, concluded_on: date) -> dict:
    deadline = outcome.get("performance_deadline")
    amount = outcome.get("amount")
    return {
        "case_code": case_code,
        "agreement_no": agreement_no,
        "partial": outcome["type"] == "partial",
        "parties": parties,
        "facts": outcome.get("facts"),
        "terms": outcome["terms"],
        "unresolved": outcome.get("unresolved") or [],
        "amount": yuan(amount) if amount is not None else None,
        "performance_deadline": chinese_date(deadline) if deadline else None,
        "confirmation_requested": bool(outcome.get("confirmation_requested")),
        "mediator_name": mediator_name,
        "organisation": organisation,
        "date": chinese_date(concluded_on),
    }
