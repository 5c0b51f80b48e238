"""Event contracts between services (DESIGN.md §4; docs/contracts.md).

Every event is one envelope; its `data` has a schema per event type. Producers validate
strictly (an unknown field is a producer bug and fails loudly); consumers validate the
envelope and ignore data fields they do not know yet, so a newer producer can add fields
without breaking an older consumer. A breaking change raises `schema_version`; a consumer
that meets a version newer than it understands refuses the event (it is dead-lettered,
never half-processed).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from marshmallow import EXCLUDE, RAISE, Schema, ValidationError, fields, validate

CATEGORIES = (
    "labour", "family", "domestic_violence", "neighbour", "property_management", "lending",
    "consumer", "traffic", "medical", "land", "construction", "education", "environment",
    "tenancy", "contract", "other",
)
COLOURS = ("none", "blue", "yellow", "red")
TIERS = ("simple", "general", "complex")
LEVELS = ("grid", "community", "township", "county", "city")
DIVISION_CODE = validate.Regexp(r"^\d{6}(\d{3}){0,2}$", error="not a division code (6, 9 or 12 digits)")


class InvalidEvent(Exception):
    """An event that does not meet its contract. It is never half-processed."""

    def __init__(self, message: str, errors: dict | None = None):
        super().__init__(message)
        self.errors = errors or {}


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


class _Data(Schema):
    class Meta:
        unknown = RAISE


class PartyRef(_Data):
    party_id = fields.String(required=True)
    role = fields.String(required=True, validate=validate.OneOf(["applicant", "respondent", "third_party"]))
    kind = fields.String(required=True, validate=validate.OneOf(["person", "organisation"]))


class CourtReferralRef(_Data):
    court_id = fields.String(required=True)
    referral_id = fields.String(required=True)
    batch_id = fields.String(load_default=None, allow_none=True)
    deadline = fields.AwareDateTime(load_default=None, allow_none=True)


# -- intake -------------------------------------------------------------------------------
class CaseRegistered(_Data):
    channel = fields.String(required=True)
    channel_ref = fields.String(load_default=None, allow_none=True)
    grid = fields.String(load_default=None, allow_none=True)
    summary = fields.String(required=True, validate=validate.Length(max=200))
    severity = fields.String(required=True, validate=validate.OneOf(["general", "major", "critical"]))
    risk_flags = fields.List(fields.String(), load_default=list)
    immediate_red = fields.Boolean(load_default=False)
    people_involved = fields.Integer(required=True, validate=validate.Range(min=1))
    amount = fields.Float(load_default=None, allow_none=True)
    occurred_on = fields.String(load_default=None, allow_none=True)
    registered_at = fields.AwareDateTime(required=True)
    parties = fields.List(fields.Nested(PartyRef), load_default=list)
    court_referral = fields.Nested(CourtReferralRef, load_default=None, allow_none=True)
    # Added (compatible): the open case this one repeats (the same person back through the
    # same inlet: 重复访), so routing can send it to whoever holds that case.
    repeat_of = fields.String(load_default=None, allow_none=True)


class CaseMerged(_Data):
    duplicate_case_id = fields.String(required=True)
    duplicate_case_code = fields.String(required=True)
    channel = fields.String(required=True)
    channel_ref = fields.String(load_default=None, allow_none=True)
    # Added (compatible): the surviving case's classification and size after the merge — a
    # second report can raise the risk (a grid worker hears threats the window did not).
    severity = fields.String(load_default=None, allow_none=True,
                             validate=validate.OneOf(["general", "major", "critical"]))
    risk_flags = fields.List(fields.String(), load_default=None, allow_none=True)
    immediate_red = fields.Boolean(load_default=None, allow_none=True)
    people_involved = fields.Integer(load_default=None, allow_none=True, validate=validate.Range(min=1))
    amount = fields.Float(load_default=None, allow_none=True)
    court_referral = fields.Nested(CourtReferralRef, load_default=None, allow_none=True)


class CaseStatusChanged(_Data):
    from_status = fields.String(required=True)
    to_status = fields.String(required=True)
    reason = fields.String(load_default=None, allow_none=True)


class CaseClosed(_Data):
    final_status = fields.String(required=True)
    closed_at = fields.AwareDateTime(required=True)


class RatingSubmitted(_Data):
    score = fields.Integer(required=True, validate=validate.Range(min=1, max=5))
    has_comment = fields.Boolean(load_default=False)


# -- routing ------------------------------------------------------------------------------
class RuleRef(_Data):
    rule_id = fields.String(required=True)
    reason = fields.String(required=True)


class CaseAssigned(_Data):
    tier = fields.String(required=True, validate=validate.OneOf(TIERS))
    level = fields.String(required=True, validate=validate.OneOf(LEVELS))
    unit = fields.String(required=True)
    lead_department = fields.String(load_default=None, allow_none=True)
    departments = fields.List(fields.String(), load_default=list)
    deadlines = fields.Dict(keys=fields.String(), values=fields.AwareDateTime(), load_default=dict)
    rule = fields.Nested(RuleRef, required=True)
    triage = fields.Boolean(load_default=False)


class UnitAction(_Data):
    unit = fields.String(required=True)
    actor = fields.String(load_default=None, allow_none=True)
    reason = fields.String(load_default=None, allow_none=True)
    suggested_unit = fields.String(load_default=None, allow_none=True)


class MediationRequested(_Data):
    tier = fields.String(required=True, validate=validate.OneOf(TIERS))
    mediation_type = fields.String(required=True)
    committee = fields.String(load_default=None, allow_none=True)
    departments = fields.List(fields.String(), load_default=list)
    deadline = fields.AwareDateTime(load_default=None, allow_none=True)
    court_referred = fields.Boolean(load_default=False)


class SummonsRef(_Data):
    summons_id = fields.String(required=True)
    department = fields.String(required=True)
    report_by = fields.AwareDateTime(required=True)
    on_site = fields.Boolean(load_default=False)


class DepartmentsSummoned(_Data):
    summons = fields.List(fields.Nested(SummonsRef), required=True)


class SummonsAcknowledged(_Data):
    summons_id = fields.String(required=True)
    department = fields.String(required=True)
    acknowledged_at = fields.AwareDateTime(required=True)
    on_time = fields.Boolean(required=True)


class SlaWarning(_Data):
    colour = fields.String(required=True, validate=validate.OneOf(["blue", "yellow", "red"]))
    clock = fields.String(required=True)
    deadline = fields.AwareDateTime(load_default=None, allow_none=True)
    level = fields.String(required=True)
    unit = fields.String(required=True)
    reason = fields.String(required=True)
    # Added (compatible): the escalation rung the warning is addressed to (levels stop at city;
    # the rungs go on to inspection and discipline).
    rung = fields.String(load_default=None, allow_none=True)


class CaseEscalated(_Data):
    from_level = fields.String(required=True)
    to_level = fields.String(required=True)
    from_unit = fields.String(required=True)
    to_unit = fields.String(required=True)
    reason = fields.String(required=True)
    # Added (compatible): the ladder rungs, and whether the new unit takes the case over (交办)
    # or only supervises it (督办) while the handling unit keeps it.
    from_rung = fields.String(load_default=None, allow_none=True)
    to_rung = fields.String(load_default=None, allow_none=True)
    takes_over = fields.Boolean(load_default=True)


class LeaderAssigned(_Data):
    leader = fields.String(required=True)
    instruction = fields.String(load_default=None, allow_none=True)


# -- mediation ----------------------------------------------------------------------------
class SessionScheduled(_Data):
    session_id = fields.String(required=True)
    kind = fields.String(required=True)
    starts_at = fields.AwareDateTime(required=True)
    ends_at = fields.AwareDateTime(required=True)
    room_id = fields.String(load_default=None, allow_none=True)
    place = fields.String(load_default=None, allow_none=True)
    join_link = fields.String(load_default=None, allow_none=True)
    mediator_id = fields.String(required=True)
    # Added (compatible): what the session is for, whether it replaces an earlier time of the
    # same session_id, and the departments (unit ids) invited to attend.
    purpose = fields.String(load_default="mediation")  # mediation | legal_aid | counselling
    rescheduled = fields.Boolean(load_default=False)
    departments = fields.List(fields.String(), load_default=list)


class SessionReminder(_Data):
    """Emitted by mediation's reminder timer (a day before, two hours before) for a session
    that is still booked, so a cancelled or moved session is never announced stale."""

    session_id = fields.String(required=True)
    reminder = fields.String(required=True)  # day_before | two_hours_before
    kind = fields.String(required=True)
    purpose = fields.String(load_default="mediation")
    starts_at = fields.AwareDateTime(required=True)
    ends_at = fields.AwareDateTime(required=True)
    room_id = fields.String(load_default=None, allow_none=True)
    place = fields.String(load_default=None, allow_none=True)
    join_link = fields.String(load_default=None, allow_none=True)
    mediator_id = fields.String(required=True)
    departments = fields.List(fields.String(), load_default=list)


class SessionCancelled(_Data):
    session_id = fields.String(required=True)
    kind = fields.String(required=True)
    purpose = fields.String(load_default="mediation")
    starts_at = fields.AwareDateTime(required=True)
    reason = fields.String(required=True)
    departments = fields.List(fields.String(), load_default=list)


class AgreementReached(_Data):
    agreement_id = fields.String(required=True)
    partial = fields.Boolean(load_default=False)
    amount = fields.Float(load_default=None, allow_none=True)
    performance_deadline = fields.String(load_default=None, allow_none=True)
    confirmation_requested = fields.Boolean(required=True)
    agreement_hash = fields.String(required=True)
    court_referred = fields.Boolean(load_default=False)
    # Added (compatible): what the court needs to confirm the agreement (司法确认) and to
    # check it against the hash: the terms as they stand in the document, who mediated, when.
    terms = fields.List(fields.String(), load_default=list)
    mediator_id = fields.String(load_default=None, allow_none=True)
    agreed_at = fields.AwareDateTime(load_default=None, allow_none=True)


class SessionRecord(_Data):
    """One session as the mediation record (调解笔录) shows it: no names, party ids only."""

    session_id = fields.String(required=True)
    kind = fields.String(required=True)
    purpose = fields.String(load_default="mediation")
    starts_at = fields.AwareDateTime(required=True)
    ends_at = fields.AwareDateTime(load_default=None, allow_none=True)
    mediator_id = fields.String(load_default=None, allow_none=True)
    attended = fields.List(fields.String(), load_default=list)
    absent = fields.List(fields.String(), load_default=list)


class MediationFailed(_Data):
    reason = fields.String(required=True)
    undisputed_facts = fields.String(load_default=None, allow_none=True)
    wants_litigation = fields.Boolean(load_default=False)
    court_referred = fields.Boolean(load_default=False)
    # Added (compatible): the mediation record the court receives with a failed referral or
    # a filing (调解不成 → 立案 carries the record and the undisputed facts).
    failed_at = fields.AwareDateTime(load_default=None, allow_none=True)
    mediator_id = fields.String(load_default=None, allow_none=True)
    sessions = fields.List(fields.Nested(SessionRecord), load_default=list)
    unreachable_parties = fields.List(fields.String(), load_default=list)
    refusing_parties = fields.List(fields.String(), load_default=list)


class MediationWithdrawn(_Data):
    reason = fields.String(required=True)
    court_referred = fields.Boolean(load_default=False)


class FollowupRequired(_Data):
    followup_id = fields.String(required=True)
    reason = fields.String(required=True)
    first_visit_due = fields.AwareDateTime(required=True)


class FollowupRecorded(_Data):
    followup_id = fields.String(required=True)
    visit_number = fields.Integer(required=True)
    state = fields.String(required=True)
    satisfaction = fields.Integer(load_default=None, allow_none=True)
    green = fields.Boolean(required=True)


# -- court_bridge -------------------------------------------------------------------------
class ReferralReceived(_Data):
    court_id = fields.String(required=True)
    batch_id = fields.String(required=True)
    referral_id = fields.String(required=True)
    deadline = fields.AwareDateTime(required=True)


class ReferralFeedbackSent(_Data):
    court_id = fields.String(required=True)
    referral_id = fields.String(required=True)
    outcome = fields.String(required=True)


class ConfirmationApplied(_Data):
    court_id = fields.String(required=True)
    application_id = fields.String(required=True)


class ConfirmationGranted(_Data):
    court_id = fields.String(required=True)
    ruling_number = fields.String(required=True)


class ConfirmationRejected(_Data):
    court_id = fields.String(required=True)
    reasons = fields.List(fields.String(), required=True)


class FilingRequested(_Data):
    court_id = fields.String(required=True)
    track = fields.String(required=True, validate=validate.OneOf(["priority", "fast_track"]))


class CaseFiled(_Data):
    court_id = fields.String(required=True)
    track = fields.String(required=True, validate=validate.OneOf(["priority", "fast_track"]))
    docket_number = fields.String(required=True)
    # Added (compatible): filed by a court sitting in the centre (就地立案).
    on_site = fields.Boolean(load_default=False)


class EnforcementApplied(_Data):
    court_id = fields.String(required=True)
    application_id = fields.String(required=True)


class ReferralExtended(_Data):
    """The parties consented to more time for a pre-suit mediation; the court was told."""

    court_id = fields.String(required=True)
    referral_id = fields.String(required=True)
    previous_deadline = fields.AwareDateTime(required=True)
    deadline = fields.AwareDateTime(required=True)
    reason = fields.String(required=True)


class ConfirmationDue(_Data):
    """A judicial confirmation window (30 days from the agreement) closing or closed unapplied."""

    court_id = fields.String(required=True)
    agreement_id = fields.String(required=True)
    deadline = fields.AwareDateTime(required=True)
    level = fields.String(required=True, validate=validate.OneOf(["due_soon", "overdue"]))


class CourtMessageStuck(_Data):
    """A message to a court's system that keeps failing: the court clerk must look at it."""

    court_id = fields.String(required=True)
    message_id = fields.String(required=True)
    operation = fields.String(required=True)
    attempts = fields.Integer(required=True, validate=validate.Range(min=1))
    last_error = fields.String(load_default=None, allow_none=True)
    referral_id = fields.String(load_default=None, allow_none=True)


