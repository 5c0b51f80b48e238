"""What court_bridge writes when something happens, inside the caller's transaction.

Every function here takes the unit of work of a transaction already open, writes with its
session, queues messages to courts and emits events through it. Conditional updates make
each step apply once, whichever replica or redelivery gets there first.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from services.common.contracts import iso
from services.common.mongo import UnitOfWork
from services.court_bridge.dependencies import CourtLink
from services.court_bridge.domain import confirmation as conf_rules
from services.court_bridge.domain import delivery
from services.court_bridge.domain import filing as filing_rules
from services.court_bridge.domain import referrals as ref_rules
from services.court_bridge.domain.mediation_record import mediation_record
from services.court_bridge.domain.model import Court
from services.court_bridge.store import CourtBridgeRepository


def parse_time(value) -> datetime:
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def case_fields(case: dict) -> dict:
    """The envelope fields of a case, from any of our documents that carry them."""
    return {"case_id": case["case_id"], "case_code": case["case_code"],
            "jurisdiction": case["jurisdiction"], "category": case["category"]}


class Flows:
    def __init__(self, store: CourtBridgeRepository, link: CourtLink, now: datetime):
        self.store = store
        self.db = store.db
        self.link = link
        self.reference = link.reference
        self.now = now

    # -- the outbound queue ---------------------------------------------------------------
    def queue(self, uow: UnitOfWork, *, court_id: str, operation: str, case: dict, payload: dict,
              referral_key: str | None = None, message_id: str | None = None) -> str:
        if operation not in delivery.OPERATIONS:
            raise ValueError(f"unknown operation {operation!r}")
        message_id = message_id or uuid.uuid4().hex
        self.db.messages.insert_one({
            "_id": message_id,
            "court_id": court_id,
            "operation": operation,
            "case": case_fields(case),
            "case_code": case["case_code"],
            "jurisdiction": case["jurisdiction"],
            "referral_key": referral_key,
            "payload": payload,
            "state": delivery.PENDING,
            "attempts": 0,
            "stuck": False,
            "last_error": None,
            "created_at": self.now,
            "due_at": self.now,
        }, session=uow.session)
        return message_id

    # -- referrals ------------------------------------------------------------------------
    def conclude_referral(self, uow: UnitOfWork, referral: dict, outcome: str, details: dict,
                          concluded_at: datetime) -> bool:
        """Close an open referral with its outcome and queue the court's feedback, once."""
        message_id = uuid.uuid4().hex
        result = self.db.referrals.update_one(
            {"_id": referral["_id"], "state": ref_rules.OPEN},
            {"$set": {"state": ref_rules.CONCLUDED, "outcome": outcome, "concluded_at": concluded_at,
                      "feedback": {"state": delivery.PENDING, "message_id": message_id}}},
            session=uow.session,
        )
        if not result.modified_count:
            return False
        self.queue(uow, court_id=referral["court_id"], operation=delivery.FEEDBACK, case=referral,
                   payload=ref_rules.feedback(referral, outcome, details, concluded_at),
                   referral_key=referral["_id"], message_id=message_id)
        uow.audit("system:court-bridge", "referral.conclude", case_code=referral["case_code"],
                  details={"court_id": referral["court_id"], "referral_id": referral["referral_id"],
                           "outcome": outcome})
        return True

    def open_referrals(self, uow: UnitOfWork, case_code: str) -> list[dict]:
        return self.store.referrals_for_case(case_code, (ref_rules.OPEN,), session=uow.session)

    def any_referrals(self, uow: UnitOfWork, case_code: str) -> list[dict]:
        return self.store.referrals_for_case(case_code, (ref_rules.OPEN, ref_rules.CONCLUDED), session=uow.session)

    # -- the case record ------------------------------------------------------------------
    def case_doc(self, uow: UnitOfWork, case_code: str) -> dict | None:
        return self.db.cases.find_one({"_id": case_code}, session=uow.session)

    def touch_case(self, uow: UnitOfWork, case: dict, changes: dict, condition: dict | None = None) -> bool:
        """Set `changes` on the case record (created on first use), when `condition` holds."""
        if condition:
            result = self.db.cases.update_one({"_id": case["case_code"], **condition},
                                              {"$set": {**changes, "updated_at": self.now}}, session=uow.session)
            return bool(result.modified_count)
        self.db.cases.update_one(
            {"_id": case["case_code"]},
            {"$set": {**case_fields(case), **changes, "updated_at": self.now},
             "$setOnInsert": {"created_at": self.now}},
            upsert=True, session=uow.session,
        )
        return True

    def court_for(self, referrals: list[dict], jurisdiction: str) -> Court | None:
        """The referring court when there is one; otherwise the court of the place."""
        for referral in referrals:
            court = self.reference.court(referral["court_id"])
            if court is not None:
                return court
        return self.reference.competent_court(jurisdiction)

    # -- judicial confirmation ------------------------------------------------------------
    def confirmation_payload(self, case: dict, agreement: dict, referrals: list[dict]) -> dict:
        """The application: the agreement's terms as its document states them, with the hash of
        that document, so that the court can read what it is asked to make enforceable."""
        return {
            "case_code": case["case_code"],
            "category": case["category"],
            "jurisdiction": case["jurisdiction"],
            "referral_ids": [referral["referral_id"] for referral in referrals],
            "terms": list(agreement.get("terms") or []),
            **{key: agreement.get(key) for key in ("agreement_id", "agreement_hash", "partial", "amount",
                                                    "performance_deadline", "mediator_id", "agreed_at")},
        }

    def request_confirmation(self, uow: UnitOfWork, case: dict, agreement: dict, court: Court | None,
                             confirmation: dict, referrals: list[dict]) -> dict:
        """Queue the application when the parties asked for it and a court is known."""
        if confirmation["state"] == conf_rules.REQUESTED:
            confirmation["message_id"] = self.queue(
                uow, court_id=court.court_id, operation=delivery.CONFIRMATION, case=case,
                payload=self.confirmation_payload(case, agreement, referrals))
            confirmation["next_check_at"] = confirmation["warn_at"]
        return confirmation

    def record_agreement(self, uow: UnitOfWork, case: dict, data: dict, agreed_at: datetime) -> dict:
        referrals = self.any_referrals(uow, case["case_code"])
        agreement = ref_rules.agreement_details(data, agreed_at)
        for referral in self.open_referrals(uow, case["case_code"]):
            self.conclude_referral(uow, referral, ref_rules.AGREEMENT, agreement, agreed_at)
        existing = (self.case_doc(uow, case["case_code"]) or {}).get("confirmation")
        changes: dict = {"agreement": agreement}
        if existing is None or existing["state"] in (conf_rules.NOT_REQUESTED, conf_rules.REJECTED,
                                                     conf_rules.FAILED):
            court = self.court_for(referrals, case["jurisdiction"])
            confirmation = conf_rules.new_confirmation(
                data, agreed_at, self.reference.rules.confirmation, court.court_id if court else None)
            if confirmation["requested_by_parties"] and court is None:
                confirmation.update(state=conf_rules.FAILED, error="no court covers this jurisdiction",
                                    next_check_at=confirmation["warn_at"])
            changes["confirmation"] = self.request_confirmation(uow, case, agreement, court, confirmation,
                                                                referrals)
        self.touch_case(uow, case, changes)
        return changes

    def apply_confirmation_by_hand(self, uow: UnitOfWork, case_doc: dict, court: Court, note: str | None) -> dict:
        confirmation = dict(case_doc["confirmation"])
        conf_rules.check_manual_application(confirmation, self.now)
        referrals = self.any_referrals(uow, case_doc["case_code"])
        warn_days = timedelta(days=self.reference.rules.confirmation.warn_days_before)
        confirmation.update(state=conf_rules.REQUESTED, court_id=court.court_id, error=None, note=note,
                            warn_at=confirmation.get("warn_at") or confirmation["apply_by"] - warn_days)
        confirmation = self.request_confirmation(uow, case_doc, case_doc["agreement"], court, confirmation,
                                                 referrals)
        previous = case_doc["confirmation"]["state"]
        if not self.touch_case(uow, case_doc, {"confirmation": confirmation},
                               condition={"confirmation.state": previous}):
            raise ref_rules.RuleViolation("the confirmation changed meanwhile; look again")
        return confirmation

    # -- filing ---------------------------------------------------------------------------
    def request_filing(self, uow: UnitOfWork, case: dict, court: Court | None, *, trigger: str, reason: str,
                       undisputed_facts: str | None, referrals: list[dict], facts: dict | None,
                       record: dict | None) -> dict:
        existing = (self.case_doc(uow, case["case_code"]) or {}).get("filing")
        filing_rules.check_new_filing(existing)
        decision = filing_rules.decide_track(case["category"], facts, undisputed_facts,
                                             self.reference.rules.fast_track)
        filing = {
            "state": filing_rules.REQUESTED,
            "track": decision.track,
            "track_reasons": list(decision.reasons),
            "trigger": trigger,
            "reason": reason,
            "undisputed_facts": undisputed_facts,
            "court_id": court.court_id if court else None,
            "on_site": bool(court and court.sits_in_centre),
            "requested_at": self.now,
            "message_id": None,
        }
        if court is None:
            filing.update(state=filing_rules.FAILED, error="no court covers this jurisdiction")
        else:
            filing["message_id"] = self.queue(uow, court_id=court.court_id, operation=delivery.FILING, case=case,
                                              payload=self.filing_payload(case, filing, referrals, facts, record))
        condition = None if existing is None else {"filing.state": existing["state"]}
        if not self.touch_case(uow, case, {"filing": filing}, condition=condition):
            raise ref_rules.RuleViolation("the filing changed meanwhile; look again")
        return filing

    def filing_payload(self, case: dict, filing: dict, referrals: list[dict], facts: dict | None,
                       record: dict | None) -> dict:
        """`record` is the failed mediation's record as mediation reported it; None when no
        mediation failed (a party who wants to sue after withdrawing, say): nothing is made up."""
        facts = facts or {}
        return {
            "case_code": case["case_code"],
            "category": case["category"],
            "jurisdiction": case["jurisdiction"],
            "priority": True,
            "track": filing["track"],
            "on_site": filing["on_site"],
            "trigger": filing["trigger"],
            "reason": filing["reason"],
            "undisputed_facts": filing["undisputed_facts"],
            "amount": facts.get("amount"),
            "people_involved": facts.get("people_involved"),
            "referral_ids": [referral["referral_id"] for referral in referrals],
            "mediation_record": record,
        }

    def facts_for(self, case_doc: dict | None, referrals: list[dict]) -> dict | None:
        """Facts for the filing rules: intake's registration, else what the court sent us."""
        if case_doc and case_doc.get("facts"):
            return case_doc["facts"]
        for referral in referrals:
            if referral.get("facts"):
                return referral["facts"]
        return None

    def record_failure(self, uow: UnitOfWork, case: dict, data: dict, reported_at: datetime) -> dict | None:
        """Keep the failure with its mediation record; tell the referring courts; file the case
        when it was referred or a party wants to sue. `reported_at` is the event's time."""
        record = mediation_record(data, reported_at)
        failed_at = record["ended_at"]
        referrals = self.any_referrals(uow, case["case_code"])
        for referral in self.open_referrals(uow, case["case_code"]):
            self.conclude_referral(uow, referral, ref_rules.FAILED,
                                   ref_rules.failure_details(data, referral, record), failed_at)
        self.touch_case(uow, case, {"failure": {
            "reason": data["reason"], "undisputed_facts": data.get("undisputed_facts"),
            "wants_litigation": data.get("wants_litigation", False), "failed_at": failed_at, "record": record}})
        if not (referrals or data.get("wants_litigation")):
            return None
        case_doc = self.case_doc(uow, case["case_code"])
        existing = (case_doc or {}).get("filing")
        if existing is not None and existing["state"] in filing_rules.OPEN_STATES:
            return None
        return self.request_filing(
            uow, case, self.court_for(referrals, case["jurisdiction"]),
            trigger="court_referral_failed" if referrals else "wants_litigation",
            reason=data["reason"], undisputed_facts=data.get("undisputed_facts"),
            referrals=referrals, facts=self.facts_for(case_doc, referrals), record=record)

    # -- enforcement ----------------------------------------------------------------------
    def request_enforcement(self, uow: UnitOfWork, case_doc: dict, reason: str, applicant_role: str) -> dict:
        confirmation = case_doc.get("confirmation")
        conf_rules.check_enforcement(confirmation)
        if any(entry["state"] in ("requested", "applied") for entry in case_doc.get("enforcements", [])):
            raise ref_rules.RuleViolation("an enforcement application is already with the court")
        entry = {"enforcement_id": uuid.uuid4().hex, "state": "requested", "court_id": confirmation["court_id"],
                 "reason": reason, "applicant_role": applicant_role, "requested_at": self.now}
        entry["message_id"] = self.queue(
            uow, court_id=confirmation["court_id"], operation=delivery.ENFORCEMENT, case=case_doc,
            payload={"case_code": case_doc["case_code"], "ruling_number": confirmation["ruling_number"],
                     "confirmation_application_id": confirmation.get("application_id"),
                     "reason": reason, "applicant_role": applicant_role})
        self.db.cases.update_one({"_id": case_doc["case_code"]},
                                 {"$push": {"enforcements": entry}, "$set": {"updated_at": self.now}},
                                 session=uow.session)
        return entry

    # -- extension of the mediation period -------------------------------------------------
    def extend_referral(self, uow: UnitOfWork, referral: dict, days: int, consent_record: str, actor: str) -> dict:
        extension = ref_rules.extend_deadline(referral, days, self.reference, self.now)
        entry = {"days": days, "from": referral["deadline"], "to": extension.deadline,
                 "consent_record": consent_record, "recorded_by": actor, "recorded_at": self.now}
        result = self.db.referrals.update_one(
            {"_id": referral["_id"], "state": ref_rules.OPEN, "deadline": referral["deadline"]},
            {"$set": {"deadline": extension.deadline, "extended_days": extension.total_days},
             "$push": {"extensions": entry}},
            session=uow.session)
        if not result.modified_count:
            raise ref_rules.RuleViolation("the referral changed meanwhile; look again")
        self.queue(uow, court_id=referral["court_id"], operation=delivery.EXTENSION, case=referral,
                   referral_key=referral["_id"],
                   payload={"referral_id": referral["referral_id"], "case_code": referral["case_code"],
                            "days": days, "previous_deadline": referral["deadline"],
                            "deadline": extension.deadline, "consent_record": consent_record})
        # The consent record is free text that may name people: the event says only what changed.
        uow.emit("referral_extended", case=case_fields(referral), data={
            "court_id": referral["court_id"], "referral_id": referral["referral_id"],
            "previous_deadline": iso(referral["deadline"]), "deadline": iso(extension.deadline),
            "reason": ref_rules.extension_reason(days)})
        return {**entry, "deadline": iso(extension.deadline), "extended_days": extension.total_days}
