"""Mediation's request and query schemas (unknown fields refused) and response shapes."""

from __future__ import annotations

import unicodedata
from datetime import UTC

from marshmallow import RAISE, Schema, ValidationError, fields, pre_load, validate, validates_schema

from services.common.contracts import CATEGORIES, DIVISION_CODE
from services.mediation.domain.followup import VISIT_STATES
from services.mediation.domain.outcomes import FAILURE_REASONS, OUTCOME_TYPES, WITHDRAWAL_REASONS
from services.mediation.domain.rules import MEDIATOR_TYPES, PURPOSES, WEEKDAYS

ROOM_KINDS = ("on_site", "video")
SESSION_KINDS = ("on_site", "video")
HHMM = validate.Regexp(r"^([01]\d|2[0-3]):[0-5]\d$", error="HH:MM, 24-hour clock")
UNIT_ID = validate.Regexp(r"^[0-9A-Za-z_:\-]{3,60}$", error="not a unit id (e.g. 140106:committee:family)")
HTTPS_URL = validate.Regexp(r"^https://[^\s]{3,500}$", error="an https:// link")
# intake's party ids; a name typed here instead would travel on the bus to the court
PARTY_ID = validate.Regexp(r"^[0-9A-Za-z_\-]{1,64}$", error="a party id as intake gives it (letters, digits, - and _)")
PARTY_ROLES = ("applicant", "respondent", "third_party")
# control, format (bidi overrides, zero-width), surrogate, private-use, unassigned
INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn"})
CANCEL_REASONS = ("party_request", "mediator_unavailable", "room_unavailable", "other")


class StrictSchema(Schema):
    class Meta:
        unknown = RAISE

    @pre_load
    def encodable_text(self, data, **kwargs):
        """JSON may carry a lone surrogate (\\ud800) that no UTF-8 store or document can hold:
        refused here as bad input rather than failing deep in the database driver."""
        unencodable = _unencodable_paths(data)
        if unencodable:
            raise ValidationError({path: ["not valid Unicode text (a lone surrogate)"] for path in unencodable})
        return data


def _unencodable_paths(value, path: str = "") -> list[str]:
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return [path or "body"]
        return []
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return []
    # keys need no check: each is a field name of the schema or refused as unknown
    return [found for key, item in items for found in _unencodable_paths(item, f"{path}.{key}" if path else str(key))]


class UtcDateTime(fields.AwareDateTime):
    """An aware ISO time, taken as UTC (how it is stored, compared and answered). A time that
    leaves the calendar once in UTC (9999-12-31T23:59-14:00, 0001-01-01T00:00+14:00) is refused."""

    default_error_messages = {"range": "out of range: the time in UTC must lie within the years 1–9999"}

    def _deserialize(self, value, attr, data, **kwargs):
        moment = super()._deserialize(value, attr, data, **kwargs)
        try:
            return moment.astimezone(UTC)
        except OverflowError as exc:
            raise self.make_error("range") from exc


def _text(max_length: int, **kwargs) -> fields.String:
    return fields.String(validate=validate.Length(min=1, max=max_length), **kwargs)


class Line(fields.String):
    """One numbered line of a document (an agreement's term): surrounding blanks dropped, no
    line breaks, and no invisible characters (format, private-use, unassigned: a bidi override
    makes a line read otherwise than it is stored), so the text kept and sent on is exactly the
    text the document prints and the parties read."""

    default_error_messages = {"blank": "must not be blank",
                              "control": "one line of visible text: no line breaks, control or invisible characters"}

    def _deserialize(self, value, attr, data, **kwargs) -> str:
        text = super()._deserialize(value, attr, data, **kwargs).strip()
        if not text:
            raise self.make_error("blank")
        if any(unicodedata.category(char) in INVISIBLE_CATEGORIES for char in text):
            raise self.make_error("control")
        return text


