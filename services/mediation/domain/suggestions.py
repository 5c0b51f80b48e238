"""Which mediators to suggest for a case: speciality, jurisdiction, load and continuity.

The mediator of the first mediation session keeps the case, so once a file has one that
mediator comes first (and is never dropped for being busy).
"""

from __future__ import annotations

from dataclasses import dataclass

from services.common.auth import covers
from services.mediation.domain.codes import related
from services.mediation.domain.rules import MediationTypeRule, Rules


@dataclass(frozen=True)
class Candidate:
    mediator_id: str
    name: str
    type: str
    specialities: frozenset[str]
    jurisdictions: tuple[str, ...]
    unit: str | None
    max_open_files: int
    open_files: int = 0
    upcoming_sessions: int = 0
    available: bool = True  # free and on duty at the time asked about (True when none was asked)


@dataclass(frozen=True)
class CaseNeeds:
    category: str
    jurisdiction: str
    committee: str | None
    mediation_type: MediationTypeRule | None
    lead_mediator_id: str | None
    purpose: str


@dataclass(frozen=True)
class Suggestion:
    mediator_id: str
    name: str
    type: str
    score: float
    reasons: tuple[str, ...]
    open_files: int
    upcoming_sessions: int


def eligible(candidate: Candidate, needs: CaseNeeds, rules: Rules) -> bool:
    return (candidate.type in rules.purposes[needs.purpose]
            and any(related(code, needs.jurisdiction) for code in candidate.jurisdictions))


def rank(needs: CaseNeeds, candidates: list[Candidate], rules: Rules, limit: int | None = None) -> list[Suggestion]:
    weights = rules.weights
    ranked = []
    for candidate in candidates:
        if not eligible(candidate, needs, rules) or not candidate.available:
            continue
        keeps_case = needs.purpose == "mediation" and candidate.mediator_id == needs.lead_mediator_id
        if not keeps_case and candidate.open_files >= candidate.max_open_files:
            continue
        score, reasons = 0.0, []
        if keeps_case:
            score += weights["continuity"]
            reasons.append("continuity")
        if needs.category in candidate.specialities:
            score += weights["speciality"]
            reasons.append(f"speciality:{needs.category}")
        if needs.committee and candidate.unit == needs.committee:
            score += weights["committee"]
            reasons.append("committee")
        if needs.mediation_type and candidate.type in needs.mediation_type.prefer:
            prefer = needs.mediation_type.prefer
            score += weights["type"] * (len(prefer) - prefer.index(candidate.type)) / len(prefer)
            reasons.append(f"type:{candidate.type}")
        if any(covers(needs.jurisdiction, code) for code in candidate.jurisdictions):
            score += weights["locality"]
            reasons.append("local")
        score += weights["open_file"] * candidate.open_files
        score += weights["upcoming_session"] * candidate.upcoming_sessions
        ranked.append(Suggestion(candidate.mediator_id, candidate.name, candidate.type, round(score, 2),
                                 tuple(reasons), candidate.open_files, candidate.upcoming_sessions))
    ranked.sort(key=lambda s: (-s.score, s.open_files, s.mediator_id))
    return ranked[: limit or rules.suggestion_limit]
