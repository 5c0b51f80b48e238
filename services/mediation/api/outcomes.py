"""Outcomes and the agreement document (调解协议书)."""

from __future__ import annotations

import logging

from bson import Binary
from nameko.exceptions import RemoteError, UnknownService
from werkzeug.wrappers import Response

from services.common.contracts import iso
from services.common.errors import Conflict, InvalidTransition, NotFound, ServiceUnavailable, ValidationFailed
from services.common.http import json_response, load_body, route
from services.mediation.api.common import (
    OUTCOME_ROLES,
    READ_ROLES,
    MediationMetrics,
    case_ref,
    new_id,
    require_file,
)
from services.mediation.document import content_hash, render_pdf, render_text
from services.mediation.domain import followup as followups
from services.mediation.domain import outcomes
from services.mediation.schemas import OutcomeSchema
from services.mediation.store import CONCLUDED, OPEN, SCHEDULED

log = logging.getLogger(__name__)
OUTCOME_CANCEL_REASON = "outcome_recorded"


class OutcomesApi:
    @route("POST", "/api/v1/mediations/<code>/outcome", roles=OUTCOME_ROLES, request_schema=OutcomeSchema,
           summary="record the outcome: agreement, partial, failed or withdrawn (once)",
           responses={201: "recorded", 422: "the file already has its outcome, or no session was held",
                      503: "intake did not give the parties in time"})
    def record_outcome(self, request, code):
        found = require_file(self.store, request.principal, code)
        body = load_body(request, OutcomeSchema())
        now = self.clock.now()
        today = now.astimezone(self.rules.timezone).date()
        try:
            outcomes.check_outcome_input(body, today)
        except outcomes.OutcomeInputError as exc:
            raise ValidationFailed(exc.message, {exc.field: [exc.message]}) from exc
        sessions = self.store.sessions_of(found["_id"])
        held = sum(1 for s in sessions if s["purpose"] == "mediation" and s["status"] == "held")
        try:
            outcomes.check_can_conclude(has_outcome=found.get("outcome") is not None, outcome_type=body["type"],
                                        held_mediation_sessions=held)
        except outcomes.OutcomeRefused as exc:
            raise InvalidTransition(str(exc), {"type": [str(exc)]}) from exc

        agreement = self._agreement(found, body, now) if outcomes.produces_agreement(body["type"]) else None
        plan = followups.plan_for(found["category"], now, self.rules)
        followup_id = new_id("fu") if plan else None
        lead = found.get("lead_mediator_id")
        stored = outcomes.stored_outcome(body, recorded_at=now, recorded_by=request.principal.sub, mediator_id=lead)
        ref = case_ref(found)

        def conclude(uow):
            # the sessions as they stand in this transaction: the record the event carries and the
            # ones still ahead to release
            sessions = self.store.sessions_of(found["_id"], session=uow.session)
            ahead = [s for s in sessions if s["status"] == SCHEDULED and s["purpose"] == "mediation"
                     and s["starts_at"] > now]
            event_type, data = outcomes.event_for(
                body, court_referred=found["court_referred"], recorded_at=now, mediator_id=lead, sessions=sessions,
                agreement_id=agreement["_id"] if agreement else None,
                agreement_hash=agreement["sha256"] if agreement else None)
            concluded = self.store.db.files.update_one(
                {"_id": found["_id"], "status": OPEN, "outcome": None, "lead_mediator_id": lead},
                {"$set": {"status": CONCLUDED, "outcome": stored, "concluded_at": now, "updated_at": now,
                          "agreement_id": agreement["_id"] if agreement else None, "followup_id": followup_id},
                 "$push": {"history": {"at": now, "what": f"outcome:{body['type']}", "by": request.principal.sub}}},
                session=uow.session)
            if concluded.matched_count == 0:
                self._refuse_changed_file(uow, found["_id"])
            if agreement:
                self.store.db.agreements.insert_one(agreement, session=uow.session)
            for session in ahead:  # the mediation is over: free their rooms and tell the parties
                self._cancel(uow, session, OUTCOME_CANCEL_REASON, now, request.principal.sub)
            uow.emit(event_type, case=ref, data=data)
            if plan:
                self.store.db.followups.insert_one({
                    "_id": followup_id, "file_id": found["_id"], **ref, "reason": plan.reason,
                    "outcome": body["type"], "planned_visits": plan.planned_visits,
                    "interval_working_days": plan.interval_working_days, "first_visit_due": plan.first_visit_due,
                    "next_visit_due": plan.first_visit_due, "status": "open", "visit_count": 0, "visits": [],
                    "created_at": now}, session=uow.session)
                uow.emit("followup_required", case=ref, data={
                    "followup_id": followup_id, "reason": plan.reason,
                    "first_visit_due": iso(plan.first_visit_due)})
            uow.audit(request.principal, "mediation.outcome", case_code=found["case_code"], details={
                "outcome": body["type"], "agreement_id": agreement["_id"] if agreement else None,
                "agreement_sha256": agreement["sha256"] if agreement else None, "followup_id": followup_id,
                "sessions_cancelled": len(ahead)})

        self.store.transaction(conclude)
        MediationMetrics(self.metrics).outcomes.labels(body["type"], found["category"]).inc()
        return json_response(self._file_view(self.store.db.files.find_one({"_id": found["_id"]})), status=201)

    def _refuse_changed_file(self, uow, file_id: str) -> None:
        """The file changed after it was read: another outcome, or the case was handed to another
        mediator (the agreement and the event would name the wrong one)."""
        current = self.store.db.files.find_one({"_id": file_id}, {"outcome": 1}, session=uow.session)
        if current.get("outcome") is not None:
            raise InvalidTransition("this mediation already has its outcome; an outcome is recorded once",
                                    {"type": ["outcome already recorded"]})
        raise Conflict("the case was handed to another mediator meanwhile; reload the file and record the outcome "
                       "again", {"mediator_id": ["lead mediator changed meanwhile"]})

    def _agreement(self, found: dict, outcome: dict, now) -> dict:
        """Render the agreement with the parties' names as intake holds them (asked just now,
        so they never travel on the bus)."""
        mediator = self.store.db.mediators.find_one({"_id": found.get("lead_mediator_id")}) or {}
        try:
            contacts = self.intake_rpc.contacts(found["case_id"])
        except (RemoteError, UnknownService) as exc:
            log.warning("intake.contacts failed for %s: %s", found["case_code"], type(exc).__name__)
            raise ServiceUnavailable("intake could not give the parties of this case; try again shortly") from exc
        try:
            parties = outcomes.parties_on_agreement(contacts or [])
        except outcomes.AgreementRefused as exc:
            raise InvalidTransition(str(exc), {"type": [str(exc)]}) from exc
        agreement_no = f"{found['case_code']}-XY"
        context = outcomes.agreement_context(
            case_code=found["case_code"], agreement_no=agreement_no, parties=parties, outcome=outcome,
            mediator_name=mediator.get("name") or "", organisation=mediator.get("organisation"),
            concluded_on=now.astimezone(self.rules.timezone).date())
        document = render_pdf(render_text(context), subject=found["case_code"])
        return {"_id": new_id("agr"), "file_id": found["_id"], "case_code": found["case_code"],
                "agreement_no": agreement_no, "partial": outcome["type"] == "partial",
                "mediator_id": found.get("lead_mediator_id"), "pdf": Binary(document),
                "sha256": content_hash(document), "size": len(document), "created_at": now}

    @route("GET", "/api/v1/mediations/<code>/agreement", roles=READ_ROLES,
           summary="the agreement 调解协议书 as a PDF (X-Content-SHA256: its recorded hash)",
           responses={404: "no agreement", 409: "the stored document no longer matches its hash"})
    def get_agreement(self, request, code):
        found = require_file(self.store, request.principal, code)
        agreement = self.store.db.agreements.find_one({"file_id": found["_id"]})
        if agreement is None:
            raise NotFound(f"case {found['case_code']} has no agreement")
        document = bytes(agreement["pdf"])
        if content_hash(document) != agreement["sha256"]:
            log.error("agreement %s of %s no longer matches its recorded sha256", agreement["_id"],
                      found["case_code"])
            raise Conflict("the stored agreement does not match the hash recorded when it was made; "
                           "it has been changed and is withheld", {"agreement": ["hash mismatch"]})
        return Response(document, mimetype="application/pdf", headers={
            "Content-Disposition": f'inline; filename="{agreement["agreement_no"]}.pdf"',
            "X-Content-SHA256": agreement["sha256"],
            "ETag": f'"{agreement["sha256"]}"',
        })
