"""The case file: its status machine, its timeline and when it closes.

registered → assigned → accepted → in_mediation → (resolved | agreement | failed | withdrawn)
→ (confirmed | filed) → closed, plus `merged` for a report that joined an earlier file.

Events arrive at least once and in any order. A status only moves forward; two statuses of
the same rank (agreement, then failed) replace each other only in the order they happened;
the one way back is a unit returning a case it had accepted (退回), and only when the
return happened after the acceptance. `closed` and `merged` are final.

Closing rule (闭环): a case closes when its outcome is final and the loop is closed:
* final: resolved, confirmed, filed, withdrawn; an agreement when no judicial confirmation
  was asked for; a failed mediation when nobody goes to court (else it waits for `filed`);
* loop: when a follow-up visit is required (risk categories), every follow-up green;
  otherwise the public's rating, or the rating window (回访 within 10 days, "13710")
  passing without one.
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from services.intake.domain.codes import LOCAL_ZONE
from services.intake.domain.freetext import masked
from services.intake.domain.rules import RulesError, positive_number, require_keys

STATUS_RANK = {
    "registered": 0, "assigned": 1, "accepted": 2, "in_mediation": 3,
    "resolved": 4, "agreement": 4, "failed": 4, "withdrawn": 4,
    "confirmed": 5, "filed": 5, "closed": 6, "merged": 6,
}
STATUSES = tuple(STATUS_RANK)
OUTCOMES = ("resolved", "agreement", "failed", "withdrawn", "confirmed", "filed")
FINAL = ("closed", "merged")


@dataclass(frozen=True)
class EventRule:
    status: str | None = None       # where the event moves the case
    reopen: tuple[str, str] | None = None   # (from, to): the one allowed step back
    fields: tuple[str, ...] = ()    # what its timeline text may use
    # data fields naming the fact the event reports: the same fact told again in another event
    # (a sweep that says it twice) adds no second timeline entry
    fact: tuple[str, ...] = ()


EVENT_RULES: dict[tuple[str, str], EventRule] = {
    # a transfer (转办) of an accepted case assigns it afresh: the new unit has not signed yet
    ("routing", "case_assigned"): EventRule("assigned", reopen=("accepted", "assigned"),
                                            fields=("level_label", "tier_label")),
    ("routing", "case_accepted"): EventRule("accepted"),
    ("routing", "case_returned"): EventRule(reopen=("accepted", "assigned")),
    ("routing", "case_resolved"): EventRule("resolved"),
    ("routing", "mediation_requested"): EventRule(),
    ("routing", "departments_summoned"): EventRule(fields=("count",)),
    ("routing", "summons_acknowledged"): EventRule(fields=("department", "on_time_label")),
    ("routing", "sla_warning"): EventRule(fields=("colour_label", "clock", "reason")),
    ("routing", "case_escalated"): EventRule(fields=("to_level_label",)),
    ("routing", "leader_assigned"): EventRule(),
    ("mediation", "session_scheduled"): EventRule("in_mediation", fields=("kind_label", "starts_local")),
    ("mediation", "session_cancelled"): EventRule(fields=("starts_local",)),
    ("mediation", "agreement_reached"): EventRule("agreement", fields=("agreement_label",)),
    ("mediation", "mediation_failed"): EventRule("failed", fields=("litigation_hint",)),
    ("mediation", "mediation_withdrawn"): EventRule("withdrawn"),
    ("mediation", "followup_required"): EventRule(),
    ("mediation", "followup_recorded"): EventRule(fields=("visit_number",)),
    ("court_bridge", "referral_received"): EventRule(),
    ("court_bridge", "referral_feedback_sent"): EventRule(fields=("outcome_label",)),
    ("court_bridge", "confirmation_applied"): EventRule(),
    ("court_bridge", "confirmation_granted"): EventRule("confirmed"),
    ("court_bridge", "confirmation_rejected"): EventRule(),
    ("court_bridge", "filing_requested"): EventRule(fields=("track_label",)),
    ("court_bridge", "case_filed"): EventRule("filed", fields=("track_label",)),
    ("court_bridge", "enforcement_applied"): EventRule(),
    ("court_bridge", "referral_extended"): EventRule(
        fields=("deadline_local", "previous_deadline_local", "reason"), fact=("court_id", "referral_id", "deadline")),
    ("court_bridge", "confirmation_due"): EventRule(
        fields=("deadline_local", "level_label"), fact=("agreement_id", "level")),
}

# Entries intake writes itself, and the fields their texts may use.
OWN_ENTRIES: dict[str, tuple[str, ...]] = {
    "intake.registered": ("channel_label", "case_code"),
    "intake.merged_in": ("channel_label", "case_code"),
    "intake.merged_into": ("target_code",),
    "intake.repeat_visit": ("channel_label", "case_code"),
    "intake.rated": (),
    "intake.closed": (),
}
LABEL_SETS = ("status", "level", "tier", "session_kind", "track", "colour", "party_role", "category",
              "agreement", "due_level", "feedback_outcome")


@dataclass(frozen=True)
class TimelineText:
    public: bool
    text: str


@dataclass(frozen=True)
class Lifecycle:
    """lifecycle.yaml: labels, timeline texts and the closing rule's window."""

    labels: dict[str, dict[str, str]]
    texts: dict[str, TimelineText]
    rating_window: timedelta

    def label(self, kind: str, key: str | None) -> str:
        return self.labels.get(kind, {}).get(key or "", key or "")

    def entry(self, key: str, at: datetime, actor: dict, values: dict, **extra) -> dict:
        text = self.texts[key]
        return {"at": at, "kind": key, "actor": actor, "public": text.public,
                "text": text.text.format_map(values), **extra}


