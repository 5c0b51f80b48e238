"""Intake's use cases: register a report, keep the case file from events, close it, rate it,
show it. Entry points (service.py) parse and authorise; the rules live in domain/; this module
reads and writes through the store, in transactions, and emits."""

from __future__ import annotations

import hmac
import logging
import os
import socket
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from functools import partial
from typing import TypeVar

import eventlet
from marshmallow import ValidationError as MarshmallowError
from pymongo.errors import BulkWriteError, ConnectionFailure, DuplicateKeyError, PyMongoError

from services.common.auth import Principal, covers, significant_prefix
from services.common.case_codes import InvalidCaseCode
from services.common.case_codes import canonical_case_code as parse_case_code
from services.common.contracts import iso
from services.common.errors import (
    ApiError,
    Conflict,
    Forbidden,
    InvalidTransition,
    NotFound,
    ServiceUnavailable,
    TooManyRequests,
    ValidationFailed,
)
from services.common.metrics import ServiceMetrics
from services.common.pii import PiiCipher, mask_id_number, mask_name, mask_phone
from services.intake.dependencies import CaseGuard, IntakeClock
from services.intake.domain import parties as party_rules
from services.intake.domain.casefile import (
    EVENT_RULES,
    Facts,
    closing,
    event_entry,
    next_status,
    rating_refusal,
    record_facts,
    referral_after,
    same_referral,
    told_before,
)
from services.intake.domain.channels import channel_errors
from services.intake.domain.classification import Classification
from services.intake.domain.classification import Facts as RiskFacts
from services.intake.domain.codes import LOCAL_ZONE, case_code, county_of, local_day
from services.intake.domain.dedup import Candidate, Decision, Report, decide
from services.intake.domain.divisions import scope_keys
from services.intake.domain.freetext import masked, without_names
from services.intake.domain.views import file_view, progress_view, summary_view
from services.intake.metrics import IntakeMetrics
from services.intake.rulebook import Rulebook
from services.intake.schemas import RpcActorSchema, RpcCaseIntakeSchema
from services.intake.store import Contended, IntakeRepository, channel_key

log = logging.getLogger(__name__)
T = TypeVar("T")

# A workflow that lost a race for a case (another request or event changed it between read and
# write) runs again with a fresh read, this many times in all, pausing 20, 40, 80, 160 ms between.
CONFLICT_ATTEMPTS = 5
CONFLICT_PAUSE_SECONDS = 0.01
RPC_REGISTER_ROLES = ("admin", "court", "intake_clerk", "dispatcher", "leader", "department")
CLOSING_BATCH = 200
COURT_FIELDS = ("court_id", "batch_id", "referral_deadline")
INTAKE_ACTOR = {"service": "intake", "id": None}


class UnknownCase(LookupError):
    """An event or call about a case intake does not hold: retried, then dead-lettered."""


@dataclass(frozen=True)
class Outcome:
    outcome: str            # registered | merged | existing
    case: dict              # the report's own case document
    duplicate_of_id: str | None = None

    @property
    def jurisdiction(self) -> str:
        return self.case["jurisdiction"]

    def body(self) -> dict:
        return {
            "outcome": self.outcome,
            "case_id": self.case["_id"],
            "case_code": self.case["case_code"],
            "status": self.case["status"],
            "duplicate_of": self.case.get("duplicate_of"),
            "severity": self.case["severity"],
            "risk_flags": list(self.case["risk_flags"]),
        }


def bad_case_code(exc: InvalidCaseCode) -> ValidationFailed:
    return ValidationFailed(str(exc), {"code": [str(exc)]}, code="invalid_case_code")


def parse_code(code: str) -> str:
    try:
        return parse_case_code(code)
    except InvalidCaseCode as exc:
        raise bad_case_code(exc) from exc


def case_ref(case: dict) -> dict:
    return {"case_id": case["_id"], "case_code": case["case_code"], "jurisdiction": case["jurisdiction"],
            "category": case["category"]}


def forbidden_keys(value) -> bool:
    """True when a payload has a key that could act as a query operator ($…) or hide a NUL."""
    if isinstance(value, dict):
        return any(str(key).startswith("$") or "\x00" in str(key) or forbidden_keys(item)
                   for key, item in value.items())
    if isinstance(value, list):
        return any(forbidden_keys(item) for item in value)
    return False


def rejected(error: str, message: str, fields: dict | None = None) -> dict:
    return {"outcome": "rejected", "case_id": None, "case_code": None, "status": None, "duplicate_of": None,
            "severity": None, "risk_flags": [], "error": error, "message": message, "fields": fields or {},
            "duplicate_of_id": None}


