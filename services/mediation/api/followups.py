"""风险人员管理: follow-up lists and visits."""

from __future__ import annotations

from datetime import timedelta

from services.common.consumers import consumes
from services.common.contracts import case_ref as event_case_ref
from services.common.contracts import iso
from services.common.errors import Conflict, InvalidTransition, NotFound, ValidationFailed
from services.common.http import json_response, load_body, load_query, route
from services.mediation.api.common import (
    READ_ROLES,
    VISIT_ROLES,
    MediationMetrics,
    case_ref,
    followup_out,
    new_id,
    page,
    scope,
)
from services.mediation.domain import followup as followups
from services.mediation.schemas import FollowupOutSchema, FollowupQuerySchema, VisitSchema

CLOCK_SKEW = timedelta(minutes=5)


class FollowupsApi:
    @consumes("routing", "case_resolved")
    def handle_case_resolved(self, event):
        """A case its unit resolved itself, without mediation, still goes on the risk list when
        its category calls for it: divorce, domestic violence and neighbour feuds are followed
        up whatever the outcome (风险人员管理)."""
        now = self.clock.now()
        plan = followups.plan_for(event["category"], now, self.rules)
        if plan is None:
            return
        ref = event_case_ref(event)
        followup_id = new_id("fu")

        def put_on_the_list(uow):
            if self.store.db.followups.find_one({"case_id": event["case_id"]}, {"_id": 1}, session=uow.session):
                return  # mediation's outcome already put it there
            self.store.db.followups.insert_one({
                # one direct follow-up per case: the unique file_id index keeps a replay out
                "_id": followup_id, "file_id": f"direct:{event['case_id']}", **ref, "reason": plan.reason,
                "outcome": "resolved", "planned_visits": plan.planned_visits,
                "interval_working_days": plan.interval_working_days, "first_visit_due": plan.first_visit_due,
                "next_visit_due": plan.first_visit_due, "status": "open", "visit_count": 0, "visits": [],
                "created_at": now}, session=uow.session)
            uow.emit("followup_required", case=ref, data={
                "followup_id": followup_id, "reason": plan.reason, "first_visit_due": iso(plan.first_visit_due)})
            uow.audit("event:routing.case_resolved", "mediation.followup_open", case_code=event["case_code"],
                      details={"followup_id": followup_id, "outcome": "resolved"})

        self.store.transaction(put_on_the_list, consumed=event)

    @route("GET", "/api/v1/followups", roles=READ_ROLES, query_schema=FollowupQuerySchema,
           summary="the follow-up list (filters: status open|green, due_before), soonest visit first")
    def list_followups(self, request):
        query = load_query(request, FollowupQuerySchema())
        prefixes = scope(request.principal, query["jurisdiction"])
        found = self.store.find_followups(prefixes=prefixes, status=query["status"], due_before=query["due_before"],
                                          limit=query["limit"], offset=query["offset"])
        return page([followup_out(doc, self.rules) for doc in found], query["limit"], query["offset"])

    def _followup(self, request, followup_id: str) -> dict:
        found = self.store.db.followups.find_one({"_id": followup_id})
        if found is None or not request.principal.covers(found["jurisdiction"]):
            raise NotFound(f"no follow-up {followup_id}")
        return found

    @route("GET", "/api/v1/followups/<followup_id>", roles=READ_ROLES, response_schema=FollowupOutSchema,
           summary="one follow-up: its visits and schedule (visits made, the next and those still planned)")
    def get_followup(self, request, followup_id):
        return followup_out(self._followup(request, followup_id), self.rules)

    @route("POST", "/api/v1/followups/<followup_id>/visits", roles=VISIT_ROLES, request_schema=VisitSchema,
           response_schema=FollowupOutSchema,
           summary="record a follow-up visit: the state found and the party's satisfaction",
           responses={201: "recorded", 409: "another visit was recorded meanwhile", 422: "already green"})
    def record_visit(self, request, followup_id):
        found = self._followup(request, followup_id)
        body = load_body(request, VisitSchema())
        now = self.clock.now()
        visited_at = body["visited_at"] or now
        if visited_at > now + CLOCK_SKEW:
            raise ValidationFailed("a visit is recorded after it happened", {"visited_at": ["in the future"]})
        if visited_at < found["created_at"] - CLOCK_SKEW:
            raise ValidationFailed("a follow-up visit comes after the case was put on the follow-up list",
                                   {"visited_at": [f"before the follow-up began ({iso(found['created_at'])})"]})
        try:
            result = followups.record_visit(
                previous_states=[visit["state"] for visit in found["visits"]],
                planned_visits=found["planned_visits"], interval_working_days=found["interval_working_days"],
                green_already=found["status"] == "green", state=body["state"], visited_at=visited_at,
                rules=self.rules)
        except followups.FollowupClosed as exc:
            raise InvalidTransition(str(exc), {"followup_id": ["green"]}) from exc
        visit = {"visit_number": result.visit_number, "state": body["state"], "satisfaction": body["satisfaction"],
                 "visited_at": visited_at, "due_at": found["next_visit_due"], "method": body["method"],
                 "notes": body["notes"], "recorded_by": request.principal.sub, "recorded_at": now}
        changes = {"status": "green" if result.green else "open", "next_visit_due": result.next_visit_due,
                   "visit_count": result.visit_number, "stable_streak": result.stable_streak}
        if result.green:
            changes["green_at"] = now

        def record(uow):
            # conditional on the count seen: two visits recorded at once cannot both be number n
            updated = self.store.db.followups.update_one(
                {"_id": followup_id, "status": "open", "visit_count": found["visit_count"]},
                {"$set": changes, "$push": {"visits": visit}}, session=uow.session)
            if updated.matched_count == 0:
                raise Conflict("another visit was recorded meanwhile; reload the follow-up",
                               {"followup_id": ["changed meanwhile"]})
            uow.emit("followup_recorded", case=case_ref(found), data={
                "followup_id": followup_id, "visit_number": result.visit_number, "state": body["state"],
                "satisfaction": body["satisfaction"], "green": result.green})
            uow.audit(request.principal, "followup.visit", case_code=found["case_code"], details={
                "followup_id": followup_id, "visit_number": result.visit_number, "state": body["state"],
                "green": result.green, "next_visit_due": iso(result.next_visit_due)})

        self.store.transaction(record)
        MediationMetrics(self.metrics).visits.labels(body["state"]).inc()
        return json_response(followup_out({**found, **changes, "visits": [*found["visits"], visit]}, self.rules),
                             status=201)
