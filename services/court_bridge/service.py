"""court_bridge's entrypoints: the court link (诉调对接). Thin: parse, check, hand over to
the flows (writes), the batch pipeline and the outbound queue."""

from __future__ import annotations

import re
import time

from nameko.dependency_providers import Config

from services.common.config import setting
from services.common.consumers import consumes
from services.common.contracts import case_ref
from services.common.dependencies import Store, every
from services.common.errors import Forbidden, InvalidTransition, NotFound, ValidationFailed
from services.common.http import Route, json_response, load_body, load_query, route
from services.common.platform import PlatformService
from services.common.rpc import TimedRpcProxy
from services.court_bridge import schemas, views
from services.court_bridge.batches import ReferralBatch
from services.court_bridge.dependencies import Clock, CourtReference
from services.court_bridge.domain import filing as filing_rules
from services.court_bridge.domain import referrals as ref_rules
from services.court_bridge.domain.codes import InvalidCaseCode, canonical_case_code
from services.court_bridge.domain.mediation_record import record_of_failure
from services.court_bridge.flows import Flows, parse_time
from services.court_bridge.metrics import CourtMetrics
from services.court_bridge.outbound import Outbound, OutboundSettings, retry_now
from services.court_bridge.store import CourtBridgeRepository

READ_ROLES = ("court", "mediator", "dispatcher", "leader", "intake_clerk")
CENTRE_ROLES = ("mediator", "dispatcher", "leader")
DEFAULT_BATCH_BODY_BYTES = 64 * 1024 * 1024
DEFAULT_RETRY_DELAYS = (5, 30, 120, 600, 1800)
# intake calls in flight for one batch. intake serves its front window with 8 workers; more
# calls than that only queue there (and time out under load) without registering any faster,
# since each registration waits on the store (docs/court_bridge.md, Performance).
DEFAULT_REFERRAL_CONCURRENCY = 4


class BatchRoute(Route):
    """A route whose body may be as large as a 10,000-item batch (COURT_REFERRAL_MAX_BODY_BYTES);
    every other route keeps the platform's MAX_BODY_BYTES."""

    def setup(self) -> None:
        super().setup()
        self.max_body = int(setting(self.container.config, "COURT_REFERRAL_MAX_BODY_BYTES",
                                    DEFAULT_BATCH_BODY_BYTES))


batch_route = BatchRoute.decorator