# -- notify -------------------------------------------------------------------------------
class NotificationOutcome(_Data):
    notification_id = fields.String(required=True)
    kind = fields.String(required=True)
    channel = fields.String(required=True)
    recipient_kind = fields.String(required=True)
    error = fields.String(load_default=None, allow_none=True)


EVENT_DATA: dict[str, dict[str, type[Schema]]] = {
    "intake": {
        "case_registered": CaseRegistered,
        "case_merged": CaseMerged,
        "case_status_changed": CaseStatusChanged,
        "case_closed": CaseClosed,
        "rating_submitted": RatingSubmitted,
    },
    "routing": {
        "case_assigned": CaseAssigned,
        "case_accepted": UnitAction,
        "case_returned": UnitAction,
        "case_resolved": UnitAction,
        "mediation_requested": MediationRequested,
        "departments_summoned": DepartmentsSummoned,
        "summons_acknowledged": SummonsAcknowledged,
        "sla_warning": SlaWarning,
        "case_escalated": CaseEscalated,
        "leader_assigned": LeaderAssigned,
    },
    "mediation": {
        "session_scheduled": SessionScheduled,
        "session_reminder": SessionReminder,
        "session_cancelled": SessionCancelled,
        "agreement_reached": AgreementReached,
        "mediation_failed": MediationFailed,
        "mediation_withdrawn": MediationWithdrawn,
        "followup_required": FollowupRequired,
        "followup_recorded": FollowupRecorded,
    },
    "court_bridge": {
        "referral_received": ReferralReceived,
        "referral_feedback_sent": ReferralFeedbackSent,
        "confirmation_applied": ConfirmationApplied,
        "confirmation_granted": ConfirmationGranted,
        "confirmation_rejected": ConfirmationRejected,
        "filing_requested": FilingRequested,
        "case_filed": CaseFiled,
        "enforcement_applied": EnforcementApplied,
        "referral_extended": ReferralExtended,
        "confirmation_due": ConfirmationDue,
        "message_stuck": CourtMessageStuck,
    },
    "notify": {
        "notification_sent": NotificationOutcome,
        "notification_failed": NotificationOutcome,
    },
}

