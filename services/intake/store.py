"""Intake's repository: case files, code sequences, de-duplication locks, public rate limits
(per client, and wrong phone tails per case code).

Every query below has its index; a scoped listing matches `scope_keys` (the significant
prefixes of the case's division and its ancestors) instead of scanning prefixes.
"""

from __future__ import annotations

from datetime import datetime

from pymongo import ASCENDING, DESCENDING, IndexModel, ReturnDocument, UpdateOne
from pymongo.errors import DuplicateKeyError

from services.common.mongo import Repository

# What de-duplication and the history rule read of an earlier case.
CANDIDATE_FIELDS = {"case_code": 1, "status": 1, "category": 1, "jurisdiction": 1, "channels": 1,
                    "registered_at": 1, "person_keys": 1, "applicant_keys": 1}
LIST_FIELDS = {"parties": 0, "timeline": 0, "description": 0, "person_keys": 0, "applicant_keys": 0,
               "contact_tails": 0, "attachments": 0, "rating.comment": 0, "summary_enc": 0, "description_enc": 0}
CANDIDATE_LIMIT = 200
SEQUENCE_ATTEMPTS = 5
DEDUP_LOCK_TTL_SECONDS = 24 * 3600


# Query paths give no index hints where a seek is what the planner chooses anyway: the
# embedded store walks a hinted index from end to end (measured: 1.7 s instead of 70 ms for a
# listing of 20,000 cases). The closing sweep keeps its hint: its index is partial, and a
# planner that cannot prove the filter implies it would scan.
PERSON_KEYS_INDEX = [("person_keys", ASCENDING), ("registered_at", DESCENDING)]
CLOSE_DUE_INDEX = [("close_due_at", ASCENDING)]
LISTING_FILTERS = ("status", "category", "channel")


def listing_index(field: str | None = None) -> list[tuple[str, int]]:
    middle = [(field, ASCENDING)] if field else []
    return [("scope_keys", ASCENDING), *middle, ("registered_at", DESCENDING), ("_id", DESCENDING)]


