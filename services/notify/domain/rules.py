"""Who gets what, as data: the rulebook read from services/notify/data/rules.yaml.

Each message rule names the event that triggers it, the kind of message (one template per
kind and channel), the recipients and their channels, and whether it is urgent. Recipient
selectors point into the event with references:

    data.<field>     a field of the event's data (a unit id or a list of them)
    item.<field>     a field of the current item when the rule runs once per item (`each`)
    case.<field>     notify's own view of the case (the unit handling it, from routing's events)
    centre:county    the county centre of the case's jurisdiction ("<6 digits>:centre")
    centre:city      the city centre ("<4 digits>00:centre")
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from services.notify.domain.scheduling import QuietHours, RetryPolicy, parse_clock_time
from services.notify.domain.text import SmsPolicy

CHANNELS = ("sms", "wechat", "email", "inbox")
PARTY_ROLES = ("applicant", "respondent", "third_party")
_REFERENCE = re.compile(r"^(?:(data|item|case)\.[a-z_]+|centre:(county|city))$")
_KIND = re.compile(r"^[a-z][a-z0-9_]*$")


class RulesError(ValueError):
    """The rulebook cannot be used; the message names the rule and the problem."""


@dataclass(frozen=True)
class Selector:
    """A group of recipients and the channels they get this message on."""

    channels: tuple[str, ...]
    parties: tuple[str, ...] = ()
    units: tuple[str, ...] = ()
    leaders_of: tuple[str, ...] = ()


@dataclass(frozen=True)
class Each:
    """Run the rule once per item of a list in the event (one summons per department)."""

    path: str
    key: str


@dataclass(frozen=True)
class MessageRule:
    kind: str
    source: str
    event_type: str
    title: str
    urgent: bool
    to: tuple[Selector, ...]
    when: tuple[tuple[str, Any], ...] = ()
    each: Each | None = None
    topic: str | None = None
    replaces: tuple[str, ...] = ()
    mentions: tuple[str, ...] = ()
    link: str | None = None

    @property
    def channels(self) -> frozenset[str]:
        return frozenset(channel for selector in self.to for channel in selector.channels)

    def applies(self, data: Mapping) -> bool:
        """`when` holds a value, or a tuple of values one of which the field must have."""
        return all(data.get(key) in value if isinstance(value, tuple) else data.get(key) == value
                   for key, value in self.when)


@dataclass(frozen=True)
class Rules:
    messages: tuple[MessageRule, ...]
    quiet_hours: QuietHours
    retry: RetryPolicy
    sms: SmsPolicy
    links: Mapping[str, str]
    labels: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    def for_event(self, source: str, event_type: str, data: Mapping) -> list[MessageRule]:
        return [rule for rule in self.messages
                if rule.source == source and rule.event_type == event_type and rule.applies(data)]

    def replaced_by(self, kind: str) -> frozenset[str]:
        """The kinds whose later messages make a pending message of `kind` obsolete."""
        return frozenset(rule.kind for rule in self.messages if kind in rule.replaces)

    @property
    def events(self) -> frozenset[tuple[str, str]]:
        return frozenset((rule.source, rule.event_type) for rule in self.messages)

    @property
    def templates(self) -> frozenset[tuple[str, str]]:
        """Every (kind, channel) that needs a template."""
        return frozenset((rule.kind, channel) for rule in self.messages for channel in rule.channels)


def resolve(reference: str, scope: Mapping) -> Any:
    """The value a reference points at; `scope` has data, item, case and jurisdiction."""
    if reference.startswith("centre:"):
        jurisdiction = scope["jurisdiction"]
        if reference == "centre:county":
            return f"{jurisdiction[:6]}:centre"
        return f"{jurisdiction[:4]}00:centre"
    root, _, name = reference.partition(".")
    container = scope.get(root) or {}
    return container.get(name)


def unit_ids(references: Iterable[str], scope: Mapping) -> list[str]:
    """Unit ids named by the references, flattened, without blanks or repeats, in order."""
    found: list[str] = []
    for reference in references:
        value = resolve(reference, scope)
        values = value if isinstance(value, list | tuple) else [value]
        for unit_id in values:
            if isinstance(unit_id, str) and unit_id and unit_id not in found:
                found.append(unit_id)
    return found


# -- parsing ----------------------------------------------------------------------------------
def _fail(where: str, problem: str) -> RulesError:
    return RulesError(f"{where}: {problem}")


def _strings(value: Any, where: str, allowed: Iterable[str] | None = None) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise _fail(where, "must be a string or a list of strings")
    if allowed is not None:
        unknown = sorted(set(value) - set(allowed))
        if unknown:
            raise _fail(where, f"unknown {unknown}; allowed: {sorted(allowed)}")
    return tuple(value)


def _references(value: Any, where: str, allow_item: bool) -> tuple[str, ...]:
    references = _strings(value, where)
    for reference in references:
        if not _REFERENCE.match(reference):
            raise _fail(where, f"{reference!r} is not data.X, item.X, case.X, centre:county or centre:city")
        if reference.startswith("item.") and not allow_item:
            raise _fail(where, f"{reference!r} needs `each` on the rule")
    return references


def _selector(raw: Any, where: str, allow_item: bool) -> Selector:
    if not isinstance(raw, dict):
        raise _fail(where, "a recipient group must be a mapping")
    unknown = set(raw) - {"channels", "parties", "units", "leaders_of"}
    if unknown:
        raise _fail(where, f"unknown keys {sorted(unknown)}")
    channels = _strings(raw.get("channels"), f"{where}.channels", CHANNELS)
    if not channels:
        raise _fail(where, "needs at least one channel")
    selector = Selector(
        channels=channels,
        parties=_strings(raw.get("parties"), f"{where}.parties", PARTY_ROLES),
        units=_references(raw.get("units"), f"{where}.units", allow_item),
        leaders_of=_references(raw.get("leaders_of"), f"{where}.leaders_of", allow_item),
    )
    if not (selector.parties or selector.units or selector.leaders_of):
        raise _fail(where, "names no recipients (parties, units or leaders_of)")
    if selector.parties and set(channels) - {"sms", "inbox"}:
        raise _fail(where, "parties are reached by sms and inbox only (intake keeps no other address)")
    if selector.leaders_of and "wechat" in channels:
        raise _fail(where, "leaders have no WeChat address in the directory")
    return selector


def _message(raw: Any, index: int, supported: frozenset[tuple[str, str]]) -> MessageRule:
    where = f"messages[{index}]"
    if not isinstance(raw, dict):
        raise _fail(where, "must be a mapping")
    known = {"kind", "event", "title", "urgent", "to", "when", "each", "topic", "replaces", "mentions", "link"}
    unknown = set(raw) - known
    if unknown:
        raise _fail(where, f"unknown keys {sorted(unknown)}")
    kind = raw.get("kind")
    if not isinstance(kind, str) or not _KIND.match(kind):
        raise _fail(where, "kind must be lower_snake_case")
    where = f"message {kind}"
    source, _, event_type = str(raw.get("event", "")).partition(".")
    if (source, event_type) not in supported:
        raise _fail(where, f"event {raw.get('event')!r} is not one notify listens to: "
                           f"{sorted(f'{s}.{t}' for s, t in supported)}")
    title = raw.get("title")
    if not isinstance(title, str) or not title.strip():
        raise _fail(where, "needs a title")
    each = None
    if raw.get("each") is not None:
        spec = raw["each"]
        if not isinstance(spec, dict) or set(spec) != {"path", "key"}:
            raise _fail(where, "each needs exactly path and key")
        _references(spec["path"], f"{where}.each.path", allow_item=False)
        each = Each(path=spec["path"], key=str(spec["key"]))
    to = raw.get("to")
    if not isinstance(to, list) or not to:
        raise _fail(where, "needs recipients (to)")
    when = raw.get("when") or {}
    if not isinstance(when, dict):
        raise _fail(where, "when must be a mapping of data fields to values")
    topic = raw.get("topic")
    if topic is not None:
        _references(topic, f"{where}.topic", allow_item=False)
    replaces = _strings(raw.get("replaces"), f"{where}.replaces")
    if replaces and topic is None:
        raise _fail(where, "replaces needs a topic")
    return MessageRule(
        kind=kind,
        source=source,
        event_type=event_type,
        title=title.strip(),
        urgent=bool(raw.get("urgent", False)),
        to=tuple(_selector(group, f"{where}.to[{i}]", allow_item=each is not None) for i, group in enumerate(to)),
        when=tuple(sorted((key, tuple(value) if isinstance(value, list) else value) for key, value in when.items())),
        each=each,
        topic=topic,
        replaces=replaces,
        mentions=_references(raw.get("mentions"), f"{where}.mentions", allow_item=each is not None),
        link=raw.get("link"),
    )


def parse_rules(raw: Any, supported: Iterable[tuple[str, str]]) -> Rules:
    """Build the rulebook from its YAML form; raise RulesError naming what is wrong."""
    if not isinstance(raw, dict):
        raise RulesError("the rulebook must be a mapping")
    supported = frozenset(supported)
    messages = raw.get("messages")
    if not isinstance(messages, list) or not messages:
        raise RulesError("messages: at least one message rule is needed")
    rules = tuple(_message(item, index, supported) for index, item in enumerate(messages))
    kinds = [rule.kind for rule in rules]
    repeated = sorted({kind for kind in kinds if kinds.count(kind) > 1})
    if repeated:
        raise RulesError(f"message kinds must be unique (a kind is its templates): {repeated}")
    topics = {rule.kind: rule.topic for rule in rules}
    for rule in rules:
        for kind in rule.replaces:
            if topics.get(kind, "") != rule.topic:
                raise RulesError(f"message {rule.kind}: replaces {kind!r}, which is not a message on the same topic")

    quiet = raw.get("quiet_hours") or {}
    if not isinstance(quiet, dict):
        raise RulesError("quiet_hours must be a mapping")
    try:
        quiet_hours = QuietHours(
            start=parse_clock_time(quiet.get("start", "22:00")),
            end=parse_clock_time(quiet.get("end", "08:00")),
            timezone=str(quiet.get("timezone", "Asia/Shanghai")),
            channels=frozenset(_strings(quiet.get("channels", ["sms"]), "quiet_hours.channels", CHANNELS)),
        )
        quiet_hours.zone  # noqa: B018 - an unknown time zone fails here, at load
    except (ValueError, KeyError) as exc:  # ZoneInfoNotFoundError is a KeyError
        raise RulesError(f"quiet_hours: {exc}") from exc

    delays = raw.get("retry_delays_seconds", [30, 120, 600, 1800, 7200])
    if not isinstance(delays, list) or not all(isinstance(d, int | float) and d >= 0 for d in delays):
        raise RulesError("retry_delays_seconds must be a list of seconds")

    sms = raw.get("sms") or {}
    if not isinstance(sms, dict):
        raise RulesError("sms must be a mapping")
    try:
        sms_policy = SmsPolicy(
            signature=str(sms.get("signature", "")),
            single=int(sms.get("single_segment_chars", 70)),
            multipart=int(sms.get("multipart_segment_chars", 67)),
            max_segments=int(sms.get("max_segments", 4)),
        )
    except (TypeError, ValueError) as exc:
        raise RulesError(f"sms: {exc}") from exc
    if sms_policy.max_segments < 1 or sms_policy.multipart < 1 or sms_policy.single < sms_policy.multipart:
        raise RulesError("sms: segment sizes must be positive, single ≥ multipart")

    links = raw.get("links") or {}
    if not isinstance(links, dict) or not all(isinstance(v, str) for v in links.values()):
        raise RulesError("links must map names to URL patterns")
    for rule in rules:
        if rule.link is not None and rule.link not in links:
            raise RulesError(f"message {rule.kind}: link {rule.link!r} is not one of links {sorted(links)}")
    labels = raw.get("labels") or {}
    if not isinstance(labels, dict) or not all(isinstance(v, dict) for v in labels.values()):
        raise RulesError("labels must map groups to {code: text}")
    return Rules(
        messages=rules,
        quiet_hours=quiet_hours,
        retry=RetryPolicy(tuple(float(d) for d in delays)),
        sms=sms_policy,
        links=dict(links),
        labels={group: {str(k): str(v) for k, v in values.items()} for group, values in labels.items()},
    )