# Who consumes what (docs/contracts.md). The outbox relay publishes a subscribed type with
# mandatory routing and reads an unroutable one as "its consumer's queue is missing" (kept,
# retried, alerted on); a type nobody subscribes to goes to whoever listens, if anyone.
# tests/unit/test_contracts.py holds this to the services' handlers.
SUBSCRIBERS: dict[tuple[str, str], tuple[str, ...]] = {
    ("intake", "case_registered"): ("court_bridge", "notify", "routing"),
    ("intake", "case_merged"): ("court_bridge", "routing"),
    ("intake", "case_closed"): ("routing",),
    ("intake", "rating_submitted"): ("routing",),
    ("routing", "case_assigned"): ("intake", "notify"),
    ("routing", "case_accepted"): ("intake",),
    ("routing", "case_returned"): ("intake", "notify"),
    ("routing", "case_resolved"): ("intake", "mediation"),
    ("routing", "mediation_requested"): ("intake", "mediation"),
    ("routing", "departments_summoned"): ("intake", "notify"),
    ("routing", "summons_acknowledged"): ("intake",),
    ("routing", "sla_warning"): ("intake", "notify"),
    ("routing", "case_escalated"): ("intake", "notify"),
    ("routing", "leader_assigned"): ("intake", "notify"),
    ("mediation", "session_scheduled"): ("intake", "notify", "routing"),
    ("mediation", "session_reminder"): ("notify",),
    ("mediation", "session_cancelled"): ("intake", "notify"),
    ("mediation", "agreement_reached"): ("court_bridge", "intake", "notify", "routing"),
    ("mediation", "mediation_failed"): ("court_bridge", "intake", "routing"),
    ("mediation", "mediation_withdrawn"): ("court_bridge", "intake", "routing"),
    ("mediation", "followup_required"): ("intake", "notify"),
    ("mediation", "followup_recorded"): ("intake", "routing"),
    ("court_bridge", "referral_received"): ("intake",),
    ("court_bridge", "referral_feedback_sent"): ("intake",),
    ("court_bridge", "confirmation_applied"): ("intake",),
    ("court_bridge", "confirmation_granted"): ("intake", "notify"),
    ("court_bridge", "confirmation_rejected"): ("intake", "notify"),
    ("court_bridge", "filing_requested"): ("intake",),
    ("court_bridge", "case_filed"): ("intake", "notify", "routing"),
    ("court_bridge", "enforcement_applied"): ("intake",),
    ("court_bridge", "referral_extended"): ("intake", "routing"),
    ("court_bridge", "confirmation_due"): ("intake", "notify"),
    ("court_bridge", "message_stuck"): ("notify",),
}


