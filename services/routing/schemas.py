"""Routing's request and query schemas (unknown fields refused)."""

from __future__ import annotations

from datetime import date

from marshmallow import RAISE, Schema, fields, validate

from services.routing.domain.reports import PERIODS

UNIT_ID = validate.Regexp(r"^[0-9A-Za-z:_\-]{3,80}$", error="not a unit id")
DIVISION = validate.Regexp(r"^\d{6}(\d{3}){0,2}$", error="not a division code (6, 9 or 12 digits)")
CLOCK_NAME = validate.Regexp(r"^[a-z_]{2,40}$", error="not a clock name")
TEXT = validate.Length(min=1, max=1000)
# Reports look at the platform's own years; far dates would overflow the period arithmetic.
REPORT_DATES = validate.Range(min=date(1900, 1, 1), max=date(2999, 12, 31),
                              error="a date between 1900-01-01 and 2999-12-31")


class _Request(Schema):
    class Meta:
        unknown = RAISE


class NoteSchema(_Request):
    note = fields.String(load_default=None, allow_none=True, validate=TEXT)


class ReturnSchema(_Request):
    reason = fields.String(required=True, validate=TEXT)
    suggested_unit = fields.String(required=True, validate=UNIT_ID)


class DispatchSchema(_Request):
    unit = fields.String(required=True, validate=UNIT_ID)
    reason = fields.String(required=True, validate=TEXT)


class EscalateSchema(_Request):
    reason = fields.String(required=True, validate=TEXT)


class LeaderAssignSchema(_Request):
    leader = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=120))
    instruction = fields.String(load_default=None, allow_none=True, validate=TEXT)


class TagsSchema(_Request):
    add = fields.List(fields.String(validate=validate.Length(min=1, max=40)), load_default=list)
    remove = fields.List(fields.String(validate=validate.Length(min=1, max=40)), load_default=list)


class RetierSchema(_Request):
    add = fields.List(fields.String(validate=validate.Length(min=1, max=40)), load_default=list)
    remove = fields.List(fields.String(validate=validate.Length(min=1, max=40)), load_default=list)
    reason = fields.String(required=True, validate=TEXT)


class PauseSchema(_Request):
    reason = fields.String(required=True, validate=TEXT)
    clocks = fields.List(fields.String(validate=CLOCK_NAME), load_default=None, allow_none=True)


class ScopeQuerySchema(_Request):
    jurisdiction = fields.String(load_default=None, validate=DIVISION)


class ReportQuerySchema(_Request):
    jurisdiction = fields.String(load_default=None, validate=DIVISION)
    category = fields.String(load_default=None, validate=validate.Length(min=2, max=40))
    period = fields.String(load_default="month", validate=validate.OneOf(PERIODS))
    date = fields.Date(load_default=None, validate=REPORT_DATES)


class DirectoryQuerySchema(_Request):
    jurisdiction = fields.String(load_default=None, validate=DIVISION)
