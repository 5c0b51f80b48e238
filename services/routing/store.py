"""Routing's repository: cases, summons, dated warnings and escalations, merge tombstones."""

from __future__ import annotations

from datetime import datetime

from pymongo import ASCENDING, IndexModel

from services.common.mongo import Repository

CASE_LIST_PROJECTION = {"history": 0}


class Superseded(Exception):
    """The case changed between our read and our write (another replica or request won)."""


class RoutingRepository(Repository):
    indexes = {
        "cases": [
            IndexModel([("case_code", ASCENDING)], unique=True),
            IndexModel([("next_check_at", ASCENDING)]),
            IndexModel([("scope", ASCENDING), ("open", ASCENDING)]),
            IndexModel([("scope", ASCENDING), ("registered_at", ASCENDING)]),
            IndexModel([("open", ASCENDING), ("colour", ASCENDING)]),
        ],
        "summons": [
            IndexModel([("case_id", ASCENDING)]),
            IndexModel([("scope", ASCENDING), ("status", ASCENDING)]),
        ],
        # Each warning and escalation once: its _id is "<case>:<clock>:<colour>" / "<case>:escalation:<n>".
        "sla_events": [IndexModel([("case_id", ASCENDING), ("at", ASCENDING)])],
        "merged_cases": [],
    }

    # -- cases -----------------------------------------------------------------------------
    def find_case(self, case_code: str, session=None) -> dict | None:
        return self.db.cases.find_one({"case_code": case_code}, session=session)

    def case_by_id(self, case_id: str, session=None) -> dict | None:
        return self.db.cases.find_one({"_id": case_id}, session=session)

    def insert_case(self, case: dict, session) -> None:
        self.db.cases.insert_one(case, session=session)

    def replace_case(self, before: dict, after: dict, session) -> None:
        """Write `after` only if the stored case is still the version `before` was read at."""
        after["version"] = before["version"] + 1
        result = self.db.cases.replace_one({"_id": before["_id"], "version": before["version"]}, after,
                                           session=session)
        if result.matched_count != 1:
            raise Superseded(before["case_code"])

    def due_case_ids(self, now: datetime, limit: int) -> list[str]:
        cursor = self.db.cases.find({"next_check_at": {"$lte": now}}, {"_id": 1}).sort(
            "next_check_at", ASCENDING).limit(limit)
        return [doc["_id"] for doc in cursor]

    def sweep_failures(self, case_id: str, field: str) -> int:
        doc = self.db.cases.find_one({"_id": case_id}, {field: 1})
        return int((doc or {}).get(field) or 0)

    def put_off_sweep(self, case_id: str, now: datetime, retry_at: datetime, field: str) -> None:
        """Push a case the sweeper failed on out of the due set until `retry_at` (only if it is still due:
        a replica that processed it meanwhile has the last word)."""
        self.db.cases.update_one({"_id": case_id, "next_check_at": {"$lte": now}},
                                 {"$set": {"next_check_at": retry_at}, "$inc": {field: 1}})

    def _in_scope(self, prefixes: list[str], query: dict, projection: dict | None = None) -> list[dict]:
        # One query per prefix: the planner uses the (scope, …) index for equality, not for $in.
        found: dict[str, dict] = {}
        for prefix in prefixes:
            for doc in self.db.cases.find({"scope": prefix, **query}, projection):
                found[doc["_id"]] = doc
        return list(found.values())

    def open_cases(self, prefixes: list[str]) -> list[dict]:
        return self._in_scope(prefixes, {"open": True}, CASE_LIST_PROJECTION)

    def registered_between(self, prefixes: list[str], start: datetime, end: datetime,
                           category: str | None = None) -> list[dict]:
        query = {"registered_at": {"$gte": start, "$lt": end}}
        cases = self._in_scope(prefixes, query, CASE_LIST_PROJECTION)
        return [case for case in cases if category is None or case["category"] == category]

    def count_open_by_colour(self, colour: str) -> int:
        return self.db.cases.count_documents({"open": True, "colour": colour})

    # -- summons ---------------------------------------------------------------------------
    def summons_of(self, case_id: str, session=None) -> list[dict]:
        return list(self.db.summons.find({"case_id": case_id}, session=session).sort("report_by", ASCENDING))

    def find_summons(self, summons_id: str, session=None) -> dict | None:
        return self.db.summons.find_one({"_id": summons_id}, session=session)

    def insert_summons(self, summons: list[dict], session) -> None:
        if summons:
            self.db.summons.insert_many([{"_id": s["summons_id"], **s} for s in summons], session=session)

    def acknowledge_summons(self, summons: dict, session) -> None:
        result = self.db.summons.update_one(
            {"_id": summons["summons_id"], "status": "outstanding"},
            {"$set": {"acknowledged_at": summons["acknowledged_at"], "on_time": summons["on_time"],
                      "status": "acknowledged"}},
            session=session,
        )
        if result.modified_count != 1:
            raise Superseded(summons["summons_id"])

    def cancel_summons(self, case_id: str, session) -> None:
        self.db.summons.update_many({"case_id": case_id, "status": "outstanding"},
                                    {"$set": {"status": "cancelled"}}, session=session)

    def outstanding_summons(self, prefixes: list[str]) -> list[dict]:
        found: dict[str, dict] = {}
        for prefix in prefixes:
            for doc in self.db.summons.find({"scope": prefix, "status": "outstanding"}):
                found[doc["_id"]] = doc
        return list(found.values())

    # -- warnings, escalations, tombstones -------------------------------------------------------
    def insert_records(self, records: list[dict], session) -> None:
        for record in records:
            self.db.sla_events.insert_one(record, session=session)

    def sla_events_of(self, case_id: str) -> list[dict]:
        return list(self.db.sla_events.find({"case_id": case_id}).sort("at", ASCENDING))

    def merged_tombstone(self, case_id: str, session=None) -> dict | None:
        return self.db.merged_cases.find_one({"_id": case_id}, session=session)

    def record_tombstone(self, case_id: str, into_code: str, at: datetime, session) -> None:
        self.db.merged_cases.update_one({"_id": case_id}, {"$setOnInsert": {"into": into_code, "at": at}},
                                        upsert=True, session=session)