# -- rooms --------------------------------------------------------------------------------------
class RoomSchema(StrictSchema):
    name = _text(100, required=True)
    kind = fields.String(required=True, validate=validate.OneOf(ROOM_KINDS))
    jurisdiction = fields.String(required=True, validate=DIVISION_CODE)
    unit = fields.String(load_default=None, allow_none=True, validate=UNIT_ID)
    location = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=200))
    capacity = fields.Integer(load_default=None, allow_none=True, strict=True, validate=validate.Range(min=1, max=500))
    equipment = fields.List(_text(50), load_default=list, validate=validate.Length(max=30))
    join_link = fields.String(load_default=None, allow_none=True, validate=HTTPS_URL)
    active = fields.Boolean(load_default=True)

    @validates_schema
    def kind_fields(self, data, partial=None, **kwargs):
        kind = data.get("kind")
        if partial:
            return
        if kind == "on_site" and not data.get("capacity"):
            raise ValidationError({"capacity": ["an on-site room has a capacity"]})
        if kind == "video" and not data.get("join_link"):
            raise ValidationError({"join_link": ["a video room has its join link"]})


class RoomQuerySchema(StrictSchema):
    jurisdiction = fields.String(load_default=None, validate=DIVISION_CODE)
    kind = fields.String(load_default=None, validate=validate.OneOf(ROOM_KINDS))
    active = fields.Boolean(load_default=None, allow_none=True)
    free_from = UtcDateTime(load_default=None)
    free_to = UtcDateTime(load_default=None)
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))
    offset = fields.Integer(load_default=0, validate=validate.Range(min=0, max=10000))

    @validates_schema
    def window(self, data, **kwargs):
        if (data.get("free_from") is None) != (data.get("free_to") is None):
            raise ValidationError({"free_to": ["give free_from and free_to together"]})
        if data.get("free_from") and data["free_to"] <= data["free_from"]:
            raise ValidationError({"free_to": ["must be after free_from"]})


# -- mediators ----------------------------------------------------------------------------------
class WorkingWindowSchema(StrictSchema):
    days = fields.List(fields.String(validate=validate.OneOf(WEEKDAYS)), required=True,
                       validate=validate.Length(min=1, max=7))
    start = fields.String(required=True, validate=HHMM)
    end = fields.String(required=True, validate=HHMM)

    @validates_schema
    def order(self, data, **kwargs):
        # a PATCH checks a window partially first (start or end may be missing), then whole
        if "start" in data and "end" in data and data["end"] <= data["start"]:
            raise ValidationError({"end": ["must be after start"]})


class MediatorSchema(StrictSchema):
    name = _text(50, required=True)
    type = fields.String(required=True, validate=validate.OneOf(MEDIATOR_TYPES))
    specialities = fields.List(fields.String(validate=validate.OneOf(CATEGORIES)), load_default=list,
                               validate=validate.Length(max=len(CATEGORIES)))
    jurisdictions = fields.List(fields.String(validate=DIVISION_CODE), required=True,
                                validate=validate.Length(min=1, max=20))
    unit = fields.String(load_default=None, allow_none=True, validate=UNIT_ID)
    organisation = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=100))
    working_hours = fields.List(fields.Nested(WorkingWindowSchema), load_default=None, allow_none=True,
                                validate=validate.Length(max=21))
    max_open_files = fields.Integer(load_default=20, strict=True, validate=validate.Range(min=1, max=500))
    active = fields.Boolean(load_default=True)


class MediatorQuerySchema(StrictSchema):
    jurisdiction = fields.String(load_default=None, validate=DIVISION_CODE)
    type = fields.String(load_default=None, validate=validate.OneOf(MEDIATOR_TYPES))
    speciality = fields.String(load_default=None, validate=validate.OneOf(CATEGORIES))
    active = fields.Boolean(load_default=None, allow_none=True)
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))
    offset = fields.Integer(load_default=0, validate=validate.Range(min=0, max=10000))


# -- mediation files and sessions -----------------------------------------------------------------
class FileQuerySchema(StrictSchema):
    jurisdiction = fields.String(load_default=None, validate=DIVISION_CODE)
    status = fields.String(load_default=None, validate=validate.OneOf(["open", "concluded"]))
    mediator_id = fields.String(load_default=None, validate=validate.Length(min=1, max=40))
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))
    offset = fields.Integer(load_default=0, validate=validate.Range(min=0, max=10000))


class SuggestionQuerySchema(StrictSchema):
    purpose = fields.String(load_default="mediation", validate=validate.OneOf(PURPOSES))
    starts_at = UtcDateTime(load_default=None)
    ends_at = UtcDateTime(load_default=None)
    limit = fields.Integer(load_default=None, validate=validate.Range(min=1, max=50))

    @validates_schema
    def window(self, data, **kwargs):
        if (data.get("starts_at") is None) != (data.get("ends_at") is None):
            raise ValidationError({"ends_at": ["give starts_at and ends_at together"]})


