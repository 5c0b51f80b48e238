"""A court's referral batch (诉前委派批量推送): up to 10,000 items, one answer per item.

  1. each item is checked on its own (shape, then the business rules): a bad item is
     rejected alone, with its reason;
  2. referrals we have recorded before are answered "duplicate" with their case code;
  3. intake registers the others (RPC, several at a time). intake is idempotent on the
     referral id, so a referral whose registration we never recorded (a timeout, a crash,
     two resends racing) is answered "existing" and simply recorded now;
  4. results are written in chunks — the referral records (unique per court and referral
     id), one `referral_received` each and the audit — one transaction per chunk. When a
     racing request recorded some of a chunk first (a duplicate key) or is recording them
     (a write conflict that outlasts the transaction's retries), the chunk is written item
     by item; the ones it lost are answered "duplicate" from the racer's record, or
     `retry_later` while that record is not committed yet: nothing is emitted twice, and
     the route never answers 500 for a race.

When intake stops answering, or the request's time budget is spent, the items not yet sent
are answered "rejected" with the reason `retry_later`: sending the batch again is harmless,
and the items done already come back "duplicate" at once.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime

import eventlet
from marshmallow import ValidationError
from nameko.exceptions import RemoteError, UnknownService
from pymongo.errors import BulkWriteError, DuplicateKeyError, OperationFailure

from services.common.auth import Principal
from services.common.contracts import iso
from services.common.errors import ServiceUnavailable
from services.common.mongo import Repository
from services.court_bridge.domain import referrals as rules
from services.court_bridge.domain.model import Court, Reference
from services.court_bridge.metrics import CourtMetrics
from services.court_bridge.schemas import ReferralItemSchema

log = logging.getLogger(__name__)

WRITE_CHUNK = 250
INTAKE_RETRY_PAUSES = (0.1, 0.5)  # seconds before asking intake again about an item it failed on
_item_schema = ReferralItemSchema()
RECORDED_FIELDS = ("jurisdiction", "category", "cause", "amount", "people_involved", "referred_at")
COURT_ONLY_FIELDS = ("cause", "referred_at")  # the court's own; not part of the case intake payload


DUPLICATE_KEY, WRITE_CONFLICT = 11000, 112


def lost_to_a_racer(exc: Exception) -> bool:
    """True for the failures another request writing the same referral causes: a duplicate key
    (it committed first) or a write conflict the transaction's retries did not get past (its
    transaction is still open). Anything else is not ours to answer for."""
    if isinstance(exc, BulkWriteError):
        errors = exc.details.get("writeErrors") or []
        return bool(errors) and all(error.get("code") in (DUPLICATE_KEY, WRITE_CONFLICT) for error in errors)
    if isinstance(exc, DuplicateKeyError):
        return True
    return isinstance(exc, OperationFailure) and (
        exc.code == WRITE_CONFLICT or exc.has_error_label("TransientTransactionError"))


@dataclass
class Entry:
    index: int
    channel_ref: str
    key: str
    item: dict
    raw: dict
    answer: dict | None = None
    error: str | None = None
    other_court: str | None = None  # the court whose case intake answered with, when not ours


@dataclass
class Results:
    items: list
    counts: dict = field(default_factory=lambda: {rules.ACCEPTED: 0, rules.DUPLICATE: 0, "rejected": 0})

    def set(self, index: int, channel_ref, result: str, case_code=None, reason=None, detail=None,
            fields=None) -> None:
        entry = {"channel_ref": channel_ref, "result": result, "case_code": case_code, "reason": reason,
                 "detail": detail}
        if fields:
            entry["fields"] = fields
        self.items[index] = entry
        self.counts[result] += 1


class ReferralBatch:
    def __init__(self, store: Repository, reference: Reference, intake_rpc, metrics: CourtMetrics,
                 principal: Principal, court: Court, batch_id: str, now: datetime, *,
                 concurrency: int, time_budget: float):
        self.store = store
        self.db = store.db
        self.reference = reference
        self.intake = intake_rpc
        self.metrics = metrics
        self.principal = principal
        self.court = court
        self.batch_id = batch_id
        self.now = now
        self.concurrency = concurrency
        self.intake_down = False
        # Items not sent to intake by then are answered retry_later, so that the answer comes
        # before the court's (or a proxy's) timeout even when the store or intake is slow.
        self.give_up_at = time.monotonic() + time_budget

    def run(self, raw_items: list) -> dict:
        results = Results([None] * len(raw_items))
        candidates = self._screen(raw_items, results)
        self._register(self._known(candidates, results), results)
        for entry in results.items:
            self.metrics.referrals.labels(self.court.court_id, entry["result"]).inc()

        def summarise(uow) -> None:
            uow.audit(self.principal, "referral.batch", details={
                "court_id": self.court.court_id, "batch_id": self.batch_id, "items": len(raw_items),
                **results.counts})

        self.store.transaction(summarise)
        return {"court_id": self.court.court_id, "batch_id": self.batch_id, "received": len(raw_items),
                **results.counts, "results": results.items}

    # -- 1. checks, item by item ----------------------------------------------------------
    def _screen(self, raw_items: list, results: Results) -> list[Entry]:
        screened, loaded = [], {}
        for index, raw in enumerate(raw_items):
            ref = raw.get("channel_ref") if isinstance(raw, dict) else None
            ref = ref if isinstance(ref, str) else None
            if not isinstance(raw, dict):
                results.set(index, None, "rejected", reason="invalid", detail="an item must be a JSON object")
                continue
            try:
                item = _item_schema.load(raw)
            except ValidationError as exc:
                results.set(index, ref, "rejected", reason="invalid", detail="the item has invalid fields",
                            fields=exc.normalized_messages())
                continue
            screened.append(rules.screen_item(index, item, self.court, self.reference, self.principal.covers,
                                              self.now))
            # Keep only what the record needs of the loaded copy: with the raw item (sent to
            # intake as it came) a whole copy of 10,000 items would stay in memory to the end.
            loaded[index] = ({key: item.get(key) for key in RECORDED_FIELDS}, raw)
        candidates = []
        for verdict in rules.mark_repeats(screened):
            if verdict.repeated:
                results.set(verdict.index, verdict.channel_ref, rules.DUPLICATE, reason="repeated_in_batch",
                            detail=verdict.detail)
            elif verdict.reason:
                results.set(verdict.index, verdict.channel_ref, "rejected", reason=verdict.reason,
                            detail=verdict.detail)
            else:
                item, raw = loaded[verdict.index]
                candidates.append(Entry(verdict.index, verdict.channel_ref,
                                        rules.referral_key(self.court.court_id, verdict.channel_ref), item, raw))
        return candidates

    # -- 2. what we have recorded before ------------------------------------------------
    def _known(self, candidates: list[Entry], results: Results) -> list[Entry]:
        recorded = self.store.referrals_by_key([entry.key for entry in candidates])
        fresh = []
        for entry in candidates:
            doc = recorded.get(entry.key)
            if doc is None:
                fresh.append(entry)
            else:
                self._recorded_before(entry, doc, results)
        return fresh

    @staticmethod
    def _recorded_before(entry: Entry, doc: dict, results: Results) -> None:
        results.set(entry.index, entry.channel_ref, rules.DUPLICATE, case_code=doc.get("merged_into")
                    or doc["case_code"], reason="already_received", detail="this referral was received before")

    # -- 3. intake ------------------------------------------------------------------------
    def _payload(self, entry: Entry) -> dict:
        payload = {key: value for key, value in entry.raw.items() if key not in COURT_ONLY_FIELDS}
        payload.update(court_id=self.court.court_id, batch_id=self.batch_id,
                       referral_deadline=iso(self._deadline(entry)))
        return payload

    def _deadline(self, entry: Entry) -> datetime:
        return rules.referral_deadline(entry.item.get("referred_at") or self.now, self.court)

    def _call_intake(self, entry: Entry) -> Entry:
        # intake is idempotent on the referral id, so an item it failed on (a write conflict
        # among the calls in flight, say) is simply asked again, a little later.
        for attempt, pause in enumerate(INTAKE_RETRY_PAUSES + (None,), start=1):
            if self.intake_down:
                entry.error = "intake is not answering"
                return entry
            if time.monotonic() > self.give_up_at:
                entry.error = "this request's time budget is spent"
                return entry
            try:
                entry.answer = self.intake.register_case(self._payload(entry), self.principal.as_actor())
                return entry
            except (ServiceUnavailable, UnknownService) as exc:
                self.intake_down = True
                entry.error = str(exc) or exc.__class__.__name__
                log.warning("referral batch %s: intake unavailable (%s); the rest is answered retry_later",
                            self.batch_id, entry.error)
                return entry
            except RemoteError as exc:
                entry.error = f"intake failed: {exc.exc_type}"
                if pause is None:
                    log.error("referral batch %s: intake.register_case failed for an item %d times: %s",
                              self.batch_id, attempt, exc)
                    return entry
                eventlet.sleep(pause)
        return entry

    def _register(self, fresh: list[Entry], results: Results) -> None:
        pool = eventlet.GreenPool(self.concurrency)
        chunk: list[Entry] = []
        for entry in pool.imap(self._call_intake, fresh):
            chunk.append(entry)
            if len(chunk) >= WRITE_CHUNK:
                self._record(chunk, results)
                chunk = []
        if chunk:
            self._record(chunk, results)

    # -- 4. results -----------------------------------------------------------------------
    def _outcome(self, entry: Entry) -> str:
        if entry.answer is None:
            return "retry"
        if entry.other_court is not None:
            return "clash"
        outcome = entry.answer.get("outcome")
        if outcome in ("registered", "merged", "existing") and entry.answer.get("case_code"):
            return "open"
        if outcome == "rejected":
            return "rejected"
        entry.error = f"intake answered {outcome!r}"
        return "retry"

    def _record_doc(self, entry: Entry) -> dict:
        answer, item = entry.answer, entry.item
        return {
            "_id": entry.key, "court_id": self.court.court_id, "referral_id": entry.channel_ref,
            "batch_id": self.batch_id, "state": rules.OPEN, "case_id": answer["case_id"],
            "case_code": answer["case_code"],
            # a merged report (now, or when first sent) carries on as the case it joined
            "merged_into": answer.get("duplicate_of"),
            "jurisdiction": item["jurisdiction"], "category": item["category"], "cause": item.get("cause"),
            "received_at": self.now, "referred_at": item.get("referred_at"), "deadline": self._deadline(entry),
            "extended_days": 0, "extensions": [],
            "facts": {"amount": item.get("amount"), "people_involved": item["people_involved"]},
            "created_at": self.now,
        }

    def _record(self, chunk: list[Entry], results: Results) -> None:
        self._find_clashes([entry for entry in chunk if self._outcome(entry) == "open"])
        opened = [entry for entry in chunk if self._outcome(entry) == "open"]
        lost: set[int] = set()
        if opened:
            try:
                self.store.transaction(lambda uow: self._write(uow, opened))
            except (BulkWriteError, DuplicateKeyError, OperationFailure) as exc:
                if not lost_to_a_racer(exc):
                    raise
                # A racing request recorded (or is recording) some of these: write one by one.
                for entry in opened:
                    try:
                        self.store.transaction(lambda uow, entry=entry: self._write(uow, [entry]))
                    except (DuplicateKeyError, OperationFailure) as exc:
                        if not lost_to_a_racer(exc):
                            raise
                        lost.add(entry.index)
        for entry in chunk:
            if entry.index in lost:
                self._lost(entry, results)
            else:
                self._answer(entry, self._outcome(entry), results)

    def _find_clashes(self, opened: list[Entry]) -> None:
        """Mark the items intake answered with a case another court referred.

        intake finds an earlier registration by the referral id; two courts may use the same
        ids, so "existing" can name another court's case. Filing this court's referral under
        it would send this court's feedback about a case it never referred (and leave its own
        referral unmediated): such an item is rejected. The other court is the one intake's
        answer names (`court_referral.court_id`, when intake sends it) or, failing that, the
        court of our own record of that case.
        """
        existing = [entry for entry in opened if entry.answer.get("outcome") == "existing"]
        if not existing:
            return
        recorded = self.store.courts_of_cases([entry.answer["case_code"] for entry in existing])
        for entry in existing:
            named = (entry.answer.get("court_referral") or {}).get("court_id")
            courts = {named} if named else recorded.get(entry.answer["case_code"], set())
            others = sorted(court for court in courts if court != self.court.court_id)
            if others:
                entry.other_court = others[0]
                log.error("referral batch %s: intake answered referral %s with case %s of court %s; rejected",
                          self.batch_id, entry.channel_ref, entry.answer["case_code"], entry.other_court)

    def _lost(self, entry: Entry, results: Results) -> None:
        """A racing request won this referral's record: answer from its record. While the racer's
        transaction is still open its record cannot be read yet, and it may still abort: the
        court is told to send the item again rather than "duplicate" for a referral that might
        never be recorded."""
        doc = self.db.referrals.find_one({"_id": entry.key})
        if doc is not None:
            self._recorded_before(entry, doc, results)
        else:
            results.set(entry.index, entry.channel_ref, "rejected", reason="retry_later",
                        detail="another request is recording this referral now; send the batch again to "
                               "see its result")

    def _write(self, uow, entries: list[Entry]) -> None:
        docs = [self._record_doc(entry) for entry in entries]
        if len(docs) == 1:
            self.db.referrals.insert_one(docs[0], session=uow.session)
        else:
            self.db.referrals.insert_many(docs, session=uow.session)
        for entry in entries:
            answer = entry.answer
            uow.emit("referral_received", case={
                "case_id": answer["case_id"], "case_code": answer["case_code"],
                "jurisdiction": entry.item["jurisdiction"], "category": entry.item["category"],
            }, data={"court_id": self.court.court_id, "batch_id": self.batch_id,
                     "referral_id": entry.channel_ref, "deadline": iso(self._deadline(entry))})
        # One audit record per chunk, naming every referral and case it recorded: 40 records
        # for a 10,000-item batch rather than 10,000 (intake audits each registration on its side).
        uow.audit(self.principal, "referral.accept", case_code=docs[0]["case_code"] if len(docs) == 1 else None,
                  details={"court_id": self.court.court_id, "batch_id": self.batch_id,
                           "referrals": [[doc["referral_id"], doc["case_code"]] for doc in docs]})

    def _answer(self, entry: Entry, kind: str, results: Results) -> None:
        ref = entry.channel_ref
        if kind == "open":
            answer = entry.answer
            if answer["outcome"] == "existing":
                results.set(entry.index, ref, rules.DUPLICATE, case_code=answer.get("duplicate_of")
                            or answer["case_code"], reason="already_registered",
                            detail="intake registered this referral before")
            elif answer["outcome"] == "merged":
                results.set(entry.index, ref, rules.ACCEPTED, case_code=answer.get("duplicate_of")
                            or answer["case_code"], reason="merged",
                            detail="the dispute was already registered; merged into that case")
            else:
                results.set(entry.index, ref, rules.ACCEPTED, case_code=answer["case_code"])
        elif kind == "clash":
            results.set(entry.index, ref, "rejected", reason="referral_id_clash",
                        detail=f"intake holds referral id {ref} as a case of {entry.other_court}; this court's "
                               "referral was not registered and nothing was filed under that case — give it a "
                               "referral id of its own, or ask the centre to look into it")
        elif kind == "rejected":
            results.set(entry.index, ref, "rejected", reason=entry.answer.get("error") or "rejected_by_intake",
                        detail=entry.answer.get("message"), fields=entry.answer.get("fields"))
        else:
            results.set(entry.index, ref, "rejected", reason="retry_later",
                        detail=f"not registered now ({entry.error}); send the batch again later")