class IntakeRepository(Repository):
    indexes = {
        "cases": [
            IndexModel([("case_code", ASCENDING)], unique=True),
            # a resend of the same report (110 incident, a court's referral id …) finds its case;
            # every case has a channel_key (reports without a reference get a unique one), so
            # this is a plain unique index: partial indexes are not used by every store
            IndexModel([("channel_key", ASCENDING)], unique=True),
            # de-duplication and the repeat-petitioner rule
            IndexModel(PERSON_KEYS_INDEX),
            # staff listings, scoped, with each filter
            IndexModel(listing_index()),
            *[IndexModel(listing_index(field)) for field in LISTING_FILTERS],
            # the closing sweep
            IndexModel(CLOSE_DUE_INDEX, partialFilterExpression={"close_due_at": {"$type": "date"}}),
        ],
        "dedup_locks": [IndexModel([("at", ASCENDING)], expireAfterSeconds=DEDUP_LOCK_TTL_SECONDS)],
        "rate_limits": [IndexModel([("expires_at", ASCENDING)], expireAfterSeconds=0)],
    }

    # -- codes ---------------------------------------------------------------------------
    def next_sequence(self, county: str, day: str) -> int:
        """The county's next number for the day; atomic across replicas (gaps are harmless)."""
        key = f"{county}:{day}"
        for _ in range(SEQUENCE_ATTEMPTS):
            try:
                doc = self.db.code_sequences.find_one_and_update(
                    {"_id": key}, {"$inc": {"value": 1}}, upsert=True,
                    return_document=ReturnDocument.AFTER,
                )
            except DuplicateKeyError:  # two first-of-the-day upserts raced; the loser retries
                continue
            # The embedded store can answer None to an upsert that raced another client's,
            # after applying it: the number is lost (a gap), the next one is ours.
            if doc is not None:
                return doc["value"]
        raise Contended(f"cannot allocate a sequence for {key}")

    # -- reading cases -------------------------------------------------------------------
    def find_case(self, case_code: str, session=None) -> dict | None:
        return self.db.cases.find_one({"case_code": case_code}, session=session)

    def get_case(self, case_id: str, session=None) -> dict | None:
        return self.db.cases.find_one({"_id": case_id}, session=session)

    def find_by_channel_key(self, key: str, session=None) -> dict | None:
        return self.db.cases.find_one({"channel_key": key}, session=session)

    def candidates(self, person_keys: list[str], since: datetime, session=None) -> list[dict]:
        """Earlier cases sharing a person with a new report, newest first."""
        if not person_keys:
            return []
        # The window is applied here rather than in the filter: $in with a range on the second
        # key of the index is one the embedded store's planner scans for.
        cursor = self.db.cases.find(
            {"person_keys": {"$in": person_keys}}, CANDIDATE_FIELDS, session=session,
        ).sort("registered_at", DESCENDING).limit(CANDIDATE_LIMIT)
        return [case for case in cursor if case["registered_at"] >= since]

    def list_cases(self, query: dict, skip: int, limit: int) -> tuple[list[dict], int]:
        """One page of a scoped listing (scope_keys, and a filter's own index when it has one)."""
        cursor = (self.db.cases.find(query, LIST_FIELDS).sort([("registered_at", DESCENDING), ("_id", DESCENDING)])
                  .skip(skip).limit(limit))
        return list(cursor), self.db.cases.count_documents(query)

    def due_for_closing(self, now: datetime, limit: int) -> list[str]:
        cursor = self.db.cases.find({"close_due_at": {"$lte": now}}, {"_id": 1}).sort(
            "close_due_at", ASCENDING).limit(limit).hint(CLOSE_DUE_INDEX)
        return [doc["_id"] for doc in cursor]

    # -- writing cases (inside a transaction) --------------------------------------------
    def lock_dedup_keys(self, lock_ids: list[str], now: datetime, session) -> None:
        """Write one lock per (county, category, person): two replicas registering the same
        dispute at the same moment conflict here, and the retry sees the other's case."""
        if lock_ids:
            self.db.dedup_locks.bulk_write(
                [UpdateOne({"_id": lock_id}, {"$set": {"at": now}}, upsert=True) for lock_id in sorted(lock_ids)],
                ordered=True, session=session,
            )

    def insert_case(self, doc: dict, session) -> None:
        self.db.cases.insert_one(doc, session=session)

    def update_case(self, case: dict, update: dict, session) -> None:
        """Apply `update` to the version of the case that was read; anything else is a conflict."""
        update.setdefault("$inc", {})["version"] = 1
        result = self.db.cases.update_one({"_id": case["_id"], "version": case["version"]}, update,
                                          session=session)
        if result.matched_count != 1:
            raise ConcurrentUpdate(f"case {case['case_code']} changed while it was being updated")

    # -- public rate limits --------------------------------------------------------------
    def count_hit(self, key: str, expires_at: datetime) -> int:
        """Count a request in a fixed window shared by every replica; returns the count so far."""
        for _ in range(SEQUENCE_ATTEMPTS):
            try:
                doc = self.db.rate_limits.find_one_and_update(
                    {"_id": key}, {"$inc": {"hits": 1}, "$setOnInsert": {"expires_at": expires_at}},
                    upsert=True, return_document=ReturnDocument.AFTER,
                )
            except DuplicateKeyError:  # the window's first two requests raced
                continue
            # a raced upsert the store applied but answered None for (see next_sequence)
            doc = doc or self.db.rate_limits.find_one({"_id": key})
            if doc is not None:
                return doc["hits"]
        raise Contended("cannot count a public request")

    def release_hit(self, key: str) -> None:
        """Give back a request counted with `count_hit` (a right phone tail is no failure)."""
        self.db.rate_limits.update_one({"_id": key, "hits": {"$gt": 0}}, {"$inc": {"hits": -1}})


def channel_key(channel: str, channel_ref: str | None, court_id: str | None = None,
                case_id: str | None = None) -> str:
    """The report's reference as one unique key; a report without a reference is only itself.

    A court's referral id is unique within that court only (two courts may both send 1号), so a
    court referral's key names its court."""
    if not channel_ref:
        return f"{channel}|#{case_id}"
    return f"{channel}|{court_id}|{channel_ref}" if court_id else f"{channel}|{channel_ref}"


class Contended(RuntimeError):
    """Other writers kept winning the race for the same document; trying again shortly will do."""


class ConcurrentUpdate(Contended):
    """The case changed between read and write; the workflow retries it with a fresh read."""