def local_midnight(day) -> datetime:
    return datetime.combine(day, time.min, LOCAL_ZONE)


def retry_contended(run: Callable[[], T]) -> T:
    """Run `run` again when another writer changed the same document first (bounded, with a
    short back-off); when it keeps losing, the last Contended propagates."""
    attempt = 1
    while True:
        try:
            return run()
        except Contended:
            if attempt >= CONFLICT_ATTEMPTS:
                raise
        attempt += 1
        eventlet.sleep(CONFLICT_PAUSE_SECONDS * 2 ** (attempt - 1))


@contextmanager
def busy_when_contended() -> Iterator[None]:
    """A race that retrying did not settle is answered 503 `busy` (JSON), never a 500: the
    request changed nothing and may simply be sent again."""
    try:
        yield
    except Contended as exc:
        log.warning("giving up after %d attempts: %s", CONFLICT_ATTEMPTS, exc)
        raise busy() from exc
    except PyMongoError as exc:
        # transaction() has retried a transient conflict already; a lost connection is its own 503
        if isinstance(exc, ConnectionFailure) or not exc.has_error_label("TransientTransactionError"):
            raise
        log.warning("giving up on a write conflict: %s", exc.__class__.__name__)
        raise busy() from exc


def busy() -> ServiceUnavailable:
    return ServiceUnavailable("other requests are changing the same case at this moment; try again shortly",
                              code="busy")


def lost_unique_race(exc: PyMongoError) -> bool:
    """A unique key (a channel reference, a de-duplication lock) taken by a concurrent writer."""
    if isinstance(exc, DuplicateKeyError):
        return True
    errors = exc.details.get("writeErrors", []) if isinstance(exc, BulkWriteError) and exc.details else []
    return bool(errors) and all(error.get("code") == 11000 for error in errors)


def reference_key(payload: dict) -> str | None:
    """The unique key of the report's channel reference; None for a report without one."""
    if not payload.get("channel_ref"):
        return None
    return channel_key(payload["channel"], payload["channel_ref"], payload.get("court_id"))