class SessionRequestSchema(StrictSchema):
    kind = fields.String(required=True, validate=validate.OneOf(SESSION_KINDS))
    purpose = fields.String(load_default="mediation", validate=validate.OneOf(PURPOSES))
    mediator_id = fields.String(required=True, validate=validate.Length(min=1, max=40))
    room_id = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=40))
    starts_at = UtcDateTime(required=True)
    ends_at = UtcDateTime(required=True)
    expected_attendees = fields.Integer(load_default=None, allow_none=True, strict=True,
                                        validate=validate.Range(min=1, max=500))
    departments = fields.List(fields.String(validate=UNIT_ID), load_default=None, allow_none=True,
                              validate=validate.Length(max=30))
    change_mediator = fields.Boolean(load_default=False)
    note = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=1000))

    @validates_schema
    def room_for_kind(self, data, **kwargs):
        if data["kind"] == "on_site" and not data.get("room_id"):
            raise ValidationError({"room_id": ["an on-site session needs a room"]})


class RescheduleSchema(StrictSchema):
    starts_at = UtcDateTime(required=True)
    ends_at = UtcDateTime(required=True)
    room_id = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=40))
    mediator_id = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=40))
    change_mediator = fields.Boolean(load_default=False)
    reason = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=500))


class CancelSchema(StrictSchema):
    # A code travels in session_cancelled; the free-text note stays on the file (it may name people).
    reason = fields.String(required=True, validate=validate.OneOf(CANCEL_REASONS))
    note = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=500))


class PartyAttendanceSchema(StrictSchema):
    party_id = fields.String(load_default=None, allow_none=True, validate=PARTY_ID)
    role = fields.String(required=True, validate=validate.OneOf(PARTY_ROLES))
    present = fields.Boolean(required=True)
    represented_by = fields.String(load_default=None, allow_none=True,
                                   validate=validate.OneOf(["lawyer", "agent", "guardian", "relative"]))


class DepartmentAttendanceSchema(StrictSchema):
    unit = fields.String(required=True, validate=UNIT_ID)
    present = fields.Boolean(required=True)


class AttendanceSchema(StrictSchema):
    parties = fields.List(fields.Nested(PartyAttendanceSchema), required=True,
                          validate=validate.Length(min=1, max=200))
    departments = fields.List(fields.Nested(DepartmentAttendanceSchema), load_default=list,
                              validate=validate.Length(max=30))
    notes = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=2000))

    @validates_schema
    def each_once(self, data, **kwargs):
        """One entry per party and per department: the record cannot say one came and did not."""
        errors = {}
        party_ids = [party["party_id"] for party in data.get("parties", []) if party.get("party_id")]
        units = [department["unit"] for department in data.get("departments", [])]
        for field, values in (("parties", party_ids), ("departments", units)):
            repeated = sorted({value for value in values if values.count(value) > 1})
            if repeated:
                errors[field] = [f"listed more than once: {', '.join(repeated)}"]
        if errors:
            raise ValidationError(errors)


