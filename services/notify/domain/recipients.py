"""Recipient selection: from an event, the rulebook and what intake and routing answered
(parties' contacts, units from the directory), the messages to create — one per
recipient and channel, each with its address known to exist."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from services.notify.domain.rules import MessageRule, resolve, unit_ids
from services.notify.domain.text import mask_person

PARTY, UNIT, LEADER = "party", "unit", "leader"


@dataclass(frozen=True)
class Recipient:
    kind: str                      # party | unit | leader
    id: str                        # party_id, unit id, or the leader's key
    unit_id: str | None            # the unit a unit or leader recipient is looked up by
    role: str | None               # party role, unit kind or leader title
    name: str | None               # a unit's name, or a person's name (only ever shown masked)
    addresses: Mapping[str, str | None] = field(default_factory=dict)

    def address(self, channel: str) -> str | None:
        return self.addresses.get(channel) or None

    @property
    def display(self) -> str | None:
        """How the delivery log names the recipient."""
        if self.kind == UNIT:
            return self.name
        masked = mask_person(self.name)
        if self.kind == LEADER and self.role:
            return f"{masked}（{self.role}）" if masked else self.role
        return masked


def party_recipient(contact: Mapping) -> Recipient:
    return Recipient(
        kind=PARTY,
        id=str(contact["party_id"]),
        unit_id=None,
        role=contact.get("role"),
        name=contact.get("name"),
        addresses={"sms": contact.get("phone"), "inbox": str(contact["party_id"])},
    )


def unit_recipient(unit: Mapping) -> Recipient:
    contacts = unit.get("contacts") or {}
    return Recipient(
        kind=UNIT,
        id=unit["unit_id"],
        unit_id=unit["unit_id"],
        role=unit.get("kind"),
        name=unit.get("name"),
        addresses={
            "sms": contacts.get("phone"),
            "email": contacts.get("email"),
            "wechat": contacts.get("wechat_openid"),
            "inbox": contacts.get("inbox_id") or unit["unit_id"],
        },
    )


def leader_key(unit_id: str, position: int, leader: Mapping) -> str:
    """A leader's stable reference: the inbox id when there is one, else the place in the list."""
    return leader.get("inbox_id") or f"{unit_id}#leader-{position + 1}"


def leader_recipients(unit: Mapping) -> list[Recipient]:
    return [
        Recipient(
            kind=LEADER,
            id=leader_key(unit["unit_id"], position, leader),
            unit_id=unit["unit_id"],
            role=leader.get("title"),
            name=leader.get("name"),
            addresses={"sms": leader.get("phone"), "email": leader.get("email"),
                       "inbox": leader.get("inbox_id")},
        )
        for position, leader in enumerate(unit.get("leaders") or [])
    ]


def find_recipient(kind: str, recipient_id: str, *, contacts: Sequence[Mapping] = (),
                   unit: Mapping | None = None) -> Recipient | None:
    """The recipient again, from fresh answers of intake or routing (at send time)."""
    if kind == PARTY:
        return next((party_recipient(c) for c in contacts if str(c.get("party_id")) == recipient_id), None)
    if unit is None:
        return None
    if kind == UNIT:
        return unit_recipient(unit)
    return next((r for r in leader_recipients(unit) if r.id == recipient_id), None)


@dataclass(frozen=True)
class Item:
    """One run of a rule: the whole event, or one element of a list in it (`each`)."""

    value: Mapping | None = None
    key: str | None = None


@dataclass(frozen=True)
class Target:
    rule: MessageRule
    channel: str
    recipient: Recipient
    item: Item

    @property
    def address(self) -> str | None:
        return self.recipient.address(self.channel)


@dataclass(frozen=True)
class Plan:
    targets: list[Target]
    unknown_units: list[str]


def scope(event: Mapping, item: Item | None, case_view: Mapping | None) -> dict[str, Any]:
    return {"data": event["data"], "item": item.value if item else None, "case": case_view or {},
            "jurisdiction": event["jurisdiction"]}


def items(rule: MessageRule, event: Mapping) -> list[Item]:
    if rule.each is None:
        return [Item()]
    values = resolve(rule.each.path, scope(event, None, None)) or []
    return [Item(value=value, key=str(value.get(rule.each.key))) for value in values if isinstance(value, Mapping)]


def topic(rule: MessageRule, event: Mapping) -> str | None:
    """What later events may replace: e.g. the notices of one session."""
    if rule.topic is None:
        return None
    value = resolve(rule.topic, scope(event, None, None))
    return None if value is None else f"{rule.topic}={value}"


def needed_roles(rules: Iterable[MessageRule]) -> list[str]:
    return sorted({role for rule in rules for selector in rule.to for role in selector.parties})


def needed_units(rules: Iterable[MessageRule], event: Mapping, case_view: Mapping | None) -> list[str]:
    """Every unit to look up in the directory: recipients, their leaders, units named in text."""
    found: list[str] = []
    for rule in rules:
        for item in items(rule, event):
            names = scope(event, item, case_view)
            references = [*rule.mentions]
            for selector in rule.to:
                references += [*selector.units, *selector.leaders_of]
            for unit_id in unit_ids(references, names):
                if unit_id not in found:
                    found.append(unit_id)
    return found


def plan(rules: Iterable[MessageRule], event: Mapping, *, case_view: Mapping | None,
         contacts: Sequence[Mapping], units: Mapping[str, Mapping | None]) -> Plan:
    """The messages an event causes: one target per (kind, item, recipient, channel)."""
    targets: list[Target] = []
    seen: set[tuple] = set()
    unknown: list[str] = []

    def add(rule: MessageRule, item: Item, recipient: Recipient, channels: Iterable[str]) -> None:
        for channel in channels:
            key = (rule.kind, item.key, recipient.kind, recipient.id, channel)
            if key not in seen:
                seen.add(key)
                targets.append(Target(rule, channel, recipient, item))

    def unit_records(references: Iterable[str], names: Mapping) -> list[Mapping]:
        records = []
        for unit_id in unit_ids(references, names):
            record = units.get(unit_id)
            if record is None:
                if unit_id not in unknown:
                    unknown.append(unit_id)
            else:
                records.append(record)
        return records

    for rule in rules:
        for item in items(rule, event):
            names = scope(event, item, case_view)
            for selector in rule.to:
                for contact in contacts:
                    if contact.get("role") in selector.parties:
                        add(rule, item, party_recipient(contact), selector.channels)
                for record in unit_records(selector.units, names):
                    add(rule, item, unit_recipient(record), selector.channels)
                for record in unit_records(selector.leaders_of, names):
                    for leader in leader_recipients(record):
                        add(rule, item, leader, selector.channels)
    return Plan(targets=targets, unknown_units=unknown)
