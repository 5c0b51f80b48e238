"""court_bridge's collections, their indexes (one per query path), and queries.

  referrals  one per (court, referral id): the case, the period, the feedback
  cases      one per case code: facts for the filing rules, agreement, confirmation,
             filing, enforcement and on-site records
  messages   the outbound queue to the courts (retried with back-off; the stuck list)
  polls      applications and filings waiting for the court's decision
"""

from __future__ import annotations

from datetime import datetime

from pymongo import ASCENDING, DESCENDING, IndexModel, ReturnDocument

from services.common.mongo import Repository

# SecantusDB answers `$in` over a few hundred keys quickly and slows sharply beyond that.
IN_CHUNK = 200


class CourtBridgeRepository(Repository):
    indexes = {
        "referrals": [
            IndexModel([("case_code", ASCENDING), ("state", ASCENDING)]),
            IndexModel([("merged_into", ASCENDING)], sparse=True),
            IndexModel([("state", ASCENDING), ("deadline", ASCENDING)]),
            IndexModel([("court_id", ASCENDING), ("batch_id", ASCENDING)]),
        ],
        "cases": [
            IndexModel([("case_id", ASCENDING)]),
            IndexModel([("confirmation.next_check_at", ASCENDING)], sparse=True),
            IndexModel([("confirmation.warning", ASCENDING), ("jurisdiction", ASCENDING)], sparse=True),
        ],
        "messages": [
            IndexModel([("state", ASCENDING), ("due_at", ASCENDING)]),
            IndexModel([("operation", ASCENDING), ("state", ASCENDING)]),
            IndexModel([("stuck", ASCENDING), ("created_at", DESCENDING)]),
            IndexModel([("case_code", ASCENDING), ("created_at", ASCENDING)]),
        ],
        "polls": [
            IndexModel([("state", ASCENDING), ("due_at", ASCENDING)]),
            IndexModel([("stuck", ASCENDING), ("created_at", DESCENDING)]),
        ],
    }

    # -- referrals --------------------------------------------------------------------
    def referrals_by_key(self, keys: list[str]) -> dict[str, dict]:
        found = {}
        for start in range(0, len(keys), IN_CHUNK):
            for doc in self.db.referrals.find({"_id": {"$in": keys[start:start + IN_CHUNK]}}):
                found[doc["_id"]] = doc
        return found

    def courts_of_cases(self, case_codes: list[str]) -> dict[str, set[str]]:
        """The courts whose referrals became each of these cases (case code → court ids)."""
        courts: dict[str, set[str]] = {}
        for start in range(0, len(case_codes), IN_CHUNK):
            for doc in self.db.referrals.find({"case_code": {"$in": case_codes[start:start + IN_CHUNK]}},
                                              {"case_code": 1, "court_id": 1}):
                courts.setdefault(doc["case_code"], set()).add(doc["court_id"])
        return courts

    def referrals_for_case(self, case_code: str, states: tuple[str, ...] | None = None,
                           session=None) -> list[dict]:
        """The referrals that became this case, or were merged into it by intake."""
        found = {}
        for key in ("case_code", "merged_into"):
            query: dict = {key: case_code}
            if states:
                query["state"] = {"$in": list(states)}
            for doc in self.db.referrals.find(query, session=session):
                found[doc["_id"]] = doc
        return sorted(found.values(), key=lambda doc: (doc.get("received_at") or doc["created_at"], doc["_id"]))

    def overdue_referrals(self, now: datetime, limit: int) -> list[dict]:
        return list(self.db.referrals.find({"state": "open", "deadline": {"$lte": now}})
                    .sort("deadline", ASCENDING).limit(limit))

    # -- cases ------------------------------------------------------------------------
    def case(self, case_code: str) -> dict | None:
        return self.db.cases.find_one({"_id": case_code})

    def confirmations_to_check(self, now: datetime, limit: int) -> list[dict]:
        return list(self.db.cases.find({"confirmation.next_check_at": {"$lte": now}})
                    .sort("confirmation.next_check_at", ASCENDING).limit(limit))

    def confirmations_warned(self, scope_regex: str | None, limit: int) -> list[dict]:
        query: dict = {"confirmation.warning": {"$in": ["due_soon", "overdue"]}}
        if scope_regex is not None:
            query["jurisdiction"] = {"$regex": scope_regex}
        return list(self.db.cases.find(query).sort("confirmation.apply_by", ASCENDING).limit(limit))

    # -- the outbound queue and polls -------------------------------------------------
    @staticmethod
    def _due_state(collection: str) -> str:
        return "pending" if collection == "messages" else "active"

    def any_due(self, collection: str, now: datetime) -> bool:
        return self.db[collection].find_one({"state": self._due_state(collection), "due_at": {"$lte": now}},
                                            {"_id": 1}) is not None

    def claim_due(self, collection: str, now: datetime, lease_until: datetime) -> dict | None:
        """Take the next due item until `lease_until`; no other worker or replica takes it meanwhile.

        One atomic single-document update, as the outbox relay claims its events: the lease
        is bookkeeping, not a change to a case (nothing to audit, no event), and inside a
        transaction concurrent claimers of the same item would abort one another instead
        of the loser simply taking the next item.
        """
        return self.db[collection].find_one_and_update(
            {"state": self._due_state(collection), "due_at": {"$lte": now}},
            {"$set": {"due_at": lease_until}},
            sort=[("due_at", ASCENDING)],
            return_document=ReturnDocument.AFTER,
        )

    def messages_for_case(self, case_code: str) -> list[dict]:
        return list(self.db.messages.find({"case_code": case_code}).sort("created_at", ASCENDING))

    def count_messages(self, operation: str, state: str) -> int:
        return self.db.messages.count_documents({"operation": operation, "state": state})

    def stuck(self, collection: str, scope_regex: str | None, limit: int) -> list[dict]:
        query: dict = {"stuck": True}
        if scope_regex is not None:
            query["jurisdiction"] = {"$regex": scope_regex}
        return list(self.db[collection].find(query).sort("created_at", DESCENDING).limit(limit))

    def count_stuck(self, collection: str) -> int:
        return self.db[collection].count_documents({"stuck": True})
