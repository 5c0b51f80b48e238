"""court_bridge's request and response schemas. Requests refuse unknown fields."""

from __future__ import annotations

from datetime import UTC, datetime

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from services.common.contracts import CATEGORIES, DIVISION_CODE

MAX_BATCH_ITEMS = 10_000
CHANNELS = (
    "walk_in", "hotline", "letter", "online", "grid_report", "police_110",
    "court_referral", "leader_assigned", "department_referral",
)


class StrictSchema(Schema):
    class Meta:
        unknown = RAISE


# -- a referral batch (DESIGN.md §5) ------------------------------------------------------
class PartySchema(StrictSchema):
    role = fields.String(required=True, validate=validate.OneOf(["applicant", "respondent", "third_party"]))
    kind = fields.String(required=True, validate=validate.OneOf(["person", "organisation"]))
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    id_number = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=6, max=30))
    phone = fields.String(load_default=None, allow_none=True,
                          validate=validate.Regexp(r"^\+?[0-9\- ]{5,20}$", error="not a phone number"))
    address = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=300))


class AttachmentSchema(StrictSchema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    content_type = fields.String(required=True, validate=validate.Length(max=100))
    size = fields.Integer(required=True, strict=True, validate=validate.Range(min=0, max=100 * 1024 * 1024))
    sha256 = fields.String(required=True, validate=validate.Regexp(r"^[0-9a-f]{64}$"))


class ReferralItemSchema(StrictSchema):
    """The case intake payload, plus the court's optional cause of action (案由)."""

    channel = fields.String(required=True, validate=validate.OneOf(CHANNELS))
    channel_ref = fields.String(required=True, validate=validate.Length(min=1, max=100))
    jurisdiction = fields.String(required=True, validate=DIVISION_CODE)
    grid = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=40))
    category = fields.String(required=True, validate=validate.OneOf(CATEGORIES))
    cause = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=60))
    summary = fields.String(required=True, validate=validate.Length(min=1, max=200))
    description = fields.String(load_default="", validate=validate.Length(max=5000))
    parties = fields.List(fields.Nested(PartySchema), required=True, validate=validate.Length(min=1, max=200))
    people_involved = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=1_000_000))
    amount = fields.Float(load_default=None, allow_none=True, validate=validate.Range(min=0))
    occurred_at = fields.Date(load_default=None, allow_none=True)
    attachments = fields.List(fields.Nested(AttachmentSchema), load_default=list, validate=validate.Length(max=50))
    # When the court referred the case (委派): the pre-suit period counts from then, not from
    # when the batch reached the centre. Not part of the case intake payload.
    referred_at = fields.AwareDateTime(load_default=None, allow_none=True, validate=validate.Range(
        min=datetime(2000, 1, 1, tzinfo=UTC), max=datetime(2100, 1, 1, tzinfo=UTC), error="not a plausible date"))

    @validates_schema
    def has_applicant(self, data, **kwargs):
        if not any(party["role"] == "applicant" for party in data.get("parties", [])):
            raise ValidationError({"parties": ["at least one applicant is required"]})


class ReferralBatchSchema(StrictSchema):
    court_id = fields.String(required=True, validate=validate.Length(min=1, max=60))
    batch_id = fields.String(required=True, validate=validate.Length(min=1, max=100))
    # Items are checked one by one (ReferralItemSchema): one bad item is rejected alone.
    items = fields.List(fields.Raw(), required=True, validate=validate.Length(min=1, max=MAX_BATCH_ITEMS))


class ItemResultSchema(Schema):
    channel_ref = fields.String(allow_none=True)
    result = fields.String(metadata={"enum": ["accepted", "duplicate", "rejected"]})
    case_code = fields.String(allow_none=True)
    reason = fields.String(allow_none=True)
    detail = fields.String(allow_none=True)
    fields_ = fields.Dict(data_key="fields")


class BatchResultSchema(Schema):
    court_id = fields.String()
    batch_id = fields.String()
    received = fields.Integer()
    accepted = fields.Integer()
    duplicate = fields.Integer()
    rejected = fields.Integer()
    results = fields.List(fields.Nested(ItemResultSchema))


# -- actions on a case --------------------------------------------------------------------
class ExtensionSchema(StrictSchema):
    days = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=365))
    parties_consent = fields.Boolean(required=True, validate=validate.Equal(
        True, error="an extension needs the consent of every party"))
    consent_record = fields.String(required=True, validate=validate.Length(min=1, max=500))
    referral_id = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=100))


class ConfirmationRequestSchema(StrictSchema):
    court_id = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=60))
    note = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=500))


class FilingRequestSchema(StrictSchema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=500))
    undisputed_facts = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=5000))
    court_id = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=60))


class EnforcementRequestSchema(StrictSchema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=500))
    applicant_role = fields.String(load_default="applicant",
                                   validate=validate.OneOf(["applicant", "respondent", "third_party"]))


class OnsiteRecordSchema(StrictSchema):
    kind = fields.String(required=True, validate=validate.OneOf(["filing", "hearing", "enforcement"]))
    occurred_at = fields.AwareDateTime(required=True)
    place = fields.String(required=True, validate=validate.Length(min=1, max=200))
    note = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=1000))


class ListQuerySchema(StrictSchema):
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=500))


class AcceptedSchema(Schema):
    case_code = fields.String()
    state = fields.String()
    message_id = fields.String(allow_none=True)


class FilingAcceptedSchema(AcceptedSchema):
    track = fields.String(metadata={"enum": ["priority", "fast_track"]})
    track_reasons = fields.List(fields.String())