def is_subscribed(source: str, event_type: str) -> bool:
    return bool(SUBSCRIBERS.get((source, event_type)))


SCHEMA_VERSIONS: dict[tuple[str, str], int] = {
    (source, event_type): 1 for source, types in EVENT_DATA.items() for event_type in types
}


class EnvelopeSchema(Schema):
    class Meta:
        unknown = RAISE

    event_id = fields.UUID(required=True)
    event_type = fields.String(required=True)
    source = fields.String(required=True, validate=validate.OneOf(list(EVENT_DATA)))
    occurred_at = fields.AwareDateTime(required=True)
    schema_version = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    case_id = fields.String(required=True, validate=validate.Length(min=1))
    case_code = fields.String(required=True, validate=validate.Length(min=1))
    jurisdiction = fields.String(required=True, validate=DIVISION_CODE)
    category = fields.String(required=True, validate=validate.OneOf(CATEGORIES))
    data = fields.Dict(required=True)


_envelope_schema = EnvelopeSchema()


def _data_schema(source: str, event_type: str, unknown: str) -> Schema:
    try:
        schema_cls = EVENT_DATA[source][event_type]
    except KeyError as exc:
        raise InvalidEvent(f"unknown event type {source}.{event_type}") from exc
    return schema_cls(unknown=unknown)


