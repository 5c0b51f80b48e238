"""The nine inlets (多口进) and what each must carry. The rules are data (channels.yaml)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from services.intake.domain.rules import RulesError, require_keys

CHANNELS = (
    "walk_in", "hotline", "letter", "online", "grid_report", "police_110",
    "court_referral", "leader_assigned", "department_referral",
)

# What a channel may require of a report, and the message a clerk sees when it is missing.
REQUIREMENTS = {
    "channel_ref": ("channel_ref", "required for channel {channel}: {ref_label}"),
    "grid": ("grid", "required for channel {channel}: the grid code"),
    "court_id": ("court_id", "required for channel {channel}: the referring court"),
    "applicant_phone": ("parties", "channel {channel} needs an applicant's phone number"),
    "applicant_address": ("parties", "channel {channel} needs an applicant's postal address"),
    "applicant_reachable": ("parties", "channel {channel} needs an applicant's phone number or address"),
}


@dataclass(frozen=True)
class ChannelRule:
    channel: str
    label: str                  # Chinese, for the public timeline: 来访, 网格员上报 …
    requires: frozenset[str]
    ref_label: str              # what channel_ref means on this inlet (incident number …)
    http: bool                  # accepted on POST /api/v1/cases (court referrals come by RPC)
    default_deadline: timedelta | None = None


@dataclass(frozen=True)
class ChannelBook:
    rules: dict[str, ChannelRule]

    def rule(self, channel: str) -> ChannelRule:
        return self.rules[channel]

    def label(self, channel: str) -> str:
        return self.rules[channel].label


def parse_channels(raw: dict) -> ChannelBook:
    require_keys(raw, ["channels"], "channels")
    entries = raw["channels"]
    if not isinstance(entries, dict):
        raise RulesError("channels: `channels` must map channel names to rules")
    missing = set(CHANNELS) - set(entries)
    unknown = set(entries) - set(CHANNELS)
    if missing or unknown:
        raise RulesError(f"channels: missing {sorted(missing)}, unknown {sorted(unknown)}")
    rules = {}
    for channel, entry in entries.items():
        require_keys(entry, ["label"], f"channels.{channel}")
        requires = frozenset(entry.get("requires") or [])
        bad = requires - set(REQUIREMENTS)
        if bad:
            raise RulesError(f"channels.{channel}: unknown requirements {sorted(bad)}")
        days = entry.get("default_deadline_days")
        rules[channel] = ChannelRule(
            channel=channel,
            label=str(entry["label"]),
            requires=requires,
            ref_label=str(entry.get("ref_label") or "the channel's reference"),
            http=bool(entry.get("http", True)),
            default_deadline=timedelta(days=int(days)) if days else None,
        )
    return ChannelBook(rules)


def _applicants(payload: dict) -> list[dict]:
    return [party for party in payload.get("parties") or [] if party.get("role") == "applicant"]


def _met(requirement: str, payload: dict) -> bool:
    applicants = _applicants(payload)
    if requirement == "channel_ref":
        return bool(payload.get("channel_ref"))
    if requirement == "grid":
        return bool(payload.get("grid"))
    if requirement == "court_id":
        return bool(payload.get("court_id"))
    if requirement == "applicant_phone":
        return any(party.get("phone") for party in applicants)
    if requirement == "applicant_address":
        return any(party.get("address") for party in applicants)
    if requirement == "applicant_reachable":
        return any(party.get("phone") or party.get("address") for party in applicants)
    raise KeyError(requirement)


def channel_errors(payload: dict, rule: ChannelRule) -> dict[str, list[str]]:
    """Field errors for what this channel requires and the report lacks (empty when complete)."""
    errors: dict[str, list[str]] = {}
    for requirement in sorted(rule.requires):
        if _met(requirement, payload):
            continue
        field, message = REQUIREMENTS[requirement]
        errors.setdefault(field, []).append(message.format(channel=rule.channel, ref_label=rule.ref_label))
    return errors