def parse_lifecycle(raw: dict) -> Lifecycle:
    require_keys(raw, ["labels", "timeline", "closing"], "lifecycle")
    labels = raw["labels"]
    missing = [name for name in LABEL_SETS if not isinstance(labels.get(name), dict)]
    if missing:
        raise RulesError(f"lifecycle.labels: missing {', '.join(missing)}")
    unlabelled = set(STATUSES) - set(labels["status"])
    if unlabelled:
        raise RulesError(f"lifecycle.labels.status: no label for {sorted(unlabelled)}")
    expected = {f"{source}.{event_type}": rule.fields for (source, event_type), rule in EVENT_RULES.items()}
    expected.update(OWN_ENTRIES)
    texts = {}
    for key, allowed in expected.items():
        entry = raw["timeline"].get(key)
        require_keys(entry, ["text"], f"lifecycle.timeline.{key}")
        used = {name for _, name, _, _ in string.Formatter().parse(entry["text"]) if name}
        if used - set(allowed):
            raise RulesError(f"lifecycle.timeline.{key}: unknown fields {sorted(used - set(allowed))}; "
                             f"it may use {', '.join(allowed) or 'none'}")
        texts[key] = TimelineText(public=bool(entry.get("public", False)), text=str(entry["text"]))
    unknown = set(raw["timeline"]) - set(expected)
    if unknown:
        raise RulesError(f"lifecycle.timeline: unknown entries {sorted(unknown)}")
    window = positive_number(raw["closing"].get("rating_window_days"), "lifecycle.closing.rating_window_days")
    return Lifecycle(labels={name: dict(values) for name, values in labels.items()}, texts=texts,
                     rating_window=timedelta(days=window))


# -- status --------------------------------------------------------------------------------
def next_status(current: str, current_at: datetime, rule: EventRule, occurred_at: datetime,
                data: dict) -> str | None:
    """The status an event moves the case to, or None when it leaves the status alone."""
    if current in FINAL:
        return None
    if rule.reopen is not None:
        source, target = rule.reopen
        if current == source and occurred_at > current_at:
            return target
    target = rule.status
    if target == "in_mediation" and data.get("purpose", "mediation") != "mediation":
        return None  # legal aid or counselling sessions are not mediation
    if target is None or target == current:
        return None
    if STATUS_RANK[target] > STATUS_RANK[current]:
        return target
    if STATUS_RANK[target] == STATUS_RANK[current] and occurred_at > current_at:
        return target
    return None