# -- outcomes -----------------------------------------------------------------------------------
class OutcomeSchema(StrictSchema):
    """One schema for the four outcome types; which fields each needs is checked below, so a
    failed outcome can never carry agreement terms and be counted as a success."""

    type = fields.String(required=True, validate=validate.OneOf(OUTCOME_TYPES))
    # agreement / partial
    terms = fields.List(Line(validate=validate.Length(max=1000)), load_default=None,
                        validate=validate.Length(min=1, max=50))
    facts = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=3000))
    amount = fields.Float(load_default=None, allow_none=True, validate=validate.Range(min=0, max=1e11))
    performance_deadline = fields.Date(load_default=None, allow_none=True)
    confirmation_requested = fields.Boolean(load_default=None)
    unresolved = fields.List(Line(validate=validate.Length(max=500)), load_default=None,
                             validate=validate.Length(max=50))
    # failed / withdrawn
    reason = fields.String(load_default=None)
    detail = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=2000))
    unreachable_parties = fields.List(fields.String(validate=PARTY_ID), load_default=None,
                                      validate=validate.Length(max=50))
    refusing_parties = fields.List(fields.String(validate=PARTY_ID), load_default=None,
                                   validate=validate.Length(max=50))
    undisputed_facts = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=5000))
    wants_litigation = fields.Boolean(load_default=None)

    _FIELDS = {
        "agreement": ({"terms", "confirmation_requested"}, {"facts", "amount", "performance_deadline"}),
        "partial": ({"terms", "confirmation_requested", "unresolved"}, {"facts", "amount", "performance_deadline"}),
        "failed": ({"reason", "wants_litigation"}, {"detail", "unreachable_parties", "refusing_parties",
                                                    "undisputed_facts"}),
        "withdrawn": ({"reason"}, {"detail"}),
    }

    @validates_schema
    def fields_of_type(self, data, **kwargs):
        required, optional = self._FIELDS[data["type"]]
        errors = {}
        for name in required:
            if data.get(name) is None:
                errors[name] = [f"required for a {data['type']} outcome"]
        for name in set(self.fields) - required - optional - {"type"}:
            if data.get(name) is not None:
                errors[name] = [f"not part of a {data['type']} outcome"]
        reasons = {"failed": FAILURE_REASONS, "withdrawn": WITHDRAWAL_REASONS}.get(data["type"])
        if reasons and data.get("reason") is not None and data["reason"] not in reasons:
            errors["reason"] = [f"one of: {', '.join(reasons)}"]
        if errors:
            raise ValidationError(errors)


# -- follow-ups ---------------------------------------------------------------------------------
class VisitSchema(StrictSchema):
    state = fields.String(required=True, validate=validate.OneOf(VISIT_STATES))
    satisfaction = fields.Integer(load_default=None, allow_none=True, strict=True,
                                  validate=validate.Range(min=1, max=5))
    visited_at = UtcDateTime(load_default=None)
    method = fields.String(load_default="on_site", validate=validate.OneOf(["on_site", "phone", "video"]))
    notes = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=2000))


class FollowupQuerySchema(StrictSchema):
    jurisdiction = fields.String(load_default=None, validate=DIVISION_CODE)
    status = fields.String(load_default=None, validate=validate.OneOf(["open", "green"]))
    due_before = UtcDateTime(load_default=None)
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))
    offset = fields.Integer(load_default=0, validate=validate.Range(min=0, max=10000))


# -- responses (documentation of the shapes in the OpenAPI document) -----------------------------
class SessionOutSchema(Schema):
    session_id = fields.String()
    kind = fields.String()
    purpose = fields.String()
    status = fields.String()
    mediator_id = fields.String()
    room_id = fields.String(allow_none=True)
    place = fields.String(allow_none=True)
    join_link = fields.String(allow_none=True)
    starts_at = fields.DateTime()
    ends_at = fields.DateTime()
    departments = fields.List(fields.String())
    reminders = fields.List(fields.Dict())
    attendance = fields.Dict(allow_none=True)


class PlannedVisitOutSchema(Schema):
    visit_number = fields.Integer()
    status = fields.String()  # made | next | planned
    due = fields.DateTime(allow_none=True)
    visited_at = fields.DateTime(allow_none=True)
    state = fields.String(allow_none=True)


class FollowupOutSchema(Schema):
    followup_id = fields.String()
    case_code = fields.String()
    status = fields.String()
    reason = fields.String()
    planned_visits = fields.Integer()
    first_visit_due = fields.DateTime()
    next_visit_due = fields.DateTime(allow_none=True)
    visits = fields.List(fields.Dict())
    schedule = fields.List(fields.Nested(PlannedVisitOutSchema))


class MediationFileOutSchema(Schema):
    file_id = fields.String()
    case_id = fields.String()
    case_code = fields.String()
    jurisdiction = fields.String()
    category = fields.String()
    tier = fields.String()
    mediation_type = fields.String()
    committee = fields.String(allow_none=True)
    departments = fields.List(fields.String())
    deadline = fields.DateTime(allow_none=True)
    court_referred = fields.Boolean()
    status = fields.String()
    lead_mediator_id = fields.String(allow_none=True)
    sessions = fields.List(fields.Nested(SessionOutSchema))
    outcome = fields.Dict(allow_none=True)
    agreement = fields.Dict(allow_none=True)
    followup = fields.Nested(FollowupOutSchema, allow_none=True)
