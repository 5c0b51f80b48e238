"""Notify's request and response schemas."""

from __future__ import annotations

from marshmallow import RAISE, Schema, fields, validate

from services.notify.domain.delivery import STATUSES
from services.notify.domain.rules import CHANNELS


class StrictSchema(Schema):
    class Meta:
        unknown = RAISE


class NotificationQuerySchema(StrictSchema):
    case_code = fields.String(validate=validate.Length(min=1, max=40))
    status = fields.String(validate=validate.OneOf(STATUSES))
    channel = fields.String(validate=validate.OneOf(CHANNELS))
    kind = fields.String(validate=validate.Regexp(r"^[a-z][a-z0-9_]{0,39}$", error="not a message kind"))
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))
    offset = fields.Integer(load_default=0, validate=validate.Range(min=0, max=100_000))


class InboxQuerySchema(StrictSchema):
    unread = fields.Boolean(load_default=False)
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))
    offset = fields.Integer(load_default=0, validate=validate.Range(min=0, max=100_000))


class LogEntrySchema(Schema):
    at = fields.AwareDateTime()
    status = fields.String()
    attempt = fields.Integer()
    answer = fields.String(allow_none=True)
    error = fields.String(allow_none=True)
    until = fields.AwareDateTime(allow_none=True)


class RecipientSchema(Schema):
    kind = fields.String()
    id = fields.String()
    unit_id = fields.String(allow_none=True)
    role = fields.String(allow_none=True)
    display = fields.String(allow_none=True, metadata={"description": "masked for persons"})
    address = fields.String(allow_none=True, metadata={"description": "masked; the full address is never stored"})


class NotificationSchema(Schema):
    notification_id = fields.String(attribute="_id")
    case_id = fields.String()
    case_code = fields.String()
    jurisdiction = fields.String()
    event_id = fields.String()
    source = fields.String()
    event_type = fields.String()
    kind = fields.String()
    channel = fields.String()
    urgent = fields.Boolean()
    recipient = fields.Nested(RecipientSchema)
    title = fields.String()
    body = fields.String()
    link = fields.String(allow_none=True)
    segments = fields.Integer(allow_none=True)
    status = fields.String()
    attempts = fields.Integer()
    error = fields.String(allow_none=True)
    created_at = fields.AwareDateTime()
    next_attempt_at = fields.AwareDateTime(allow_none=True)
    deferred_until = fields.AwareDateTime(allow_none=True)
    sent_at = fields.AwareDateTime(allow_none=True)
    failed_at = fields.AwareDateTime(allow_none=True)
    history = fields.List(fields.Nested(LogEntrySchema))


class NotificationListSchema(Schema):
    items = fields.List(fields.Nested(NotificationSchema))
    total = fields.Integer()
    limit = fields.Integer()
    offset = fields.Integer()


class InboxMessageSchema(Schema):
    message_id = fields.String(attribute="_id")
    recipient_id = fields.String()
    notification_id = fields.String()
    case_code = fields.String()
    kind = fields.String()
    title = fields.String()
    body = fields.String()
    link = fields.String(allow_none=True)
    created_at = fields.AwareDateTime()
    read_at = fields.AwareDateTime(allow_none=True)


class InboxSchema(Schema):
    recipient_id = fields.String()
    total = fields.Integer()
    unread = fields.Integer()
    items = fields.List(fields.Nested(InboxMessageSchema))