class Intake:
    def __init__(self, store: IntakeRepository, rules: Rulebook, cipher: PiiCipher, clock: IntakeClock,
                 metrics: ServiceMetrics):
        self.store = store
        self.rules = rules
        self.cipher = cipher
        self.clock = clock
        self.metrics = metrics

    # -- registration --------------------------------------------------------------------
    def register_by_rpc(self, payload: object, actor: object) -> dict:
        """intake.register_case: the same registration for court_bridge, which may also say which
        court, batch and deadline. Bad arguments, refusals and races that retrying did not settle
        are answered `rejected` with an `error`, never raised; only an unreachable database raises
        (the caller retries the item later)."""
        try:
            caller = RpcActorSchema().load(actor)
        except MarshmallowError as exc:
            return rejected("validation_failed", "actor must be {sub, agency, roles}",
                            {"actor": exc.normalized_messages()})
        principal = Principal(sub=caller["sub"], agency=caller["agency"], roles=frozenset(caller["roles"]),
                              jurisdictions=())
        if not principal.has_role(*RPC_REGISTER_ROLES):
            return rejected("role_forbidden", f"registering needs one of the roles: {', '.join(RPC_REGISTER_ROLES)}")
        if not isinstance(payload, dict):
            return rejected("validation_failed", "payload must be an object", {"payload": ["not an object"]})
        if forbidden_keys(payload):
            return rejected("validation_failed", "field names may not start with '$'", {"payload": ["forbidden name"]})
        payload = dict(payload)
        if payload.get("channel") == "court_referral" and not payload.get("court_id") and principal.agency:
            payload["court_id"] = principal.agency
        try:
            loaded = RpcCaseIntakeSchema().load(payload)
            outcome = self.register(loaded, principal, via="rpc")
        except MarshmallowError as exc:
            return rejected("validation_failed", "the report has invalid fields", exc.normalized_messages())
        except ApiError as exc:
            return rejected(exc.code, exc.message, exc.fields)
        return {**outcome.body(), "error": None, "message": None, "fields": {},
                "duplicate_of_id": outcome.duplicate_of_id}

    def register(self, payload: dict, principal: Principal, *, via: str) -> Outcome:
        """Register one report: a new case, a merge into an earlier file, or the case a resend
        of the same reference (channel, channel_ref and, for a court, court_id) created before.
        Invalid input raises ValidationFailed; a race that retrying did not settle, 503 busy."""
        now = self.clock.now()
        self._check(payload, via, now)
        key = reference_key(payload)
        with busy_when_contended():
            existing = self._existing(key)
            if existing is not None:
                return existing
            prepared = self._prepare(payload, principal, now)
            outcome = retry_contended(partial(self._register_once, prepared, key))
        if outcome.outcome != "existing":
            self._count_registration(outcome, prepared)
        return outcome

    def _existing(self, key: str | None) -> Outcome | None:
        found = self.store.find_by_channel_key(key) if key else None
        return Outcome("existing", found, found.get("merged_into")) if found is not None else None

    def _register_once(self, prepared: dict, key: str | None) -> Outcome:
        try:
            return self.store.transaction(partial(self._register_in, prepared))
        except (DuplicateKeyError, BulkWriteError) as exc:
            if not lost_unique_race(exc):
                raise
            # a resend raced its original; or, on MongoDB, two first-ever dedup locks did
            existing = self._existing(key)
            if existing is not None:
                return existing
            raise Contended("a unique key was taken by a concurrent registration") from exc

    def _check(self, payload: dict, via: str, now: datetime) -> None:
        rule = self.rules.channels.rule(payload["channel"])
        if via == "http" and not rule.http:
            raise ValidationFailed(
                f"channel {rule.channel} arrives through court_bridge, not this route",
                {"channel": [f"{rule.channel} is registered by intake.register_case (court_bridge)"]},
            )
        errors = channel_errors(payload, rule)
        if payload["channel"] != "court_referral":
            for name in COURT_FIELDS:
                if payload.get(name) is not None:
                    errors.setdefault(name, []).append("only for channel court_referral")
        if payload.get("occurred_at") and payload["occurred_at"] > local_day(now):
            errors.setdefault("occurred_at", []).append("must not be in the future")
        if errors:
            raise ValidationFailed("the report is incomplete or invalid for its channel", errors)

    def _protect(self, party: dict) -> dict:
        encrypt = self.cipher.encrypt
        return {
            "party_id": uuid.uuid4().hex,
            "role": party["role"],
            "kind": party["kind"],
            "name_enc": encrypt(party["name"]),
            "name_masked": mask_name(party["name"]),
            "id_enc": encrypt(party["id_number"]) if party.get("id_number") else None,
            "id_masked": mask_id_number(party.get("id_number")),
            "phone_enc": encrypt(party["phone"]) if party.get("phone") else None,
            "phone_masked": mask_phone(party.get("phone")),
            "address_enc": encrypt(party["address"]) if party.get("address") else None,
        }

    def _prepare(self, payload: dict, principal: Principal, now: datetime) -> dict:
        """Everything about the report that needs no lock: code, protected parties, keys."""
        blind = self.cipher.blind_index
        jurisdiction, category = payload["jurisdiction"], payload["category"]
        day = local_day(now)
        county = county_of(jurisdiction)
        sequence = self.store.next_sequence(county, day.isoformat())
        person_keys: list[str] = []
        applicant_keys: list[str] = []
        for party in payload["parties"]:
            for key in party_rules.match_keys(party, blind):
                if key not in person_keys:
                    person_keys.append(key)
                if party["role"] == "applicant" and key not in applicant_keys:
                    applicant_keys.append(key)
        tails = sorted({tail for party in payload["parties"] if party["role"] in ("applicant", "respondent")
                        for tail in [party_rules.phone_tail(party.get("phone"))] if tail})
        case_id = uuid.uuid4().hex
        code = case_code(jurisdiction, day, category, sequence)
        summary, description = payload["summary"], payload.get("description") or ""
        channel = payload["channel"]
        court_referral = None
        if channel == "court_referral":
            deadline = payload.get("referral_deadline")
            default = self.rules.channels.rule(channel).default_deadline
            court_referral = {"court_id": payload["court_id"], "referral_id": payload["channel_ref"],
                              "batch_id": payload.get("batch_id"),
                              "deadline": deadline or (now + default if default else None)}
        doc = {
            "_id": case_id,
            "case_code": code,
            "channel": channel,
            "channel_ref": payload.get("channel_ref"),
            "channel_key": channel_key(channel, payload.get("channel_ref"), payload.get("court_id"), case_id),
            "grid": payload.get("grid"),
            "jurisdiction": jurisdiction,
            "county": county,
            "scope_keys": scope_keys(jurisdiction),
            "category": category,
            # personal numbers typed into the text are masked here; the original is kept encrypted
            "summary": masked(summary),
            "summary_enc": self._sealed(summary),
            "description": masked(description),
            "description_enc": self._sealed(description),
            "people_involved": payload["people_involved"],
            "amount": payload.get("amount"),
            "occurred_on": payload["occurred_at"].isoformat() if payload.get("occurred_at") else None,
            "attachments": payload.get("attachments") or [],
            "parties": [self._protect(party) for party in payload["parties"]],
            "person_keys": person_keys,
            "applicant_keys": applicant_keys,
            "contact_tails": tails,
            "reports": [{"case_id": case_id, "case_code": code, "channel": channel,
                         "channel_ref": payload.get("channel_ref"), "grid": payload.get("grid"), "at": now}],
            "channels": [channel],
            "court_referral": court_referral,
            "registered_at": now,
            "registered_by": principal.as_actor(),
            "status_at": now,
            "facts": Facts().as_doc(),
            "related": [],
            "duplicate_of": None,
            "merged_into": None,
            "repeat_of": None,
            "version": 0,
        }
        return {
            "doc": doc,
            "principal": principal,
            "now": now,
            "ages": tuple(party_rules.ages(payload["parties"], day)),
            "text": f"{summary}\n{description}",
            "event_summary": without_names(doc["summary"], [party["name"] for party in payload["parties"]]),
        }

    def _sealed(self, text: str) -> str | None:
        """The text encrypted when masking changes it (it has personal numbers), else None."""
        return self.cipher.encrypt(text) if masked(text) != text else None

    def _register_in(self, prepared: dict, uow) -> Outcome:
        doc, now, session = dict(prepared["doc"]), prepared["now"], uow.session
        lifecycle = self.rules.lifecycle
        self.store.lock_dedup_keys(
            [f"{doc['county']}:{doc['category']}:{key}" for key in doc["person_keys"]], now, session)
        lookback = self.rules.classifier.history_lookback
        since = now - max(self.rules.dedup.window, lookback)
        candidates = [self._candidate(found) for found in self.store.candidates(doc["person_keys"], since, session)]
        report = Report(channel=doc["channel"], category=doc["category"], jurisdiction=doc["jurisdiction"], at=now,
                        person_keys=frozenset(doc["person_keys"]), applicant_keys=frozenset(doc["applicant_keys"]))
        decision = decide(report, candidates, self.rules.dedup, lookback)
        classification = self.rules.classifier.classify(RiskFacts(
            category=doc["category"], text=prepared["text"], people_involved=doc["people_involved"],
            amount=doc["amount"], ages=prepared["ages"], same_matter_earlier=decision.same_matter_earlier,
            any_matter_earlier=decision.any_matter_earlier,
        ))
        doc.update(severity=classification.severity, risk_flags=list(classification.risk_flags),
                   risk_reasons=dict(classification.reasons), immediate_red=classification.immediate_red)
        registered = lifecycle.entry("intake.registered", now, INTAKE_ACTOR, {
            "channel_label": self.rules.channels.label(doc["channel"]), "case_code": doc["case_code"]})
        doc["timeline"] = [registered]
        if decision.merge_into is not None:
            return self._merge_in(doc, decision, classification, prepared, uow)
        return self._new_case_in(doc, decision, prepared, uow)

    @staticmethod
    def _candidate(doc: dict) -> Candidate:
        return Candidate(
            case_id=doc["_id"], case_code=doc["case_code"], status=doc["status"], category=doc["category"],
            jurisdiction=doc["jurisdiction"], channels=tuple(doc.get("channels") or ()),
            registered_at=doc["registered_at"], person_keys=frozenset(doc.get("person_keys") or ()),
            applicant_keys=frozenset(doc.get("applicant_keys") or ()),
        )

    def _new_case_in(self, doc: dict, decision: Decision, prepared: dict, uow) -> Outcome:
        now, session = prepared["now"], uow.session
        doc["status"] = "registered"
        if decision.repeat_of is not None:
            doc["repeat_of"] = decision.repeat_of.case_code
        self.store.insert_case(doc, session)
        if decision.repeat_of is not None:
            earlier = self.store.get_case(decision.repeat_of.case_id, session)
            note = self.rules.lifecycle.entry("intake.repeat_visit", now, INTAKE_ACTOR, {
                "channel_label": self.rules.channels.label(doc["channel"]), "case_code": doc["case_code"]})
            self.store.update_case(earlier, {"$push": {"timeline": note, "related": doc["case_code"]}}, session)
        court = doc["court_referral"]
        uow.emit("case_registered", case=case_ref(doc), occurred_at=now, data={
            "channel": doc["channel"],
            "channel_ref": doc["channel_ref"],
            "grid": doc["grid"],
            "summary": prepared["event_summary"],
            "severity": doc["severity"],
            "risk_flags": doc["risk_flags"],
            "immediate_red": doc["immediate_red"],
            "people_involved": doc["people_involved"],
            "amount": doc["amount"],
            "occurred_on": doc["occurred_on"],
            "registered_at": iso(now),
            "parties": [{"party_id": p["party_id"], "role": p["role"], "kind": p["kind"]} for p in doc["parties"]],
            "court_referral": {**court, "deadline": iso(court["deadline"])} if court else None,
            "repeat_of": doc["repeat_of"],
        })
        uow.audit(prepared["principal"], "case.register", case_code=doc["case_code"], details={
            "channel": doc["channel"], "severity": doc["severity"], "risk_flags": doc["risk_flags"],
            "repeat_of": doc["repeat_of"]})
        return Outcome("registered", doc)

    def _merge_in(self, doc: dict, decision: Decision, own: Classification, prepared: dict, uow) -> Outcome:
        now, session, lifecycle = prepared["now"], uow.session, self.rules.lifecycle
        target = self.store.get_case(decision.merge_into.case_id, session)
        before = Classification(target["severity"], tuple(target["risk_flags"]), dict(target.get("risk_reasons") or {}))
        after = before.combined(own)
        amounts = [value for value in (target.get("amount"), doc["amount"]) if value is not None]
        people = max(target["people_involved"], doc["people_involved"])
        amount = max(amounts) if amounts else None
        doc.update(status="merged", duplicate_of=target["case_code"], merged_into=target["_id"])
        doc["timeline"].append(lifecycle.entry("intake.merged_into", now, INTAKE_ACTOR,
                                               {"target_code": target["case_code"]}))
        self.store.insert_case(doc, session)
        joined = lifecycle.entry("intake.merged_in", now, INTAKE_ACTOR, {
            "channel_label": self.rules.channels.label(doc["channel"]), "case_code": doc["case_code"]})
        court = doc["court_referral"] or target.get("court_referral")
        self.store.update_case(target, {
            "$push": {"timeline": joined, "reports": doc["reports"][0]},
            "$addToSet": {"channels": doc["channel"], "person_keys": {"$each": doc["person_keys"]},
                          "applicant_keys": {"$each": doc["applicant_keys"]},
                          "contact_tails": {"$each": doc["contact_tails"]}},
            "$set": {"severity": after.severity, "risk_flags": list(after.risk_flags),
                     "risk_reasons": after.reasons, "immediate_red": after.immediate_red,
                     "people_involved": people, "amount": amount, "court_referral": court},
        }, session)
        uow.emit("case_merged", case=case_ref(target), occurred_at=now, data={
            "duplicate_case_id": doc["_id"],
            "duplicate_case_code": doc["case_code"],
            "channel": doc["channel"],
            "channel_ref": doc["channel_ref"],
            "severity": after.severity,
            "risk_flags": list(after.risk_flags),
            "immediate_red": after.immediate_red,
            "people_involved": people,
            "amount": amount,
            "court_referral": {**court, "deadline": iso(court["deadline"])} if court else None,
        })
        details = {"channel": doc["channel"], "duplicate": doc["case_code"], "file": target["case_code"]}
        uow.audit(prepared["principal"], "case.register_merged", case_code=doc["case_code"], details=details)
        uow.audit(prepared["principal"], "case.merge", case_code=target["case_code"], details=details)
        prepared["new_flags"] = [flag for flag in after.risk_flags if flag not in before.risk_flags]
        return Outcome("merged", doc, target["_id"])

    def _count_registration(self, outcome: Outcome, prepared: dict) -> None:
        case = outcome.case
        if outcome.outcome == "registered":
            IntakeMetrics(self.metrics).registered.labels(case["channel"], case["county"], case["category"]).inc()
            flags = case["risk_flags"]
        else:
            IntakeMetrics(self.metrics).merged.labels(case["channel"]).inc()
            flags = prepared.get("new_flags", [])
        risk = IntakeMetrics(self.metrics).risk_flags
        for flag in flags:
            risk.labels(flag).inc()

    # -- the case file, kept from the other services' events -----------------------------
    def apply_event(self, event: dict) -> object:
        """Keep the case file from another service's event: once per event id; a lost race with
        another writer is run again at once (bounded), then raised for the consumer to retry."""
        source, event_type = event["source"], event["event_type"]
        rule = EVENT_RULES[(source, event_type)]
        occurred_at = datetime.fromisoformat(event["occurred_at"].replace("Z", "+00:00"))
        data = event["data"]
        transitions: list[tuple[str, str, str]] = []

        def apply(uow):
            transitions.clear()
            case = self.store.get_case(event["case_id"], uow.session)
            if case is None:
                raise UnknownCase(f"{source}.{event_type} is about case {event['case_code']}, "
                                  "which intake does not hold")
            status_to = next_status(case["status"], case["status_at"], rule, occurred_at, data)
            facts = record_facts(Facts.from_doc(case.get("facts")), source, event_type, data)
            entry = event_entry(source, event_type, event["event_id"], occurred_at, data, self.rules.lifecycle,
                                status_to)
            update = {"$set": {"facts": facts.as_doc()}}
            if not told_before(case.get("timeline") or [], entry["kind"], entry.get("fact")):
                update["$push"] = {"timeline": {"$each": [entry]}}
            status, status_at = case["status"], case["status_at"]
            if status_to is not None:
                transitions.append((status, status_to, f"{source}.{event_type}"))
                status, status_at = status_to, occurred_at
                update["$set"].update(status=status_to, status_at=occurred_at)
            referral = referral_after(case.get("court_referral"), event_type, data)
            if referral is not None:
                update["$set"]["court_referral"] = referral
            self._settle(case, status, status_at, facts, update, transitions)
            self.store.update_case(case, update, uow.session)
            if event_type == "referral_extended" and case.get("merged_into"):
                self._extend_on_file(case["merged_into"], entry, data, uow.session)
            self._emit_transitions(uow, case, transitions)
            uow.audit(f"event:{source}.{event_type}", "case.event", case_code=case["case_code"],
                      details={"event_id": event["event_id"], "status": status_to})

        result = retry_contended(partial(self.store.transaction, apply, consumed=event))
        self._count_transitions(transitions)
        return result

    def _extend_on_file(self, file_id: str, entry: dict, data: dict, session) -> None:
        """A merged report's referral deadline is the file's when the file carries that referral
        (it took it over at the merge): extend it there, where staff and the public follow it."""
        file = self.store.get_case(file_id, session)
        if file is None or not same_referral(file.get("court_referral"), data):
            return
        update: dict = {"$set": {}}
        referral = referral_after(file["court_referral"], "referral_extended", data)
        if referral is not None:
            update["$set"]["court_referral"] = referral
        if not told_before(file.get("timeline") or [], entry["kind"], entry.get("fact")):
            update["$push"] = {"timeline": {"$each": [entry]}}
        if not update["$set"]:
            del update["$set"]
        if update:
            self.store.update_case(file, update, session)

    def _settle(self, case: dict, status: str, status_at: datetime, facts: Facts, update: dict,
                transitions: list) -> None:
        """Apply the closing rule to the case as `update` leaves it."""
        now = self.clock.now()
        decision = closing(status, status_at, facts, self.rules.lifecycle.rating_window, now)
        if decision.close_now:
            entry = self.rules.lifecycle.entry("intake.closed", now, INTAKE_ACTOR, {}, status="closed")
            update.setdefault("$push", {}).setdefault("timeline", {"$each": []})["$each"].append(entry)
            update["$set"].update(status="closed", status_at=now, closed_at=now, final_status=status)
            update["$unset"] = {"close_due_at": ""}
            transitions.append((status, "closed", decision.reason))
        elif decision.due_at is not None:
            update["$set"]["close_due_at"] = decision.due_at
        elif case.get("close_due_at") is not None:
            update["$unset"] = {"close_due_at": ""}

    def _emit_transitions(self, uow, case: dict, transitions: list) -> None:
        now = self.clock.now()
        for from_status, to_status, reason in transitions:
            uow.emit("case_status_changed", case=case_ref(case), occurred_at=now,
                     data={"from_status": from_status, "to_status": to_status, "reason": reason})
            if to_status == "closed":
                uow.emit("case_closed", case=case_ref(case), occurred_at=now,
                         data={"final_status": from_status, "closed_at": iso(now)})

    def _count_transitions(self, transitions: list) -> None:
        changes = IntakeMetrics(self.metrics).status_changes
        for from_status, to_status, _ in transitions:
            changes.labels(to_status).inc()
            if to_status == "closed":
                IntakeMetrics(self.metrics).closed.labels(from_status).inc()

    def close_due(self, lease_seconds: float) -> int:
        """Close the cases whose rating window has run out; one replica at a time."""
        holder = f"{socket.gethostname()}:{os.getpid()}:{id(self.store.connection)}"
        if not self.store.claim_lease("intake-closing", holder, lease_seconds):
            return 0
        closed = 0
        now = self.clock.now()
        for case_id in self.store.due_for_closing(now, CLOSING_BATCH):
            transitions: list = []
            try:
                retry_contended(partial(self.store.transaction, partial(self._close_in, case_id, transitions)))
            except Contended:
                log.warning("closing sweep: case %s kept changing; the next sweep closes it", case_id)
                continue
            self._count_transitions(transitions)
            closed += sum(1 for _, to_status, _ in transitions if to_status == "closed")
        return closed

    def _close_in(self, case_id: str, transitions: list, uow) -> None:
        transitions.clear()
        case = self.store.get_case(case_id, uow.session)
        if case is None or case.get("close_due_at") is None:
            return
        update: dict = {"$set": {}}
        self._settle(case, case["status"], case["status_at"], Facts.from_doc(case.get("facts")), update, transitions)
        if not update["$set"] and "$unset" not in update:
            return
        if not update["$set"]:
            del update["$set"]
        self.store.update_case(case, update, uow.session)
        self._emit_transitions(uow, case, transitions)
        uow.audit("system:closing-sweep", "case.close", case_code=case["case_code"],
                  details={"closed": bool(transitions)})

    # -- the public ----------------------------------------------------------------------
    def _window(self, subject: str, window_seconds: int) -> tuple[str, datetime]:
        """The counter key of `subject` (stored as a keyed hash) in the current fixed window, and
        when its counter may go (a minute after the window ends)."""
        now = self.clock.now()
        window = int(now.timestamp() // window_seconds)
        key = f"{self.cipher.blind_index(subject)[:32]}:{window}"
        return key, datetime.fromtimestamp((window + 1) * window_seconds, now.tzinfo) + timedelta(seconds=60)

    def admit_public(self, client: str, limit: int, window_seconds: int) -> None:
        """Fixed-window rate limit per client address (hashed), shared by all replicas."""
        key, expires = self._window("client:" + client, window_seconds)
        with busy_when_contended():
            hits = self.store.count_hit(key, expires)
        if hits > limit:
            IntakeMetrics(self.metrics).rate_limited.inc()
            raise TooManyRequests(f"too many requests: at most {limit} every {window_seconds} s; try again later")

    def _public_case(self, code: str, tail: str, guard: CaseGuard | None = None) -> dict:
        """The case for a code and a party's phone tail; a wrong tail is an unknown code.

        A code allows `guard.failures` wrong tails per fixed window, counted in the store for
        every replica; then it answers 429 to any tail, right or wrong, until the window passes.
        Each request reserves an attempt before the comparison and a right tail gives it back, so
        many requests at the same moment from many addresses cannot get more comparisons than
        that. Unknown codes are counted like known ones: the lock says nothing about a code either."""
        guard = guard or CaseGuard()
        canonical = parse_code(code)
        key, expires = self._window("case:" + canonical, guard.window_seconds)
        with busy_when_contended():
            attempts = self.store.count_hit(key, expires)
        if attempts > guard.failures:
            IntakeMetrics(self.metrics).case_locked.inc()
            if attempts == guard.failures + 1:
                log.warning("public routes: case code %s locked after %d wrong phone tails", canonical, guard.failures)
            raise TooManyRequests("too many wrong phone numbers for this case code; try again later")
        case = self.store.find_case(canonical)
        tails = (case or {}).get("contact_tails") or []
        if case is None or not any(hmac.compare_digest(tail, known) for known in tails):
            raise NotFound("no case with this code and phone number")    # the attempt stays counted
        self.store.release_hit(key)
        return case

    def progress(self, code: str, tail: str, guard: CaseGuard | None = None) -> dict:
        return progress_view(self._public_case(code, tail, guard), self.rules.lifecycle)

    def rate(self, code: str, tail: str, score: int, comment: str | None, guard: CaseGuard | None = None) -> dict:
        """Rate a resolved case once. Two ratings at the same moment: one is recorded, the
        other, run again, finds it and is answered 409."""
        case = self._public_case(code, tail, guard)
        transitions: list = []

        def rate_in(uow):
            transitions.clear()
            current = self.store.get_case(case["_id"], uow.session)
            refusal = rating_refusal(current["status"])
            if refusal:
                raise InvalidTransition(refusal, {"status": [current["status"]]})
            if current.get("rating"):
                raise Conflict("this case has been rated already", {"score": ["one rating per case"]})
            now = self.clock.now()
            facts = Facts.from_doc(current.get("facts"))
            facts.rated = True
            entry = self.rules.lifecycle.entry("intake.rated", now, {"service": "public", "id": None}, {})
            update = {"$set": {"rating": {"score": score, "comment": comment, "at": now}, "facts": facts.as_doc()},
                      "$push": {"timeline": {"$each": [entry]}}}
            self._settle(current, current["status"], current["status_at"], facts, update, transitions)
            self.store.update_case(current, update, uow.session)
            uow.emit("rating_submitted", case=case_ref(current), occurred_at=now,
                     data={"score": score, "has_comment": bool(comment)})
            self._emit_transitions(uow, current, transitions)
            uow.audit("public", "case.rate", case_code=current["case_code"], details={"score": score})
            return "closed" if transitions else current["status"]

        with busy_when_contended():
            status = retry_contended(partial(self.store.transaction, rate_in))
        self._count_transitions(transitions)
        IntakeMetrics(self.metrics).ratings.labels(str(score)).inc()
        return {"case_code": case["case_code"], "score": score, "status": status}

    # -- staff ---------------------------------------------------------------------------
    def case_file(self, principal: Principal, code: str) -> dict:
        canonical = parse_code(code)
        case = self.store.find_case(canonical)
        if case is None or not principal.covers(case["jurisdiction"]):
            raise NotFound(f"no case {canonical}")
        decrypt = self.cipher.decrypt
        parties = [{
            "party_id": party["party_id"], "role": party["role"], "kind": party["kind"],
            "name": decrypt(party["name_enc"]), "id_number": party.get("id_masked"),
            "phone": party.get("phone_masked"),
            "address": decrypt(party["address_enc"]) if party.get("address_enc") else None,
        } for party in case.get("parties") or []]
        # staff read the text as it was written, personal numbers included
        texts = {name: decrypt(case[f"{name}_enc"]) if case.get(f"{name}_enc") else case.get(name)
                 for name in ("summary", "description")}
        return file_view(case, parties, texts)

    def list_cases(self, principal: Principal, query: dict) -> dict:
        scopes = principal.scope_prefixes()
        if query.get("jurisdiction"):
            wanted = query["jurisdiction"]
            if not any(covers(scope, wanted) or covers(wanted, scope) for scope in principal.jurisdictions):
                raise Forbidden(f"jurisdiction {wanted} is outside this token's scope", code="jurisdiction_forbidden")
            if any(covers(scope, wanted) for scope in principal.jurisdictions):
                scopes = [significant_prefix(wanted)]
            else:  # a county's token asking for its city: the city's cases it may see, its own
                scopes = [prefix for prefix, scope in zip(scopes, principal.jurisdictions, strict=True)
                          if covers(wanted, scope)]
        # One flat filter, an equality on scope_keys where one prefix will do: that is the shape
        # the store seeks on its listing indexes.
        filter_: dict = {"scope_keys": scopes[0] if len(scopes) == 1 else {"$in": sorted(set(scopes))}}
        for name in ("status", "channel", "category"):
            if query.get(name):
                filter_[name] = query[name]
        registered: dict = {}
        if query.get("from_"):
            registered["$gte"] = local_midnight(query["from_"])
        if query.get("to"):
            registered["$lt"] = local_midnight(query["to"] + timedelta(days=1))
        if registered:
            filter_["registered_at"] = registered
        page, size = query["page"], query["page_size"]
        docs, total = self.store.list_cases(filter_, (page - 1) * size, size)
        return {"items": [summary_view(doc) for doc in docs], "page": page, "page_size": size, "total": total}

    # -- notify, just before sending -----------------------------------------------------
    def contacts(self, case_id: str, roles: list[str] | None, caller: str) -> list[dict]:
        case = self.store.get_case(case_id)
        if case is None:
            raise UnknownCase(f"intake holds no case {case_id}")
        decrypt = self.cipher.decrypt
        result = [{
            "party_id": party["party_id"], "role": party["role"], "kind": party["kind"],
            "name": decrypt(party["name_enc"]),
            "phone": decrypt(party["phone_enc"]) if party.get("phone_enc") else None,
            "address": decrypt(party["address_enc"]) if party.get("address_enc") else None,
        } for party in case.get("parties") or [] if roles is None or party["role"] in roles]

        def audit(uow):
            uow.audit(caller, "case.contacts_read", case_code=case["case_code"],
                      details={"roles": sorted(roles) if roles is not None else None, "parties": len(result)})

        self.store.transaction(audit)
        return result
