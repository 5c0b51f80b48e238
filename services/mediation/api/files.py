"""Mediation files: opened by routing.mediation_requested, read by staff, with mediator suggestions."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime

from services.common.case_codes import InvalidCaseCode, canonical_case_code
from services.common.consumers import consumes
from services.common.http import load_query, route
from services.mediation.api.common import (
    READ_ROLES,
    checked_slot,
    file_out,
    new_id,
    page,
    require_file,
    scope,
    working_hours,
)
from services.mediation.domain.scheduling import within_working_hours
from services.mediation.domain.suggestions import Candidate, CaseNeeds, rank
from services.mediation.schemas import FileQuerySchema, MediationFileOutSchema, SuggestionQuerySchema
from services.mediation.store import CONCLUDED, OPEN, mediator_resource


class FilesApi:
    @consumes("routing", "mediation_requested")
    def handle_mediation_requested(self, event):
        data = event["data"]
        known = self.rules.mediation_type(data["mediation_type"])
        request = {
            "tier": data["tier"],
            "mediation_type": data["mediation_type"],
            # the type as our rules know it (None: a spelling they do not know, no preference)
            "mediation_kind": known.key if known else None,
            "committee": data.get("committee"),
            "departments": list(data.get("departments") or []),
            "deadline": data.get("deadline"),
            "court_referred": bool(data.get("court_referred")),
        }
        try:
            code = canonical_case_code(event["case_code"])
        except InvalidCaseCode:
            code = event["case_code"]
        requested_at = datetime.fromisoformat(event["occurred_at"])
        actor = "event:routing.mediation_requested"
        entry = {"at": requested_at, "what": "mediation_requested", "event_id": event["event_id"]}

        def apply(uow):
            files = self.store.db.files
            existing = files.find_one({"case_id": event["case_id"]}, {"status": 1}, session=uow.session)
            if existing is None:
                files.insert_one({
                    "_id": new_id("file"),
                    "case_id": event["case_id"],
                    "case_code": code,
                    "jurisdiction": event["jurisdiction"],
                    "category": event["category"],
                    **request,
                    "status": OPEN,
                    "requested_at": requested_at,
                    "lead_mediator_id": None,
                    "first_session_at": None,
                    "outcome": None,
                    "history": [entry],
                }, session=uow.session)
                uow.audit(actor, "mediation.open", case_code=code)
            elif existing["status"] == OPEN:
                # routing asked again (escalated, or a department added): the request changes
                files.update_one({"_id": existing["_id"], "status": OPEN},
                                 {"$set": request, "$push": {"history": {**entry, "what": "request_updated"}}},
                                 session=uow.session)
                uow.audit(actor, "mediation.request_update", case_code=code)
            else:
                # an outcome is final: the late request is kept on record and changes nothing else
                files.update_one({"_id": existing["_id"], "status": CONCLUDED},
                                 {"$push": {"history": {**entry, "what": "request_after_outcome"}}},
                                 session=uow.session)
                uow.audit(actor, "mediation.request_after_outcome", case_code=code)

        self.store.transaction(apply, consumed=event)

    @route("GET", "/api/v1/mediations", roles=READ_ROLES, query_schema=FileQuerySchema,
           summary="mediation files in the caller's jurisdiction (filters: status, mediator_id)")
    def list_mediations(self, request):
        query = load_query(request, FileQuerySchema())
        prefixes = scope(request.principal, query["jurisdiction"])
        found = self.store.find_files(prefixes=prefixes, status=query["status"], mediator_id=query["mediator_id"],
                                      limit=query["limit"], offset=query["offset"])
        for doc in found:
            doc["file_id"] = doc.pop("_id")
        return page(found, query["limit"], query["offset"])

    @route("GET", "/api/v1/mediations/<code>", roles=READ_ROLES, response_schema=MediationFileOutSchema,
           summary="a mediation file: request, sessions, outcome, agreement, follow-up")
    def get_mediation(self, request, code):
        found = require_file(self.store, request.principal, code)
        return self._file_view(found)

    def _file_view(self, found: dict) -> dict:
        db = self.store.db
        agreement = db.agreements.find_one({"file_id": found["_id"]}, {"pdf": 0})
        followup = db.followups.find_one({"file_id": found["_id"]})
        return file_out(found, self.store.sessions_of(found["_id"]), agreement, followup, self.rules)

    @route("GET", "/api/v1/mediations/<code>/suggestions", roles=READ_ROLES, query_schema=SuggestionQuerySchema,
           summary="mediators to suggest (speciality, jurisdiction, load, continuity); "
                   "with starts_at/ends_at only those free and on duty then")
    def suggest_mediators(self, request, code):
        found = require_file(self.store, request.principal, code)
        query = load_query(request, SuggestionQuerySchema())
        now = self.clock.now()
        mediators = self.store.mediators_serving(found["jurisdiction"])
        ids = [doc["_id"] for doc in mediators]
        open_files = self.store.open_files_by_mediator(ids)
        upcoming = self.store.upcoming_sessions_by_mediator(ids, now)
        busy, slot = set(), None
        if query["starts_at"] is not None:
            slot = checked_slot(query["starts_at"], query["ends_at"], now, self.rules)
            busy = self.store.busy_resources([mediator_resource(i) for i in ids], slot.starts_at, slot.ends_at)
        candidates = [
            Candidate(
                mediator_id=doc["_id"], name=doc["name"], type=doc["type"],
                specialities=frozenset(doc.get("specialities") or []),
                jurisdictions=tuple(doc["jurisdictions"]), unit=doc.get("unit"),
                max_open_files=doc.get("max_open_files", 20),
                open_files=open_files.get(doc["_id"], 0), upcoming_sessions=upcoming.get(doc["_id"], 0),
                available=slot is None or (
                    mediator_resource(doc["_id"]) not in busy
                    and within_working_hours(slot, working_hours(doc, self.rules), self.rules.timezone)),
            )
            for doc in mediators
        ]
        needs = CaseNeeds(category=found["category"], jurisdiction=found["jurisdiction"],
                          committee=found.get("committee"),
                          mediation_type=self.rules.mediation_type(found.get("mediation_type")),
                          lead_mediator_id=found.get("lead_mediator_id"), purpose=query["purpose"])
        ranked = rank(needs, candidates, self.rules, query["limit"])
        return {"case_code": found["case_code"], "purpose": query["purpose"],
                "lead_mediator_id": found.get("lead_mediator_id"),
                "suggestions": [asdict(item) for item in ranked]}
