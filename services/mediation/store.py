"""Mediation's repository: rooms, mediators, mediation files, sessions and their reservations,
agreements and follow-ups. Every query below has its index."""

from __future__ import annotations

import re
from datetime import datetime

from pymongo import ASCENDING, DESCENDING, IndexModel

from services.common.mongo import Repository
from services.mediation.domain.codes import area_prefix, enclosing

OPEN, CONCLUDED = "open", "concluded"
SCHEDULED = "scheduled"


def room_resource(room_id: str) -> str:
    return f"room:{room_id}"


def mediator_resource(mediator_id: str) -> str:
    return f"mediator:{mediator_id}"


def within_any(field: str, prefixes: list[str]) -> dict:
    """Documents whose division code lies inside one of the areas (anchored, so indexed)."""
    clauses = [{field: {"$regex": f"^{re.escape(prefix)}"}} for prefix in prefixes]
    if not clauses:  # a token without jurisdictions sees nothing
        return {field: {"$in": []}}
    return clauses[0] if len(clauses) == 1 else {"$or": clauses}


class MediationRepository(Repository):
    indexes = {
        "rooms": [
            IndexModel([("jurisdiction", ASCENDING), ("active", ASCENDING), ("name", ASCENDING)]),
        ],
        "mediators": [
            IndexModel([("jurisdictions", ASCENDING), ("active", ASCENDING)]),
        ],
        "files": [
            IndexModel([("case_id", ASCENDING)], unique=True),
            IndexModel([("case_code", ASCENDING)], unique=True),
            IndexModel([("jurisdiction", ASCENDING), ("status", ASCENDING), ("requested_at", DESCENDING)]),
            IndexModel([("status", ASCENDING), ("lead_mediator_id", ASCENDING)]),
            IndexModel([("lead_mediator_id", ASCENDING), ("requested_at", DESCENDING)]),
        ],
        "sessions": [
            IndexModel([("file_id", ASCENDING), ("starts_at", ASCENDING)]),
            IndexModel([("mediator_id", ASCENDING), ("status", ASCENDING), ("starts_at", ASCENDING)]),
            IndexModel([("room_id", ASCENDING), ("status", ASCENDING), ("starts_at", ASCENDING)]),
            IndexModel([("status", ASCENDING), ("next_reminder_at", ASCENDING)]),
        ],
        # One document per resource and slot: the unique index is what refuses a double booking,
        # even when two requests race past the friendly check that comes first.
        "reservations": [
            IndexModel([("resource", ASCENDING), ("slot", ASCENDING)], unique=True),
            IndexModel([("session_id", ASCENDING)]),
        ],
        "agreements": [
            IndexModel([("file_id", ASCENDING)], unique=True),
        ],
        "followups": [
            IndexModel([("file_id", ASCENDING)], unique=True),
            IndexModel([("case_id", ASCENDING)]),
            IndexModel([("jurisdiction", ASCENDING), ("status", ASCENDING), ("next_visit_due", ASCENDING)]),
            IndexModel([("status", ASCENDING), ("next_visit_due", ASCENDING)]),
        ],
    }

    # -- rooms and mediators ------------------------------------------------------------------
    def find_rooms(self, *, prefixes: list[str], kind: str | None, active: bool | None,
                   limit: int, offset: int) -> list[dict]:
        query = within_any("jurisdiction", prefixes)
        if kind:
            query = {**query, "kind": kind}
        if active is not None:
            query = {**query, "active": active}
        cursor = self.db.rooms.find(query).sort([("jurisdiction", ASCENDING), ("name", ASCENDING)])
        return list(cursor.skip(offset).limit(limit))

    def find_mediators(self, *, prefixes: list[str], mediator_type: str | None, speciality: str | None,
                       active: bool | None, limit: int, offset: int) -> list[dict]:
        query = within_any("jurisdictions", prefixes)
        if mediator_type:
            query = {**query, "type": mediator_type}
        if speciality:
            query = {**query, "specialities": speciality}
        if active is not None:
            query = {**query, "active": active}
        return list(self.db.mediators.find(query).sort("_id", ASCENDING).skip(offset).limit(limit))

    def mediators_serving(self, jurisdiction: str) -> list[dict]:
        """Active mediators whose area contains the case's division or lies inside it."""
        query = {"active": True, "$or": [
            {"jurisdictions": {"$in": enclosing(jurisdiction)}},
            {"jurisdictions": {"$regex": f"^{re.escape(area_prefix(jurisdiction))}"}},
        ]}
        return list(self.db.mediators.find(query))

    def open_files_by_mediator(self, mediator_ids: list[str]) -> dict[str, int]:
        rows = self.db.files.aggregate([
            {"$match": {"status": OPEN, "lead_mediator_id": {"$in": mediator_ids}}},
            {"$group": {"_id": "$lead_mediator_id", "count": {"$sum": 1}}},
        ])
        return {row["_id"]: row["count"] for row in rows}

    def upcoming_sessions_by_mediator(self, mediator_ids: list[str], now: datetime) -> dict[str, int]:
        rows = self.db.sessions.aggregate([
            {"$match": {"mediator_id": {"$in": mediator_ids}, "status": SCHEDULED, "starts_at": {"$gte": now}}},
            {"$group": {"_id": "$mediator_id", "count": {"$sum": 1}}},
        ])
        return {row["_id"]: row["count"] for row in rows}

    def future_sessions_in_room(self, room_id: str, now: datetime) -> int:
        return self.db.sessions.count_documents({"room_id": room_id, "status": SCHEDULED, "ends_at": {"$gt": now}})

    def future_sessions_of_mediator(self, mediator_id: str, now: datetime) -> int:
        return self.db.sessions.count_documents(
            {"mediator_id": mediator_id, "status": SCHEDULED, "ends_at": {"$gt": now}})

    # -- reservations -------------------------------------------------------------------------
    def reserved(self, resources: list[str], start: datetime, end: datetime,
                 ignore_session: str | None = None) -> dict[str, set[str]]:
        """Which sessions hold any of the resources in [start, end): resource → session ids."""
        held: dict[str, set[str]] = {}
        for resource in resources:
            rows = self.db.reservations.find(
                {"resource": resource, "slot": {"$gte": start, "$lt": end}}, {"session_id": 1})
            sessions = {row["session_id"] for row in rows} - {ignore_session}
            if sessions:
                held[resource] = sessions
        return held

    def busy_resources(self, resources: list[str], start: datetime, end: datetime) -> set[str]:
        rows = self.db.reservations.find(
            {"resource": {"$in": resources}, "slot": {"$gte": start, "$lt": end}}, {"resource": 1})
        return {row["resource"] for row in rows}

    # -- files and sessions -------------------------------------------------------------------
    def find_file(self, case_code: str) -> dict | None:
        return self.db.files.find_one({"case_code": case_code})

    def find_files(self, *, prefixes: list[str], status: str | None, mediator_id: str | None,
                   limit: int, offset: int) -> list[dict]:
        query = within_any("jurisdiction", prefixes)
        if status:
            query = {**query, "status": status}
        if mediator_id:
            query = {**query, "lead_mediator_id": mediator_id}
        cursor = self.db.files.find(query, {"history": 0}).sort("requested_at", DESCENDING)
        return list(cursor.skip(offset).limit(limit))

    def sessions_of(self, file_id: str, session=None) -> list[dict]:
        return list(self.db.sessions.find({"file_id": file_id}, session=session).sort("starts_at", ASCENDING))

    def due_reminders(self, now: datetime, limit: int) -> list[dict]:
        return list(self.db.sessions.find({"status": SCHEDULED, "next_reminder_at": {"$lte": now}})
                    .sort("next_reminder_at", ASCENDING).limit(limit))

    # -- follow-ups ---------------------------------------------------------------------------
    def find_followups(self, *, prefixes: list[str], status: str | None, due_before: datetime | None,
                       limit: int, offset: int) -> list[dict]:
        query = within_any("jurisdiction", prefixes)
        if status:
            query = {**query, "status": status}
        if due_before is not None:
            query = {**query, "next_visit_due": {"$lte": due_before}}
        cursor = self.db.followups.find(query).sort("next_visit_due", ASCENDING)
        return list(cursor.skip(offset).limit(limit))
