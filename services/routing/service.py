"""Routing's entrypoints: the command centre (指挥中心). Thin: parse, call the domain, persist, emit."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from nameko.dependency_providers import Config
from nameko.rpc import rpc
from pymongo.errors import ConnectionFailure, DuplicateKeyError

from services.common.auth import significant_prefix
from services.common.config import setting
from services.common.consumers import consumes
from services.common.contracts import case_ref
from services.common.dependencies import Store, every
from services.common.errors import Conflict, Forbidden, InvalidTransition, NotFound, ValidationFailed
from services.common.http import load_body, load_query, route
from services.common.platform import PlatformService
from services.routing import schemas
from services.routing.dependencies import Clock, ReferenceData, Replica
from services.routing.domain import case as cases
from services.routing.domain.decide import CaseFacts, decide
from services.routing.domain.reports import board, heatmap, kpis, period_window
from services.routing.domain.rules import COLOURS
from services.routing.domain.summons import acknowledge
from services.routing.domain.view import canonical_code, case_view
from services.routing.store import RoutingRepository, Superseded

log = logging.getLogger(__name__)

STAFF_ROLES = ("dispatcher", "leader", "department", "intake_clerk", "mediator")
UNIT_ROLES = ("department", "dispatcher")
CENTRE_ROLES = ("admin", "dispatcher", "leader")  # act for any unit of the jurisdictions they cover
DIRECTORY_KINDS = ("jurisdictions", "departments", "categories")
SWEEP_BATCH = 200
SWEEP_LEASE = "routing-sla-sweeper"
# A case the sweeper fails on is put off, doubling each time up to an hour, so it cannot stay first in
# every batch; its failures are counted until a sweep of it succeeds.
SWEEP_RETRY_SECONDS = (60.0, 3600.0)
SWEEP_FAILURES = "sweep_failures"
COUNTERS = {
    "onestop_routing_assignments_total": ("Cases assigned (and re-assigned) by routing", ["tier", "level"]),
    "onestop_sla_warnings_total": ("SLA warnings raised, by colour", ["colour"]),
    "onestop_escalations_total": ("Escalations one rung up the ladder", []),
    "onestop_summons_total": ("Summons acknowledged, on time or late", ["on_time"]),
    "onestop_cases_returned_total": ("Cases returned (退回) by the unit they were sent to", []),
    "onestop_sla_sweep_failures_total": ("Cases the SLA sweeper could not process (put off and retried)", []),
}


class UnknownCase(Exception):
    """An event about a case routing has not received (yet): retried, then dead-lettered."""


class RoutingService(PlatformService):
    name = "routing"
    store = Store(RoutingRepository)
    reference = ReferenceData()
    clock = Clock()
    replica = Replica(lease=SWEEP_LEASE)
    config = Config()

    # -- persistence and metrics ---------------------------------------------------------------
    def _persist(self, uow, before: dict | None, change: cases.Change, now: datetime, actor, action: str,
                 details: dict | None = None) -> None:
        if before is None:
            change.case["version"] = 1
            self.store.insert_case(change.case, uow.session)
        else:
            self.store.replace_case(before, change.case, uow.session)
        self.store.insert_summons(change.summons, uow.session)
        self.store.insert_records(change.records, uow.session)
        ref = case_ref({"case_id": change.case["_id"], **change.case})
        for event_type, data in change.events:
            uow.emit(event_type, case=ref, data=data, occurred_at=now)
        uow.audit(actor, action, case_code=change.case["case_code"], details=details)

    def _counter(self, name: str):
        documentation, labels = COUNTERS[name]
        return self.metrics.counter(name, documentation, labels)

    def _count(self, change: cases.Change) -> None:
        for tier, level in change.assignments:
            self._counter("onestop_routing_assignments_total").labels(tier, level).inc()
        for colour in change.warnings:
            self._counter("onestop_sla_warnings_total").labels(colour).inc()
        if change.escalations:
            self._counter("onestop_escalations_total").inc(change.escalations)
        if change.returned:
            self._counter("onestop_cases_returned_total").inc()

    # -- events ---------------------------------------------------------------------------------
    @consumes("intake", "case_registered")
    def handle_case_registered(self, event):
        data = event["data"]
        referral = data.get("court_referral")
        facts = CaseFacts(
            case_id=event["case_id"], case_code=event["case_code"], jurisdiction=event["jurisdiction"],
            category=event["category"], channel=data["channel"], registered_at=data["registered_at"],
            people_involved=data["people_involved"], severity=data["severity"],
            risk_flags=tuple(data.get("risk_flags") or ()), immediate_red=bool(data.get("immediate_red")),
            amount=data.get("amount"), grid=data.get("grid"),
            court_referred=referral is not None or data["channel"] == "court_referral",
            referral_deadline=referral.get("deadline") if referral else None,
            referral=({key: referral.get(key) for key in ("court_id", "referral_id", "batch_id")}
                      if referral else None),
        )
        now = self.clock.now()

        def receive(uow):
            if self.store.case_by_id(facts.case_id, uow.session) is not None:
                return None  # the same case announced again under another event id: nothing to do
            decision = decide(facts, self.reference.directory, self.reference.rules)
            change = cases.assign_new(facts, decision, now, self.reference)
            tombstone = self.store.merged_tombstone(facts.case_id, uow.session)
            if tombstone is not None:  # its merge overtook its registration
                change = cases.merged(change.case, now, tombstone["into"], self.reference)
            self._persist(uow, None, change, now, "event:intake.case_registered", "case.route",
                          {"tier": decision.tier, "level": decision.level, "unit": decision.unit,
                           "rule_id": decision.rule_id, "triage": decision.triage})
            return change

        change = self.store.transaction(receive, consumed=event)
        if isinstance(change, cases.Change):
            self._count(change)

    def _on_case(self, event: dict, case_id: str, apply: Callable[[dict, datetime], cases.Change | None],
                 action: str, *, required: bool = True) -> None:
        """Apply another service's event to the case; `apply` answers None when the event changes nothing."""
        now = self.clock.now()
        actor = f"event:{event['source']}.{event['event_type']}"

        def work(uow):
            case = self.store.case_by_id(case_id, uow.session)
            if case is None:
                if required:
                    raise UnknownCase(f"{event['case_code']} is not known to routing (yet)")
                return None
            change = apply(case, now)
            if change is not None:
                self._persist(uow, case, change, now, actor, action)
            return change

        change = self.store.transaction(work, consumed=event)
        if isinstance(change, cases.Change):
            self._count(change)

    @consumes("intake", "case_merged")
    def handle_case_merged(self, event):
        duplicate = event["data"]["duplicate_case_id"]
        now = self.clock.now()

        def work(uow):
            self.store.record_tombstone(duplicate, event["case_code"], now, uow.session)
            case = self.store.case_by_id(duplicate, uow.session)
            if case is None or case["state"] == "merged":
                return None
            change = cases.merged(case, now, event["case_code"], self.reference)
            self.store.cancel_summons(duplicate, uow.session)
            self._persist(uow, case, change, now, "event:intake.case_merged", "case.merge",
                          {"into": event["case_code"]})
            return change

        self.store.transaction(work, consumed=event)

    @consumes("intake", "case_closed")
    def handle_case_closed(self, event):
        self._on_case(event, event["case_id"],
                      lambda case, now: cases.closed(case, now, event["data"]["final_status"], self.reference),
                      "case.close")

    @consumes("intake", "rating_submitted")
    def handle_rating_submitted(self, event):
        self._on_case(event, event["case_id"], lambda case, now: cases.rated(case, now, event["data"]["score"]),
                      "case.rating")

    @consumes("mediation", "session_scheduled")
    def handle_session_scheduled(self, event):
        self._on_case(event, event["case_id"], lambda case, now: cases.session_scheduled(case, now, self.reference),
                      "case.session")

    def _outcome(self, event: dict, result: str, **details) -> None:
        self._on_case(event, event["case_id"],
                      lambda case, now: cases.outcome(case, now, result, f"event:{event['source']}."
                                                      f"{event['event_type']}", self.reference, **details),
                      f"case.{result}")

    @consumes("mediation", "agreement_reached")
    def handle_agreement_reached(self, event):
        self._outcome(event, "agreement")

    @consumes("mediation", "mediation_failed")
    def handle_mediation_failed(self, event):
        self._outcome(event, "failed")

    @consumes("mediation", "mediation_withdrawn")
    def handle_mediation_withdrawn(self, event):
        self._outcome(event, "withdrawn")

    @consumes("court_bridge", "case_filed")
    def handle_case_filed(self, event):
        data = event["data"]
        self._outcome(event, "filed", court_id=data["court_id"], track=data["track"],
                      docket_number=data["docket_number"])

    @consumes("court_bridge", "referral_extended")
    def handle_referral_extended(self, event):
        # A court's message about a referral this case does not hold raises ReferralMismatch: retried, then
        # dead-lettered with the reason, never applied to the wrong clock.
        source = f"event:{event['source']}.{event['event_type']}"
        self._on_case(event, event["case_id"], lambda case, now: cases.referral_extended(
            case, now, event["data"], source, self.reference), "case.presuit_extend")

    @consumes("mediation", "followup_recorded")
    def handle_followup_recorded(self, event):
        data = event["data"]
        visit = {key: data.get(key) for key in ("followup_id", "visit_number", "state", "green")}
        self._on_case(event, event["case_id"],
                      lambda case, now: cases.followup_recorded(case, now, visit, self.reference), "case.followup")

    # -- the SLA sweeper -------------------------------------------------------------------------
    @every("ROUTING_SWEEP_SECONDS", 15.0, eager=True)
    def sweep_sla(self):
        """Raise due warnings and escalate; one replica at a time holds the lease, and every write is
        conditional, so a warning is raised once however many replicas run."""
        now = self.clock.now()
        lease = float(setting(self.config, "ROUTING_SWEEP_LEASE_SECONDS", 30))
        if self.store.claim_lease(SWEEP_LEASE, self.replica, lease):
            for case_id in self.store.due_case_ids(now, SWEEP_BATCH):
                try:
                    self._sweep_case(case_id, now)
                except ConnectionFailure:
                    raise  # the database is away: the next sweep starts over
                except Exception:
                    # One case the sweeper cannot process must not hold back every other case's
                    # warnings: it is put off (and so leaves the head of the batch) and counted.
                    log.exception("sla sweep of case %s failed", case_id)
                    self._put_off(case_id, now)
        for name in COUNTERS:  # every series exists from the first sweep (at start), at zero
            self._counter(name)
        gauge = self.metrics.gauge("onestop_open_cases", "Open cases by colour", ["colour"])
        for colour in COLOURS:
            gauge.labels(colour).set(self.store.count_open_by_colour(colour))

    def _put_off(self, case_id: str, now: datetime) -> None:
        self._counter("onestop_sla_sweep_failures_total").inc()
        first, longest = SWEEP_RETRY_SECONDS
        try:
            delay = min(longest, first * 2 ** self.store.sweep_failures(case_id, SWEEP_FAILURES))
            self.store.put_off_sweep(case_id, now, now + timedelta(seconds=delay), SWEEP_FAILURES)
        except ConnectionFailure:
            log.warning("could not put off case %s; it is tried again on the next sweep", case_id)

    def _sweep_case(self, case_id: str, now: datetime) -> None:
        def work(uow):
            case = self.store.case_by_id(case_id, uow.session)
            if case is None or case["next_check_at"] is None or case["next_check_at"] > now:
                return None
            change = cases.sweep(case, now, self.reference)
            change.case.pop(SWEEP_FAILURES, None)  # swept at last: any back-off is over
            self._persist(uow, case, change, now, "system:sla-sweeper", "case.sla",
                          {"warnings": change.warnings, "escalations": change.escalations})
            return change

        try:
            change = self.store.transaction(work)
        except (Superseded, DuplicateKeyError):
            log.info("sla sweep of %s: another replica got there first", case_id)
            return
        if isinstance(change, cases.Change):
            self._count(change)

    # -- reading ---------------------------------------------------------------------------------
    def _code(self, code: str) -> str:
        canonical = canonical_code(code)
        if canonical is None:
            raise ValidationFailed("not a case code (county-date-category-sequence-check)",
                                   {"code": ["malformed"]}, code="invalid_case_code")
        return canonical

    @route("GET", "/api/v1/routing/cases/<code>", roles=STAFF_ROLES, summary="routing's view of a case")
    def get_routing_case(self, request, code):
        case = self.store.find_case(self._code(code))
        if case is None or not request.principal.covers(case["jurisdiction"]):
            raise NotFound(f"no case {code}")
        return case_view(case, self.store.summons_of(case["_id"]), self.reference)

    # -- acting on a case ------------------------------------------------------------------------
    @staticmethod
    def _require_unit(principal, units: set[str | None], holder: str) -> None:
        if principal.has_role(*CENTRE_ROLES) or principal.agency in units:
            return
        raise Forbidden(f"this is for {holder}; agency {principal.agency!r} may not act on it",
                        code="unit_forbidden")

    def _act(self, request, code: str, action: str, apply: Callable[[dict, datetime], cases.Change],
             *, unit_bound: bool = True, details: dict | None = None):
        principal = request.principal
        canonical = self._code(code)
        now = self.clock.now()

        def work(uow):
            case = self.store.find_case(canonical, uow.session)
            if case is None:
                raise NotFound(f"no case {canonical}")
            principal.require_jurisdiction(case["jurisdiction"])
            if unit_bound:
                self._require_unit(principal, {case["unit"], case["lead_department"]}, case["unit"])
            try:
                change = apply(case, now)
            except cases.TransitionNotAllowed as exc:
                raise InvalidTransition(str(exc)) from exc
            except cases.InvalidInput as exc:
                raise ValidationFailed(str(exc), {exc.field: [str(exc)]}) from exc
            self._persist(uow, case, change, now, principal, f"case.{action}", details)
            return change

        try:
            change = self.store.transaction(work)
        except Superseded as exc:
            raise Conflict(f"case {canonical} changed meanwhile; reload it and try again") from exc
        self._count(change)
        return case_view(change.case, self.store.summons_of(change.case["_id"]), self.reference)

    def _optional_body(self, request, schema):
        if not request.get_data(cache=True).strip():
            return schema.load({})
        return load_body(request, schema)

    @route("POST", "/api/v1/routing/cases/<code>/accept", roles=UNIT_ROLES, request_schema=schemas.NoteSchema,
           summary="签收: the unit takes the case", responses={404: "no such case", 422: "not allowed now"})
    def accept_case(self, request, code):
        body = self._optional_body(request, schemas.NoteSchema())
        actor = request.principal.sub
        return self._act(request, code, "accept",
                         lambda case, now: cases.accept(case, now, actor, body["note"], self.reference))

    @route("POST", "/api/v1/routing/cases/<code>/return", roles=UNIT_ROLES, request_schema=schemas.ReturnSchema,
           summary="退回: not ours; re-route to the suggested unit",
           responses={404: "no such case", 422: "not allowed"})
    def return_case(self, request, code):
        body = load_body(request, schemas.ReturnSchema())
        actor = request.principal.sub
        return self._act(request, code, "return", lambda case, now: cases.return_case(
            case, now, actor, body["reason"], body["suggested_unit"], self.reference),
            details={"suggested_unit": body["suggested_unit"]})

    @route("POST", "/api/v1/routing/cases/<code>/dispatch", roles=("dispatcher",),
           request_schema=schemas.DispatchSchema,
           summary="派单 / 转办: the centre sends the case to a unit, before or after it was signed for",
           responses={404: "no such case", 422: "case ended"})
    def dispatch_case(self, request, code):
        body = load_body(request, schemas.DispatchSchema())
        actor = request.principal.sub
        return self._act(request, code, "dispatch", lambda case, now: cases.dispatch(
            case, now, actor, body["unit"], body["reason"], self.reference), unit_bound=False,
            details={"unit": body["unit"]})

    @route("POST", "/api/v1/routing/cases/<code>/retier", roles=("dispatcher", "leader"),
           request_schema=schemas.RetierSchema,
           summary="re-tier: mark the case cross-department or cross-region (or unmark it); decided again",
           responses={404: "no such case", 422: "case ended"})
    def retier_case(self, request, code):
        body = load_body(request, schemas.RetierSchema())
        actor = request.principal.sub
        return self._act(request, code, "retier", lambda case, now: cases.retier(
            case, now, actor, body["add"], body["remove"], body["reason"], self.reference), unit_bound=False,
            details={"add": body["add"], "remove": body["remove"]})

    @route("POST", "/api/v1/routing/cases/<code>/resolve", roles=UNIT_ROLES, request_schema=schemas.NoteSchema,
           summary="办结: the unit resolved the case", responses={404: "no such case", 422: "not accepted yet"})
    def resolve_case(self, request, code):
        body = self._optional_body(request, schemas.NoteSchema())
        actor = request.principal.sub
        return self._act(request, code, "resolve",
                         lambda case, now: cases.resolve(case, now, actor, body["note"], self.reference))

    @route("POST", "/api/v1/routing/cases/<code>/feedback", roles=UNIT_ROLES, request_schema=schemas.NoteSchema,
           summary="首次反馈: the applicant has been told how the case stands", responses={422: "case ended"})
    def record_feedback(self, request, code):
        body = self._optional_body(request, schemas.NoteSchema())
        actor = request.principal.sub
        return self._act(request, code, "feedback",
                         lambda case, now: cases.record_feedback(case, now, actor, body["note"], self.reference))

    @route("POST", "/api/v1/routing/cases/<code>/escalate", roles=(*UNIT_ROLES, "leader"),
           request_schema=schemas.EscalateSchema, summary="escalate one rung up the ladder",
           responses={404: "no such case", 422: "top of the ladder or case ended"})
    def escalate_case(self, request, code):
        body = load_body(request, schemas.EscalateSchema())
        actor = request.principal.sub
        return self._act(request, code, "escalate",
                         lambda case, now: cases.escalate(case, now, actor, body["reason"], self.reference))

    @route("POST", "/api/v1/routing/cases/<code>/leader-assign", roles=("leader",),
           request_schema=schemas.LeaderAssignSchema, summary="领导批办 / 包案",
           responses={404: "no such case", 422: "case ended"})
    def leader_assign(self, request, code):
        body = self._optional_body(request, schemas.LeaderAssignSchema())
        actor = request.principal.sub
        leader = body["leader"] or actor
        return self._act(request, code, "leader-assign", lambda case, now: cases.leader_assign(
            case, now, actor, leader, body["instruction"], self.reference), unit_bound=False)

    @route("POST", "/api/v1/routing/cases/<code>/tags", roles=("dispatcher", "leader"),
           request_schema=schemas.TagsSchema, summary="标签特办: tag for special handling",
           responses={404: "no such case", 422: "merged case"})
    def tag_case(self, request, code):
        body = load_body(request, schemas.TagsSchema())
        actor = request.principal.sub
        return self._act(request, code, "tags", lambda case, now: cases.set_tags(
            case, now, actor, body["add"], body["remove"], self.reference), unit_bound=False,
            details={"add": body["add"], "remove": body["remove"]})

    @route("POST", "/api/v1/routing/cases/<code>/pause", roles=UNIT_ROLES, request_schema=schemas.PauseSchema,
           summary="pause the clocks while the case waits on others", responses={422: "nothing to pause"})
    def pause_clocks(self, request, code):
        body = load_body(request, schemas.PauseSchema())
        actor = request.principal.sub
        return self._act(request, code, "pause", lambda case, now: cases.pause(
            case, now, actor, body["reason"], body["clocks"], self.reference))

    @route("POST", "/api/v1/routing/cases/<code>/resume", roles=UNIT_ROLES, request_schema=schemas.NoteSchema,
           summary="resume paused clocks", responses={422: "nothing paused"})
    def resume_clocks(self, request, code):
        self._optional_body(request, schemas.NoteSchema())
        actor = request.principal.sub
        return self._act(request, code, "resume", lambda case, now: cases.resume(case, now, actor, self.reference))

    @route("POST", "/api/v1/summons/<summons_id>/ack", roles=UNIT_ROLES, request_schema=schemas.NoteSchema,
           summary="部门报到: the summoned department has reported",
           responses={404: "no such summons", 422: "already acknowledged or cancelled"})
    def acknowledge_summons(self, request, summons_id):
        self._optional_body(request, schemas.NoteSchema())
        principal = request.principal
        now = self.clock.now()

        def work(uow):
            summons = self.store.find_summons(summons_id, uow.session)
            if summons is None:
                raise NotFound(f"no summons {summons_id}")
            principal.require_jurisdiction(summons["jurisdiction"])
            self._require_unit(principal, {summons["department"]}, summons["department"])
            try:
                done = acknowledge(summons, now)
            except ValueError as exc:
                raise InvalidTransition(str(exc)) from exc
            self.store.acknowledge_summons(done, uow.session)
            uow.emit("summons_acknowledged", case=case_ref(summons), occurred_at=now, data={
                "summons_id": summons_id, "department": done["department"],
                "acknowledged_at": cases.iso(now), "on_time": done["on_time"]})
            uow.audit(principal, "summons.ack", case_code=summons["case_code"],
                      details={"department": done["department"], "on_time": done["on_time"]})
            return done

        try:
            done = self.store.transaction(work)
        except Superseded as exc:
            raise InvalidTransition(f"summons {summons_id} was acknowledged meanwhile") from exc
        self._counter("onestop_summons_total").labels(str(done["on_time"]).lower()).inc()
        return {key: (cases.iso(value) if isinstance(value, datetime) else value) for key, value in done.items()
                if key not in ("scope", "_id")}

    # -- the board and reports -------------------------------------------------------------------
    def _scope(self, principal, jurisdiction: str | None) -> list[str]:
        if jurisdiction:
            principal.require_jurisdiction(jurisdiction)
            return [significant_prefix(jurisdiction)]
        return principal.scope_prefixes()

    @route("GET", "/api/v1/board", roles=("dispatcher", "leader"), query_schema=schemas.ScopeQuerySchema,
           summary="the command board: open cases by colour, level and unit; overdue; summons outstanding")
    def command_board(self, request):
        query = load_query(request, schemas.ScopeQuerySchema())
        prefixes = self._scope(request.principal, query["jurisdiction"])
        result = board(self.store.open_cases(prefixes), self.store.outstanding_summons(prefixes), self.clock.now(),
                       self.reference.directory)
        return {"jurisdictions": prefixes, **result}

    def _report_cases(self, request) -> tuple[dict, str, list[dict], datetime, datetime]:
        query = load_query(request, schemas.ReportQuerySchema())
        principal = request.principal
        jurisdiction = query["jurisdiction"] or (principal.jurisdictions[0] if principal.jurisdictions else None)
        if jurisdiction is None:
            raise Forbidden("this token names no jurisdiction", code="jurisdiction_forbidden")
        principal.require_jurisdiction(jurisdiction)
        if query["category"] and query["category"] not in self.reference.directory.categories:
            raise ValidationFailed("unknown category", {"category": ["not a category code"]})
        calendar = self.reference.rules.calendars.working
        day = query["date"] or calendar.local_day(self.clock.now())
        start, end = period_window(query["period"], day, calendar.tz)
        found = self.store.registered_between([significant_prefix(jurisdiction)], start, end, query["category"])
        return query, jurisdiction, found, start, end

    @route("GET", "/api/v1/reports/kpi", roles=("dispatcher", "leader"), query_schema=schemas.ReportQuerySchema,
           summary="KPIs for a jurisdiction, category and period (definitions in docs/routing.md)")
    def kpi_report(self, request):
        query, jurisdiction, found, start, end = self._report_cases(request)
        directory = self.reference.directory
        return {"jurisdiction": jurisdiction, "name": directory.division(jurisdiction).name
                if directory.division(jurisdiction) else None, "category": query["category"],
                "period": query["period"], "from": start, "to": end, "population": directory.population(jurisdiction),
                "kpis": kpis(found, directory.population(jurisdiction))}

    @route("GET", "/api/v1/reports/heatmap", roles=("dispatcher", "leader"),
           query_schema=schemas.ReportQuerySchema, summary="平安地图: cases by area and category for a period")
    def heatmap_report(self, request):
        query, jurisdiction, found, start, end = self._report_cases(request)
        return {"jurisdiction": jurisdiction, "category": query["category"], "period": query["period"],
                "from": start, "to": end, **heatmap(found, jurisdiction, self.reference.directory)}

    # -- the directory ---------------------------------------------------------------------------
    @route("GET", "/api/v1/directory/<kind>", roles=(), query_schema=schemas.DirectoryQuerySchema,
           summary="the reference directory: jurisdictions, departments or categories")
    def get_directory(self, request, kind):
        if kind not in DIRECTORY_KINDS:
            raise NotFound(f"no directory {kind!r}; one of {', '.join(DIRECTORY_KINDS)}")
        query = load_query(request, schemas.DirectoryQuerySchema())
        within = significant_prefix(query["jurisdiction"]) if query["jurisdiction"] else None
        # The structure is for any staff token (clerks and courts pick categories and units from it);
        # contacts and leaders are given in full inside the token's jurisdictions and in the centres
        # above them (a county escalates to its city), masked elsewhere.
        principal = request.principal
        reveals = (lambda code: True) if principal.has_role("admin") else principal.covers_or_oversees
        return {"kind": kind, "items": self.reference.directory.listing(kind, within, reveals)}

    # The RPCs are internal (notify sends messages with them): they keep contacts and leaders in full.
    @rpc
    def lookup_unit(self, unit_id: str) -> dict | None:
        return self.reference.directory.lookup_unit(unit_id)

    @rpc
    def directory(self, kind: str) -> list[dict]:
        if kind not in DIRECTORY_KINDS:
            raise ValueError(f"kind must be one of {', '.join(DIRECTORY_KINDS)}")
        return self.reference.directory.listing(kind)
