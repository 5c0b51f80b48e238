"""Intake's entrypoints: the centre's front window (多口进、一口出, 一案一码)."""

from __future__ import annotations

from nameko.dependency_providers import Config
from nameko.rpc import rpc

from services.common.config import setting
from services.common.consumers import consumes
from services.common.dependencies import Store, every
from services.common.errors import Conflict
from services.common.http import json_response, load_body, load_query, route
from services.common.platform import PlatformService
from services.intake.dependencies import IntakeClock, IntakeRules, Pii, PublicCaseGuard
from services.intake.domain.casefile import EVENT_RULES
from services.intake.metrics import IntakeMetrics
from services.intake.schemas import (
    CaseCreatedSchema,
    CaseFileSchema,
    CaseIntakeSchema,
    CaseListQuerySchema,
    CaseListSchema,
    PhoneTailSchema,
    ProgressSchema,
    RatingRequestSchema,
    RatingResultSchema,
)
from services.intake.store import IntakeRepository
from services.intake.workflows import Intake

REGISTER_ROLES = ("intake_clerk", "dispatcher", "leader", "department")
STAFF_ROLES = ("intake_clerk", "dispatcher", "leader", "department", "mediator", "court")
DEFAULT_PUBLIC_LIMIT = 30
DEFAULT_PUBLIC_WINDOW_SECONDS = 60
DEFAULT_CLOSING_SWEEP_SECONDS = 300


def flag(value: object) -> bool:
    """A yes/no setting: YAML gives a bool, a hand-written override may give "true" or "0"."""
    if isinstance(value, str):
        return value.strip().lower() in ("true", "yes", "on", "1")
    return bool(value)


def client_address(remote_addr: str | None, forwarded_for: list[str], trust_forwarded_for: bool) -> str:
    """The address a public request is counted under.

    Behind a trusted reverse proxy: the rightmost X-Forwarded-For entry, the address the proxy
    itself saw (it appends it). Everything left of it was sent by the client and proves nothing.
    Several header lines count as one list, in order."""
    if trust_forwarded_for:
        entries = [entry.strip() for line in forwarded_for for entry in line.split(",") if entry.strip()]
        if entries:
            return entries[-1]
    return remote_addr or "unknown"


def _events(*pairs: tuple[str, str]):
    """Subscribe one handler to several event types."""
    def decorate(method):
        for source, event_type in pairs:
            method = consumes(source, event_type)(method)
        return method
    return decorate


class IntakeService(PlatformService):
    name = "intake"
    declare_metrics = IntakeMetrics
    store = Store(IntakeRepository)
    rules = IntakeRules()
    pii = Pii()
    clock = IntakeClock()
    case_guard = PublicCaseGuard()
    config = Config()

    def _intake(self) -> Intake:
        return Intake(self.store, self.rules, self.pii, self.clock, self.metrics)

    # -- registration --------------------------------------------------------------------
    @route("POST", "/api/v1/cases", roles=REGISTER_ROLES, request_schema=CaseIntakeSchema,
           response_schema=CaseCreatedSchema, summary="register a case from any channel",
           responses={201: "registered, or merged into an earlier case (duplicate_of)",
                      409: "channel_ref already registered outside your jurisdiction",
                      503: "busy: other requests changed the same case meanwhile; nothing changed, send again"})
    def post_case(self, request):
        payload = load_body(request, CaseIntakeSchema())
        request.principal.require_jurisdiction(payload["jurisdiction"])
        outcome = self._intake().register(payload, request.principal, via="http")
        if outcome.outcome == "existing" and not request.principal.covers(outcome.jurisdiction):
            raise Conflict("this channel reference is registered already",
                           {"channel_ref": ["registered already, outside your jurisdiction"]})
        return json_response(outcome.body(), status=200 if outcome.outcome == "existing" else 201)

    @rpc
    def register_case(self, payload, actor):
        """intake.register_case (court_bridge's referral batches): never raises for bad arguments
        or lost races, answers {"outcome": "rejected", "error", "message", "fields"} instead."""
        return self._intake().register_by_rpc(payload, actor)

    # -- staff ---------------------------------------------------------------------------
    @route("GET", "/api/v1/cases", roles=STAFF_ROLES, query_schema=CaseListQuerySchema,
           response_schema=CaseListSchema, summary="case files in your jurisdictions, filtered and paged")
    def list_cases(self, request):
        query = load_query(request, CaseListQuerySchema())
        return self._intake().list_cases(request.principal, query)

    @route("GET", "/api/v1/cases/<code>", roles=STAFF_ROLES, response_schema=CaseFileSchema,
           summary="a case file: parties, reports, classification, timeline",
           responses={400: "mistyped code (invalid_case_code)", 404: "no such case in your jurisdictions"})
    def get_case(self, request, code):
        return self._intake().case_file(request.principal, code)

    # -- the public ----------------------------------------------------------------------
    def _admit_public(self, request) -> None:
        config = self.config
        client = client_address(request.remote_addr, request.headers.getlist("X-Forwarded-For"),
                                flag(setting(config, "INTAKE_TRUST_FORWARDED_FOR", False)))
        self._intake().admit_public(
            client,
            int(setting(config, "INTAKE_PUBLIC_RATE_LIMIT", DEFAULT_PUBLIC_LIMIT)),
            int(setting(config, "INTAKE_PUBLIC_RATE_WINDOW_SECONDS", DEFAULT_PUBLIC_WINDOW_SECONDS)),
        )

    @route("GET", "/api/v1/public/progress/<code>", public=True, query_schema=PhoneTailSchema,
           response_schema=ProgressSchema, summary="public progress by case code and phone tail (masked)",
           responses={400: "mistyped code or phone tail", 404: "unknown code, or a phone tail that does not match",
                      429: "too many requests from this client, or too many wrong phone tails for this code",
                      503: "busy: try again shortly"})
    def public_progress(self, request, code):
        self._admit_public(request)
        query = load_query(request, PhoneTailSchema())
        return self._intake().progress(code, query["phone_tail"], self.case_guard)

    @route("POST", "/api/v1/public/cases/<code>/rating", public=True, request_schema=RatingRequestSchema,
           response_schema=RatingResultSchema, summary="rate a resolved case (1–5, once)",
           responses={201: "rated", 404: "unknown code, or a phone tail that does not match",
                      409: "rated already", 422: "not resolved yet",
                      429: "too many requests from this client, or too many wrong phone tails for this code",
                      503: "busy: other requests changed the same case meanwhile; nothing changed, send again"})
    def rate_case(self, request, code):
        self._admit_public(request)
        body = load_body(request, RatingRequestSchema())
        result = self._intake().rate(code, body["phone_tail"], body["score"], body.get("comment"),
                                     self.case_guard)
        return 201, result

    # -- the case file, from the other services' events ----------------------------------
    @_events(*EVENT_RULES)
    def handle_case_event(self, event):
        self._intake().apply_event(event)

    @every("INTAKE_CLOSING_SWEEP_SECONDS", DEFAULT_CLOSING_SWEEP_SECONDS)
    def close_due_cases(self):
        interval = float(setting(self.config, "INTAKE_CLOSING_SWEEP_SECONDS",
                                 DEFAULT_CLOSING_SWEEP_SECONDS))
        self._intake().close_due(lease_seconds=max(2 * interval, 5.0))

    @rpc
    def contacts(self, case_id, roles=None):
        """Parties' names, phones and addresses in clear, for notify just before it sends."""
        caller = self.store.worker_ctx.immediate_parent_call_id or "rpc"
        return self._intake().contacts(case_id, list(roles) if roles is not None else None,
                                       f"rpc:{caller.split('.')[0]}")
