"""Intake's request and response schemas (DESIGN.md §5, the case intake payload).

Requests refuse unknown fields. What each channel additionally requires is rule data
(data/channels.yaml), checked by domain.channels after these schemas.
"""

from __future__ import annotations

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from services.common.contracts import CATEGORIES
from services.intake.domain.casefile import STATUSES
from services.intake.domain.channels import CHANNELS
from services.intake.domain.classification import SEVERITIES

# Patterns say [0-9], never \d (which also takes ١٤٠١٠٦ or １４０１０６: codes the rest of intake —
# case codes, scopes, the phone-tail comparison — cannot use), and end with \Z (a $ also lets a
# trailing newline through).
DIVISION = validate.Regexp(r"^[0-9]{6}(?:[0-9]{3}){0,2}\Z", error="not a division code (6, 9 or 12 digits)")

ROLES = ["applicant", "respondent", "third_party"]
KINDS = ["person", "organisation"]


class StrictSchema(Schema):
    class Meta:
        unknown = RAISE


class PartySchema(StrictSchema):
    role = fields.String(required=True, validate=validate.OneOf(ROLES))
    kind = fields.String(required=True, validate=validate.OneOf(KINDS))
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    id_number = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=6, max=30))
    phone = fields.String(
        load_default=None, allow_none=True,
        validate=validate.Regexp(r"^\+?[0-9\- ]{5,20}\Z", error="not a phone number"),
    )
    address = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=300))


class AttachmentSchema(StrictSchema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    content_type = fields.String(required=True, validate=validate.Length(max=100))
    size = fields.Integer(required=True, strict=True, validate=validate.Range(min=0, max=100 * 1024 * 1024))
    sha256 = fields.String(required=True, validate=validate.Regexp(r"^[0-9a-f]{64}\Z"))


class CaseIntakeSchema(StrictSchema):
    channel = fields.String(required=True, validate=validate.OneOf(CHANNELS))
    channel_ref = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=100))
    jurisdiction = fields.String(required=True, validate=DIVISION)
    grid = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=40))
    category = fields.String(required=True, validate=validate.OneOf(CATEGORIES))
    summary = fields.String(required=True, validate=validate.Length(min=1, max=200))
    description = fields.String(load_default="", validate=validate.Length(max=5000))
    parties = fields.List(fields.Nested(PartySchema), required=True, validate=validate.Length(min=1, max=200))
    people_involved = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=1_000_000))
    amount = fields.Float(load_default=None, allow_none=True, validate=validate.Range(min=0, max=1e13))
    occurred_at = fields.Date(load_default=None, allow_none=True)
    attachments = fields.List(fields.Nested(AttachmentSchema), load_default=list, validate=validate.Length(max=50))

    @validates_schema
    def one_applicant(self, data, **kwargs):
        if not any(party["role"] == "applicant" for party in data.get("parties", [])):
            raise ValidationError({"parties": ["at least one applicant is required"]})


class RpcCaseIntakeSchema(CaseIntakeSchema):
    """The RPC's payload: a court referral also says which court, batch and deadline.

    Only court_bridge (intake.register_case) may set these; the public HTTP route refuses them.
    """

    court_id = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=100))
    batch_id = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=100))
    referral_deadline = fields.AwareDateTime(load_default=None, allow_none=True)


class RpcActorSchema(StrictSchema):
    """Who calls intake.register_case: court_bridge passes its caller's `Principal.as_actor()`."""

    sub = fields.String(required=True, validate=validate.Length(min=1, max=200))
    agency = fields.String(load_default="", validate=validate.Length(max=200))
    roles = fields.List(fields.String(validate=validate.Length(min=1, max=50)), required=True,
                        validate=validate.Length(max=20))


class CaseCreatedSchema(Schema):
    outcome = fields.String(metadata={"enum": ["registered", "merged", "existing"]})
    case_id = fields.String()
    case_code = fields.String()
    status = fields.String()
    duplicate_of = fields.String(allow_none=True)
    severity = fields.String()
    risk_flags = fields.List(fields.String())