def make_envelope(
    source: str,
    event_type: str,
    *,
    case: dict,
    data: dict,
    occurred_at: datetime | None = None,
    event_id: str | None = None,
) -> dict:
    """Build and strictly validate an envelope; `case` has case_id, case_code, jurisdiction, category."""
    envelope = {
        "event_id": event_id or str(uuid.uuid4()),
        "event_type": event_type,
        "source": source,
        "occurred_at": iso(occurred_at or utcnow()),
        "schema_version": SCHEMA_VERSIONS.get((source, event_type), 1),
        "case_id": case.get("case_id"),
        "case_code": case.get("case_code"),
        "jurisdiction": case.get("jurisdiction"),
        "category": case.get("category"),
        "data": data,
    }
    validate_envelope(envelope, strict=True)
    return envelope


def validate_envelope(
    envelope: object,
    *,
    strict: bool = False,
    expect_source: str | None = None,
    expect_type: str | None = None,
) -> dict:
    """Check an envelope and its data. Returns the data as loaded (typed values).

    strict=True is the producer's check (unknown data fields refused); consumers pass
    strict=False and ignore data fields added by a newer producer.
    """
    if not isinstance(envelope, dict):
        raise InvalidEvent("event payload is not a JSON object")
    try:
        loaded = _envelope_schema.load(envelope)
    except ValidationError as exc:
        raise InvalidEvent("event envelope is invalid", exc.normalized_messages()) from exc
    source, event_type = loaded["source"], loaded["event_type"]
    if expect_source and source != expect_source:
        raise InvalidEvent(f"event says source {source!r}, it arrived from {expect_source!r}")
    if expect_type and event_type != expect_type:
        raise InvalidEvent(f"event says type {event_type!r}, it arrived as {expect_type!r}")
    known_version = SCHEMA_VERSIONS.get((source, event_type))
    if known_version is None:
        raise InvalidEvent(f"unknown event type {source}.{event_type}")
    if loaded["schema_version"] > known_version:
        raise InvalidEvent(
            f"{source}.{event_type} schema_version {loaded['schema_version']} is newer than "
            f"{known_version}, which this consumer understands"
        )
    schema = _data_schema(source, event_type, RAISE if strict else EXCLUDE)
    try:
        return schema.load(loaded["data"])
    except ValidationError as exc:
        raise InvalidEvent(
            f"data of {source}.{event_type} is invalid", {"data": exc.normalized_messages()}
        ) from exc


def case_ref(envelope: dict) -> dict:
    """The case fields of an envelope, to carry into the events a consumer emits in turn."""
    return {key: envelope[key] for key in ("case_id", "case_code", "jurisdiction", "category")}