class CourtBridgeService(PlatformService):
    name = "court_bridge"
    declare_metrics = CourtMetrics
    store = Store(CourtBridgeRepository)
    courts = CourtReference()
    clock = Clock()
    config = Config()
    intake_rpc = TimedRpcProxy("intake")

    # -- helpers --------------------------------------------------------------------------
    def _court_metrics(self) -> CourtMetrics:
        return CourtMetrics(self.metrics)

    def _flows(self) -> Flows:
        return Flows(self.store, self.courts, self.clock.now())

    def _outbound(self) -> Outbound:
        config = self.config
        return Outbound(self.store, self.courts, self.clock, self._court_metrics(), OutboundSettings(
            retry_delays=[float(delay) for delay in setting(config, "COURT_RETRY_DELAYS", DEFAULT_RETRY_DELAYS)],
            stuck_after=int(setting(config, "COURT_STUCK_AFTER_ATTEMPTS", 5)),
            lease_seconds=float(setting(config, "COURT_DELIVERY_LEASE_SECONDS", 60)),
            poll_seconds=float(setting(config, "COURT_POLL_SECONDS", 30)),
        ))

    @staticmethod
    def _code(code: str) -> str:
        try:
            return canonical_case_code(code)
        except InvalidCaseCode as exc:
            raise ValidationFailed(str(exc), {"code": [str(exc)]}, code="invalid_case_code") from exc

    def _visible_case(self, request, code: str) -> tuple[str, dict | None, list[dict]]:
        """The case's record and referrals, or 404 when unknown or outside the caller's scope."""
        canonical = self._code(code)
        case = self.store.case(canonical)
        referrals = self.store.referrals_for_case(canonical)
        jurisdiction = (case or {}).get("jurisdiction") or next(
            (referral.get("jurisdiction") for referral in referrals if referral.get("jurisdiction")), None)
        if jurisdiction is None or not request.principal.covers(jurisdiction):
            raise NotFound(f"no court record for case {canonical}")
        return canonical, case, referrals

    def _scope_regex(self, principal) -> str | None:
        if principal.has_role("admin"):
            return None
        prefixes = principal.scope_prefixes() or ["^$"]
        return "^(" + "|".join(re.escape(prefix) for prefix in prefixes) + ")"

    def _court(self, court_id: str | None, jurisdiction: str):
        court = self.courts.reference.court(court_id)
        if court is None:
            raise ValidationFailed(f"unknown court {court_id}", {"court_id": ["unknown court"]})
        if not court.covers(jurisdiction):
            raise InvalidTransition(f"{court_id} does not cover division {jurisdiction}")
        return court

    def _transaction(self, work):
        try:
            return self.store.transaction(work)
        except ref_rules.RuleViolation as exc:
            raise InvalidTransition(str(exc)) from exc

    # -- pre-suit referral ----------------------------------------------------------------
    @batch_route("POST", "/api/v1/court/referrals", roles=("court",), request_schema=schemas.ReferralBatchSchema,
                 response_schema=schemas.BatchResultSchema, summary="a court's referral batch (up to 10,000)",
                 responses={413: "over COURT_REFERRAL_MAX_BODY_BYTES"})
    def receive_referrals(self, request):
        started = time.perf_counter()
        body = load_body(request, schemas.ReferralBatchSchema())
        court = self.courts.reference.court(body["court_id"])
        if court is None:
            raise ValidationFailed(f"unknown court {body['court_id']}", {"court_id": ["unknown court"]})
        principal = request.principal
        if not principal.has_role("admin") and principal.agency != court.court_id:
            raise Forbidden(f"this token speaks for {principal.agency!r}, not for {court.court_id}",
                            code="role_forbidden")
        batch = ReferralBatch(
            self.store, self.courts.reference, self.intake_rpc, self._court_metrics(), principal, court,
            body["batch_id"], self.clock.now(),
            concurrency=int(setting(self.config, "COURT_REFERRAL_CONCURRENCY", DEFAULT_REFERRAL_CONCURRENCY)),
            time_budget=float(setting(self.config, "COURT_REFERRAL_TIME_BUDGET_SECONDS", 50)))
        answer = batch.run(body["items"])
        self._court_metrics().batch_seconds.observe(time.perf_counter() - started)
        return answer

    @route("POST", "/api/v1/court/cases/<code>/extension", roles=("mediator", "dispatcher", "court"),
           request_schema=schemas.ExtensionSchema, summary="extend the mediation period with the parties' consent",
           responses={404: "unknown case", 422: "not allowed now"})
    def extend_referral(self, request, code):
        body = load_body(request, schemas.ExtensionSchema())
        canonical, _case, referrals = self._visible_case(request, code)
        open_ones = [referral for referral in referrals if referral["state"] == ref_rules.OPEN
                     and body["referral_id"] in (None, referral["referral_id"])]
        if not open_ones:
            raise InvalidTransition("the case has no open court referral to extend")
        if len(open_ones) > 1:
            raise ValidationFailed("the case has several open referrals; name one", {"referral_id": ["required"]})
        flows = self._flows()

        def extend(uow):
            entry = flows.extend_referral(uow, open_ones[0], body["days"], body["consent_record"],
                                          request.principal.sub)
            uow.audit(request.principal, "referral.extend", case_code=canonical,
                      details={"referral_id": open_ones[0]["referral_id"], "days": body["days"]})
            return entry

        return self._transaction(extend)

    # -- a case's court record ------------------------------------------------------------
    @route("GET", "/api/v1/court/cases/<code>", roles=READ_ROLES, summary="a case's court link record",
           responses={404: "unknown case"})
    def get_case(self, request, code):
        canonical, case, referrals = self._visible_case(request, code)
        return views.case_view(canonical, case, referrals, self.store.messages_for_case(canonical),
                               self.courts.reference)

    @route("POST", "/api/v1/court/cases/<code>/confirmation", roles=CENTRE_ROLES,
           request_schema=schemas.ConfirmationRequestSchema, response_schema=schemas.AcceptedSchema,
           summary="apply for judicial confirmation",
           responses={202: "queued for the court", 404: "unknown case", 422: "not allowed now"})
    def apply_confirmation(self, request, code):
        body = load_body(request, schemas.ConfirmationRequestSchema())
        canonical, case, _referrals = self._visible_case(request, code)
        if not case or not case.get("confirmation"):
            raise InvalidTransition("no mediation agreement is recorded for this case")
        court_id = body["court_id"] or case["confirmation"].get("court_id")
        if court_id is None:
            competent = self.courts.reference.competent_court(case["jurisdiction"])
            court_id = competent.court_id if competent else None
        if court_id is None:
            raise ValidationFailed("no court covers this case; name one", {"court_id": ["required"]})
        court = self._court(court_id, case["jurisdiction"])
        flows = self._flows()

        def apply(uow):
            confirmation = flows.apply_confirmation_by_hand(uow, case, court, body["note"])
            uow.audit(request.principal, "confirmation.apply", case_code=canonical,
                      details={"court_id": court.court_id})
            return confirmation

        confirmation = self._transaction(apply)
        return 202, {"case_code": canonical, "state": confirmation["state"],
                     "message_id": confirmation.get("message_id")}

    @route("POST", "/api/v1/court/cases/<code>/filing", roles=CENTRE_ROLES + ("court",),
           request_schema=schemas.FilingRequestSchema, response_schema=schemas.FilingAcceptedSchema,
           summary="file the case with the court (priority)",
           responses={202: "queued for the court", 404: "unknown case", 422: "not allowed now"})
    def request_filing(self, request, code):
        body = load_body(request, schemas.FilingRequestSchema())
        canonical, case, referrals = self._visible_case(request, code)
        if case is None:  # intake's registration has not reached us yet; the referral knows the case
            case = {key: referrals[0][key] for key in ("case_id", "case_code", "jurisdiction", "category")}
        opened = [referral for referral in referrals if referral["state"] in (ref_rules.OPEN, ref_rules.CONCLUDED)]
        flows = self._flows()
        court = (self._court(body["court_id"], case["jurisdiction"]) if body["court_id"]
                 else flows.court_for(opened, case["jurisdiction"]))
        if court is None:
            raise ValidationFailed("no court covers this case; name one", {"court_id": ["required"]})
        undisputed = body["undisputed_facts"] or (case.get("failure") or {}).get("undisputed_facts")

        def file(uow):
            filing = flows.request_filing(uow, case, court, trigger="request", reason=body["reason"],
                                          undisputed_facts=undisputed, referrals=opened,
                                          facts=flows.facts_for(case, opened),
                                          record=record_of_failure(case.get("failure")))
            uow.audit(request.principal, "filing.request", case_code=canonical,
                      details={"court_id": court.court_id, "track": filing["track"]})
            return filing

        filing = self._transaction(file)
        return 202, {"case_code": canonical, "state": filing["state"], "track": filing["track"],
                     "track_reasons": filing["track_reasons"], "message_id": filing["message_id"]}

    @route("POST", "/api/v1/court/cases/<code>/enforcement", roles=CENTRE_ROLES,
           request_schema=schemas.EnforcementRequestSchema, response_schema=schemas.AcceptedSchema,
           summary="apply for enforcement of a confirmed agreement",
           responses={202: "queued for the court", 404: "unknown case", 422: "not allowed now"})
    def apply_enforcement(self, request, code):
        body = load_body(request, schemas.EnforcementRequestSchema())
        canonical, case, _referrals = self._visible_case(request, code)
        if case is None:
            raise InvalidTransition("no confirmed agreement is recorded for this case")
        flows = self._flows()

        def enforce(uow):
            entry = flows.request_enforcement(uow, case, body["reason"], body["applicant_role"])
            uow.audit(request.principal, "enforcement.apply", case_code=canonical,
                      details={"court_id": entry["court_id"]})
            return entry

        entry = self._transaction(enforce)
        return 202, {"case_code": canonical, "state": entry["state"], "message_id": entry["message_id"]}

    @route("POST", "/api/v1/court/cases/<code>/onsite", roles=("court",), request_schema=schemas.OnsiteRecordSchema,
           summary="record on-site filing, hearing or enforcement (就地立、审、执)",
           responses={201: "recorded", 404: "unknown case", 422: "not allowed"})
    def record_onsite(self, request, code):
        body = load_body(request, schemas.OnsiteRecordSchema())
        canonical, case, _referrals = self._visible_case(request, code)
        case = case or {}
        filing = case.get("filing")
        enforcements = case.get("enforcements", [])
        court_id = (filing or {}).get("court_id") if body["kind"] != "enforcement" else next(
            (entry["court_id"] for entry in enforcements), None)
        court = self.courts.reference.court(court_id) if court_id else None
        try:
            filing_rules.check_onsite(body["kind"], bool(court and court.sits_in_centre), filing, enforcements)
        except ref_rules.RuleViolation as exc:
            raise InvalidTransition(str(exc)) from exc
        now = self.clock.now()
        record = {**body, "court_id": court.court_id, "recorded_by": request.principal.sub, "recorded_at": now}

        def save(uow):
            self.store.db.cases.update_one({"_id": canonical}, {"$push": {"onsite": record},
                                                               "$set": {"updated_at": now}}, session=uow.session)
            uow.audit(request.principal, f"onsite.{body['kind']}", case_code=canonical,
                      details={"court_id": court.court_id})

        self.store.transaction(save)
        return json_response({"case_code": canonical, **record}, status=201)

    # -- the stuck list and the confirmation windows --------------------------------------
    @route("GET", "/api/v1/court/stuck", roles=("dispatcher", "leader", "court"), query_schema=schemas.ListQuerySchema,
           summary="messages and status checks a court has not taken (retried, or refused)")
    def stuck(self, request):
        query = load_query(request, schemas.ListQuerySchema())
        scope = self._scope_regex(request.principal)
        return {
            "messages": [views.message_view(doc) for doc in self.store.stuck("messages", scope, query["limit"])],
            "status_checks": [views.poll_view(doc) for doc in self.store.stuck("polls", scope, query["limit"])],
        }

    @route("POST", "/api/v1/court/messages/<message_id>/retry", roles=("dispatcher",),
           summary="send a stuck message again now", responses={404: "unknown message", 422: "not allowed"})
    def retry_message(self, request, message_id):
        try:
            message = retry_now(self.store, message_id, self.clock.now(), request.principal,
                                request.principal.covers)
        except ref_rules.RuleViolation as exc:
            raise InvalidTransition(str(exc)) from exc
        if message is None:
            raise NotFound(f"no message {message_id}")
        return views.message_view(message)

    @route("GET", "/api/v1/court/confirmations/due", roles=CENTRE_ROLES, query_schema=schemas.ListQuerySchema,
           summary="agreements whose window to apply for judicial confirmation is closing or closed")
    def confirmations_due(self, request):
        query = load_query(request, schemas.ListQuerySchema())
        cases = self.store.confirmations_warned(self._scope_regex(request.principal), query["limit"])
        return {"cases": [views.confirmation_due_view(case) for case in cases]}

    @route("GET", "/api/v1/court/courts", roles=(), summary="the courts linked with the centres")
    def list_courts(self, request):
        return {"courts": [views.court_view(court) for court in self.courts.reference.courts.values()],
                "causes": [{"cause": cause.cause, "name": cause.name, "category": cause.category}
                           for cause in self.courts.reference.causes.values()]}

    # -- events ---------------------------------------------------------------------------
    @consumes("intake", "case_registered")
    def on_case_registered(self, event):
        data = event["data"]
        facts = {"amount": data.get("amount"), "people_involved": data["people_involved"],
                 "severity": data["severity"], "risk_flags": data.get("risk_flags", [])}
        flows = self._flows()

        def keep(uow):
            flows.touch_case(uow, case_ref(event), {"facts": facts})
            uow.audit("event:intake.case_registered", "case.facts", case_code=event["case_code"])

        self.store.transaction(keep, consumed=event)

    @consumes("intake", "case_merged")
    def on_case_merged(self, event):
        merged_code = event["data"]["duplicate_case_code"]

        def follow(uow):
            result = self.store.db.referrals.update_many(
                {"case_code": merged_code}, {"$set": {"merged_into": event["case_code"]}}, session=uow.session)
            if result.modified_count:
                uow.audit("event:intake.case_merged", "referral.merged", case_code=event["case_code"],
                          details={"merged_case_code": merged_code, "referrals": result.modified_count})

        self.store.transaction(follow, consumed=event)

    @consumes("mediation", "agreement_reached")
    def on_agreement_reached(self, event):
        flows = self._flows()

        agreed_at = event["data"].get("agreed_at") or parse_time(event["occurred_at"])

        def record(uow):
            changes = flows.record_agreement(uow, case_ref(event), event["data"], agreed_at)
            confirmation = changes.get("confirmation") or {}
            uow.audit("event:mediation.agreement_reached", "agreement.record", case_code=event["case_code"],
                      details={"confirmation": confirmation.get("state")})

        self.store.transaction(record, consumed=event)

    @consumes("mediation", "mediation_failed")
    def on_mediation_failed(self, event):
        flows = self._flows()

        def record(uow):
            filing = flows.record_failure(uow, case_ref(event), event["data"], parse_time(event["occurred_at"]))
            uow.audit("event:mediation.mediation_failed", "failure.record", case_code=event["case_code"],
                      details={"filing": filing["track"] if filing else None})

        self.store.transaction(record, consumed=event)

    @consumes("mediation", "mediation_withdrawn")
    def on_mediation_withdrawn(self, event):
        flows = self._flows()
        case = case_ref(event)
        withdrawn_at = parse_time(event["occurred_at"])

        def record(uow):
            for referral in flows.open_referrals(uow, case["case_code"]):
                flows.conclude_referral(uow, referral, ref_rules.WITHDRAWN, {"reason": event["data"]["reason"]},
                                        withdrawn_at)
            flows.touch_case(uow, case, {"withdrawal": {"reason": event["data"]["reason"],
                                                        "withdrawn_at": withdrawn_at}})
            uow.audit("event:mediation.mediation_withdrawn", "withdrawal.record", case_code=case["case_code"])

        self.store.transaction(record, consumed=event)

    # -- the clock ------------------------------------------------------------------------
    @every("COURT_SWEEP_SECONDS", 1.0)
    def court_clock(self):
        """Deadlines, confirmation windows, deliveries and status checks, once across replicas."""
        outbound = self._outbound()
        outbound.expire_referrals()
        outbound.check_confirmation_windows()
        outbound.deliver_due()
        outbound.poll_due()
        outbound.refresh_gauges()