class CaseListQuerySchema(StrictSchema):
    jurisdiction = fields.String(validate=DIVISION)
    status = fields.String(validate=validate.OneOf(STATUSES))
    category = fields.String(validate=validate.OneOf(CATEGORIES))
    channel = fields.String(validate=validate.OneOf(CHANNELS))
    from_ = fields.Date(data_key="from", metadata={"description": "registered on or after (local date)"})
    to = fields.Date(metadata={"description": "registered on or before (local date)"})
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100_000))
    page_size = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))

    @validates_schema
    def ordered_dates(self, data, **kwargs):
        if data.get("from_") and data.get("to") and data["from_"] > data["to"]:
            raise ValidationError({"to": ["must not be before from"]})


class CaseSummarySchema(Schema):
    case_id = fields.String()
    case_code = fields.String()
    jurisdiction = fields.String()
    category = fields.String()
    channel = fields.String()
    channels = fields.List(fields.String())
    status = fields.String(validate=validate.OneOf(STATUSES))
    severity = fields.String(validate=validate.OneOf(SEVERITIES))
    risk_flags = fields.List(fields.String())
    immediate_red = fields.Boolean()
    summary = fields.String()
    people_involved = fields.Integer()
    amount = fields.Float(allow_none=True)
    registered_at = fields.String()
    duplicate_of = fields.String(allow_none=True)
    repeat_of = fields.String(allow_none=True)


class CaseListSchema(Schema):
    items = fields.List(fields.Nested(CaseSummarySchema))
    page = fields.Integer()
    page_size = fields.Integer()
    total = fields.Integer()


class PartyViewSchema(Schema):
    party_id = fields.String()
    role = fields.String()
    kind = fields.String()
    name = fields.String()
    id_number = fields.String(allow_none=True, metadata={"description": "masked"})
    phone = fields.String(allow_none=True, metadata={"description": "masked"})
    address = fields.String(allow_none=True)


class ReportSchema(Schema):
    case_id = fields.String()
    case_code = fields.String()
    channel = fields.String()
    channel_ref = fields.String(allow_none=True)
    grid = fields.String(allow_none=True)
    at = fields.String()


class TimelineEntrySchema(Schema):
    at = fields.String()
    kind = fields.String()
    text = fields.String()
    public = fields.Boolean()
    status = fields.String(allow_none=True)
    actor = fields.Dict()


class CourtReferralViewSchema(Schema):
    court_id = fields.String()
    referral_id = fields.String()
    batch_id = fields.String(allow_none=True)
    deadline = fields.String(allow_none=True)


class RatingViewSchema(Schema):
    score = fields.Integer()
    comment = fields.String(allow_none=True)
    at = fields.String()


class CaseFileSchema(CaseSummarySchema):
    grid = fields.String(allow_none=True)
    channel_ref = fields.String(allow_none=True)
    description = fields.String()
    occurred_on = fields.String(allow_none=True)
    attachments = fields.List(fields.Dict())
    parties = fields.List(fields.Nested(PartyViewSchema))
    reports = fields.List(fields.Nested(ReportSchema))
    risk_reasons = fields.Dict(keys=fields.String(), values=fields.String())
    status_at = fields.String()
    timeline = fields.List(fields.Nested(TimelineEntrySchema))
    court_referral = fields.Nested(CourtReferralViewSchema, allow_none=True)
    related = fields.List(fields.String())
    rating = fields.Nested(RatingViewSchema, allow_none=True)
    close_due_at = fields.String(allow_none=True)
    closed_at = fields.String(allow_none=True)
    final_status = fields.String(allow_none=True)


class PhoneTailSchema(StrictSchema):
    # ASCII digits only (see DIVISION): hmac.compare_digest with the stored tails takes no other
    phone_tail = fields.String(required=True, validate=validate.Regexp(r"^[0-9]{4}\Z", error="the last four digits"))


class PublicPartySchema(Schema):
    role = fields.String()
    role_text = fields.String()
    name = fields.String()
    phone = fields.String(allow_none=True)


class PublicEntrySchema(Schema):
    at = fields.String()
    text = fields.String()


class ProgressSchema(Schema):
    case_code = fields.String()
    status = fields.String()
    status_text = fields.String()
    category_text = fields.String()
    registered_on = fields.String()
    parties = fields.List(fields.Nested(PublicPartySchema))
    timeline = fields.List(fields.Nested(PublicEntrySchema))
    duplicate_of = fields.String(allow_none=True)
    can_rate = fields.Boolean()


class RatingRequestSchema(PhoneTailSchema):
    score = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=5))
    comment = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=500))


class RatingResultSchema(Schema):
    case_code = fields.String()
    score = fields.Integer()
    status = fields.String()