@dataclass
class Facts:
    """What the closing rule needs to know about the outcome and the loop."""

    confirmation_requested: bool = False
    wants_litigation: bool = False
    court_referred: bool = False
    followups: dict[str, bool] = field(default_factory=dict)
    rated: bool = False

    @classmethod
    def from_doc(cls, doc: dict | None) -> Facts:
        doc = doc or {}
        return cls(
            confirmation_requested=bool(doc.get("confirmation_requested")),
            wants_litigation=bool(doc.get("wants_litigation")),
            court_referred=bool(doc.get("court_referred")),
            followups=dict(doc.get("followups") or {}),
            rated=bool(doc.get("rated")),
        )

    def as_doc(self) -> dict:
        return {"confirmation_requested": self.confirmation_requested, "wants_litigation": self.wants_litigation,
                "court_referred": self.court_referred, "followups": dict(self.followups), "rated": self.rated}


def record_facts(facts: Facts, source: str, event_type: str, data: dict) -> Facts:
    updated = Facts(**{**facts.__dict__, "followups": dict(facts.followups)})
    key = (source, event_type)
    if key == ("mediation", "agreement_reached"):
        updated.confirmation_requested = bool(data.get("confirmation_requested"))
        updated.court_referred = updated.court_referred or bool(data.get("court_referred"))
    elif key == ("mediation", "mediation_failed"):
        updated.wants_litigation = bool(data.get("wants_litigation"))
        updated.court_referred = updated.court_referred or bool(data.get("court_referred"))
    elif key == ("mediation", "followup_required"):
        updated.followups.setdefault(data["followup_id"], False)
    elif key == ("mediation", "followup_recorded"):
        green = bool(data.get("green"))
        updated.followups[data["followup_id"]] = green or updated.followups.get(data["followup_id"], False)
    elif key == ("court_bridge", "referral_received"):
        updated.court_referred = True
    return updated


def outcome_final(status: str, facts: Facts) -> bool:
    if status in ("resolved", "confirmed", "filed", "withdrawn"):
        return True
    if status == "agreement":
        return not facts.confirmation_requested
    if status == "failed":
        return not (facts.wants_litigation or facts.court_referred)
    return False


@dataclass(frozen=True)
class Closing:
    close_now: bool = False
    due_at: datetime | None = None
    reason: str | None = None


def closing(status: str, status_at: datetime, facts: Facts, rating_window: timedelta, now: datetime) -> Closing:
    """Whether the case closes now, or when the rating window runs out (due_at), or not yet."""
    if status not in OUTCOMES or not outcome_final(status, facts):
        return Closing()
    if facts.followups:
        if all(facts.followups.values()):
            return Closing(close_now=True, reason="followup_green")
        return Closing()
    if facts.rated:
        return Closing(close_now=True, reason="rated")
    due = status_at + rating_window
    if now >= due:
        return Closing(close_now=True, due_at=due, reason="rating_window_elapsed")
    return Closing(due_at=due)


def rating_refusal(status: str) -> str | None:
    """Why a case cannot be rated now, or None: only once its outcome is known."""
    if status == "merged":
        return "this report was merged into another case: rate that case"
    if status not in OUTCOMES and status != "closed":
        return "a case can be rated once it is resolved"
    return None


# -- the court referral ----------------------------------------------------------------------
def same_referral(referral: dict | None, data: dict) -> bool:
    return bool(referral) and (referral.get("court_id"), referral.get("referral_id")) == (
        data.get("court_id"), data.get("referral_id"))


def later(first: datetime | None, second: datetime | None) -> datetime | None:
    return max((moment for moment in (first, second) if moment is not None), default=None)


def referral_after(referral: dict | None, event_type: str, data: dict) -> dict | None:
    """The case's court referral after court_bridge's referral_received or referral_extended, or
    None when it stays as it is.

    Either event may come first. A deadline only moves later: an extension read before the
    referral itself is kept, and a redelivered or reordered extension never shortens it. A file
    that carries another court's referral (it merged several) keeps the one it has.
    """
    if event_type not in ("referral_received", "referral_extended"):
        return None
    if not referral:
        return {"court_id": data["court_id"], "referral_id": data["referral_id"],
                "batch_id": data.get("batch_id"), "deadline": data["deadline"]}
    if not same_referral(referral, data):
        return None
    updated = {**referral, "deadline": later(referral.get("deadline"), data["deadline"])}
    if not updated.get("batch_id") and data.get("batch_id"):
        updated["batch_id"] = data["batch_id"]
    return updated if updated != referral else None


