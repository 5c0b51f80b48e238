"""De-duplication (多口进、一口出): when a report joins an earlier case file.

The same dispute is: a shared person (hashed ID number or phone), the same category, the
same place (one division contains the other) and an earlier file still open, registered
within the window. Such a report is merged into the earliest matching file: it keeps its
own code (status `merged`, `duplicate_of` the file) and its inlet appears on the file.

One exception, kept as data: the same person coming back through the same citizen-facing
inlet that is already on the file (a second visit to the window, a second call) is a
repeat visit (重复访), not a second report. Centres register each visit, count it and watch
the petitioner; so it gets its own case, linked to the open file (`repeat_of`) and flagged
`repeat_petitioner` by the history rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from services.intake.domain.channels import CHANNELS
from services.intake.domain.divisions import on_same_line
from services.intake.domain.rules import RulesError, positive_number, require_keys, string_list

OPEN_STATUSES = ("registered", "assigned", "accepted", "in_mediation")


@dataclass(frozen=True)
class DedupPolicy:
    window: timedelta
    open_statuses: frozenset[str]
    repeat_visit_channels: frozenset[str]


@dataclass(frozen=True)
class Candidate:
    """An earlier case that shares at least one person key with the report."""

    case_id: str
    case_code: str
    status: str
    category: str
    jurisdiction: str
    channels: tuple[str, ...]
    registered_at: datetime
    person_keys: frozenset[str]
    applicant_keys: frozenset[str]


@dataclass(frozen=True)
class Report:
    channel: str
    category: str
    jurisdiction: str
    at: datetime
    person_keys: frozenset[str]
    applicant_keys: frozenset[str]


@dataclass(frozen=True)
class Decision:
    merge_into: Candidate | None = None
    repeat_of: Candidate | None = None
    same_matter_earlier: int = 0
    any_matter_earlier: int = 0


def parse_dedup(raw: dict) -> DedupPolicy:
    require_keys(raw, ["window_days"], "dedup")
    statuses = frozenset(string_list(raw.get("open_statuses"), "dedup.open_statuses") or OPEN_STATUSES)
    if statuses - set(OPEN_STATUSES):
        raise RulesError(f"dedup.open_statuses: only {', '.join(OPEN_STATUSES)} are open")
    repeat = frozenset(string_list(raw.get("repeat_visit_channels"), "dedup.repeat_visit_channels"))
    if repeat - set(CHANNELS):
        raise RulesError(f"dedup.repeat_visit_channels: unknown channels {sorted(repeat - set(CHANNELS))}")
    return DedupPolicy(
        window=timedelta(days=positive_number(raw["window_days"], "dedup.window_days")),
        open_statuses=statuses,
        repeat_visit_channels=repeat,
    )


def same_dispute(report: Report, candidate: Candidate, policy: DedupPolicy) -> bool:
    return (
        candidate.status in policy.open_statuses
        and candidate.category == report.category
        # a file committed before this report is earlier even when its clock read a moment
        # later (two replicas registering at once), so the window is measured both ways
        and abs(report.at - candidate.registered_at) <= policy.window
        and bool(candidate.person_keys & report.person_keys)
        and on_same_line(candidate.jurisdiction, report.jurisdiction)
    )


def decide(report: Report, candidates: list[Candidate], policy: DedupPolicy, lookback: timedelta) -> Decision:
    """Merge target or repeat link, and the applicant's history for the repeat-petitioner rule."""
    matches = sorted((c for c in candidates if same_dispute(report, c, policy)), key=lambda c: c.registered_at)
    target = matches[0] if matches else None
    merge_into = repeat_of = None
    if target is not None:
        if report.channel in policy.repeat_visit_channels and report.channel in target.channels:
            repeat_of = target
        else:
            merge_into = target
    # A merged report is the same file seen from another inlet, not the person coming back.
    history = [
        c for c in candidates
        if c.status != "merged" and c is not merge_into and c.applicant_keys & report.applicant_keys
        and report.at - lookback <= c.registered_at
    ]
    return Decision(
        merge_into=merge_into,
        repeat_of=repeat_of,
        same_matter_earlier=sum(1 for c in history if c.category == report.category),
        any_matter_earlier=len(history),
    )