# -- timeline ------------------------------------------------------------------------------
def local_time(moment: datetime) -> str:
    local = moment.astimezone(LOCAL_ZONE)
    return f"{local.year}年{local.month}月{local.day}日 {local:%H:%M}"


def local_date(moment: object) -> str:
    if not isinstance(moment, datetime):
        return ""
    local = moment.astimezone(LOCAL_ZONE)
    return f"{local.year}年{local.month}月{local.day}日"


def event_actor(source: str, data: dict) -> dict:
    for key in ("actor", "unit", "mediator_id", "court_id", "department", "leader"):
        if data.get(key):
            return {"service": source, "id": str(data[key])}
    return {"service": source, "id": None}


def event_values(source: str, event_type: str, data: dict, lifecycle: Lifecycle) -> dict:
    """The values an event's timeline text may use (EventRule.fields)."""
    label = lifecycle.label
    values: dict[str, object] = {}
    if event_type == "case_assigned":
        values = {"level_label": label("level", data.get("level")), "tier_label": label("tier", data.get("tier"))}
    elif event_type == "departments_summoned":
        values = {"count": len(data.get("summons") or [])}
    elif event_type == "summons_acknowledged":
        values = {"department": data.get("department"), "on_time_label": "按时" if data.get("on_time") else "超时"}
    elif event_type == "sla_warning":
        values = {"colour_label": label("colour", data.get("colour")), "clock": data.get("clock"),
                  "reason": data.get("reason")}
    elif event_type == "case_escalated":
        values = {"to_level_label": label("level", data.get("to_level"))}
    elif event_type in ("session_scheduled", "session_cancelled"):
        starts = data.get("starts_at")
        values = {"kind_label": label("session_kind", data.get("kind")),
                  "starts_local": local_time(starts) if isinstance(starts, datetime) else ""}
    elif event_type == "agreement_reached":
        values = {"agreement_label": label("agreement", "partial" if data.get("partial") else "full")}
    elif event_type == "mediation_failed":
        going_to_court = data.get("wants_litigation") or data.get("court_referred")
        values = {"litigation_hint": "，将依法引导诉讼并协助优先立案" if going_to_court else ""}
    elif event_type == "followup_recorded":
        values = {"visit_number": data.get("visit_number")}
    elif event_type in ("filing_requested", "case_filed"):
        values = {"track_label": label("track", data.get("track"))}
    elif event_type == "referral_extended":
        values = {"deadline_local": local_date(data.get("deadline")),
                  "previous_deadline_local": local_date(data.get("previous_deadline")),
                  "reason": masked(data.get("reason") or "")}
    elif event_type == "referral_feedback_sent":
        values = {"outcome_label": label("feedback_outcome", data.get("outcome"))}
    elif event_type == "confirmation_due":
        values = {"deadline_local": local_date(data.get("deadline")),
                  "level_label": label("due_level", data.get("level"))}
    return values


def event_fact(rule: EventRule, data: dict) -> str | None:
    """What identifies the fact an event reports (EventRule.fact), or None for a plain event."""
    if not rule.fact:
        return None
    return "|".join(value.isoformat() if isinstance(value, datetime) else str(value)
                    for value in (data.get(name) for name in rule.fact))


def told_before(timeline: list[dict], kind: str, fact: str | None) -> bool:
    return fact is not None and any(entry.get("kind") == kind and entry.get("fact") == fact for entry in timeline)


def event_entry(source: str, event_type: str, event_id: str, occurred_at: datetime, data: dict,
                lifecycle: Lifecycle, status_to: str | None) -> dict:
    rule = EVENT_RULES[(source, event_type)]
    extra = {"fact": fact} if (fact := event_fact(rule, data)) is not None else {}
    return lifecycle.entry(
        f"{source}.{event_type}", occurred_at, event_actor(source, data),
        event_values(source, event_type, data, lifecycle), event_id=event_id, status=status_to, **extra,
    )


def public_timeline(timeline: list[dict]) -> list[dict]:
    return [{"at": entry["at"], "text": entry["text"]}
            for entry in sorted(timeline, key=lambda entry: entry["at"]) if entry.get("public")]
