"""Courts, suitable causes and rules as values, built from the dictionaries in data/*.yaml.

Building checks the data: a court referring a category no suitable cause covers, or a rule
missing, is refused at start rather than discovered on the first batch.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from services.common.auth import covers
from services.common.contracts import CATEGORIES


class ReferenceDataError(ValueError):
    """The reference data cannot be used; the message names the entry."""


@dataclass(frozen=True)
class Cause:
    cause: str
    name: str
    category: str


@dataclass(frozen=True)
class Court:
    court_id: str
    name: str
    system: str
    base_url: str
    api_key: str = field(repr=False)
    docket_code: str
    jurisdictions: tuple[str, ...]
    categories: frozenset[str]
    sits_in_centre: bool
    referral_days: int

    def covers(self, jurisdiction: str) -> bool:
        return any(covers(scope, jurisdiction) for scope in self.jurisdictions)

    def specificity(self, jurisdiction: str) -> int:
        """How closely the court's own area fits `jurisdiction` (longer scope is closer)."""
        return max((len(scope) for scope in self.jurisdictions if covers(scope, jurisdiction)), default=-1)


@dataclass(frozen=True)
class ExtensionRules:
    max_days_per_request: int
    max_total_days: int


@dataclass(frozen=True)
class ReferralRules:
    deadline_days: int
    extension: ExtensionRules


@dataclass(frozen=True)
class ConfirmationRules:
    apply_within_days: int
    warn_days_before: int
    court_acceptance_days: int


@dataclass(frozen=True)
class FastTrackRules:
    categories: frozenset[str]
    max_amount: float
    max_people_involved: int
    severities: frozenset[str]
    allow_risk_flags: bool
    require_undisputed_facts: bool


@dataclass(frozen=True)
class Rules:
    referral: ReferralRules
    confirmation: ConfirmationRules
    fast_track: FastTrackRules


@dataclass(frozen=True)
class Reference:
    courts: dict[str, Court]
    causes: dict[str, Cause]
    rules: Rules

    @property
    def suitable_categories(self) -> frozenset[str]:
        return frozenset(cause.category for cause in self.causes.values())

    def court(self, court_id: str) -> Court | None:
        return self.courts.get(court_id)

    def competent_court(self, jurisdiction: str) -> Court | None:
        """The court whose own area fits the case's division most closely (基层法院 of the place)."""
        candidates = [court for court in self.courts.values() if court.covers(jurisdiction)]
        if not candidates:
            return None
        return max(candidates, key=lambda court: (court.specificity(jurisdiction), court.court_id))


def _require(mapping: dict, key: str, where: str):
    if not isinstance(mapping, dict) or key not in mapping:
        raise ReferenceDataError(f"{where}: `{key}` is missing")
    return mapping[key]


def _positive_int(value, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ReferenceDataError(f"{where}: must be a whole number ≥ 0, not {value!r}")
    return value


def build_causes(data: dict) -> dict[str, Cause]:
    causes: dict[str, Cause] = {}
    for index, entry in enumerate(_require(data, "causes", "causes")):
        where = f"causes[{index}]"
        cause = Cause(str(_require(entry, "cause", where)), str(_require(entry, "name", where)),
                      str(_require(entry, "category", where)))
        if cause.category not in CATEGORIES:
            raise ReferenceDataError(f"{where}: unknown category {cause.category!r}")
        if cause.cause in causes:
            raise ReferenceDataError(f"{where}: cause {cause.cause!r} is listed twice")
        causes[cause.cause] = cause
    if not causes:
        raise ReferenceDataError("causes: the list is empty; no referral could be accepted")
    return causes


def build_rules(data: dict) -> Rules:
    referral = _require(data, "referral", "rules")
    extension = _require(referral, "extension", "rules.referral")
    confirmation = _require(data, "confirmation", "rules")
    fast = _require(_require(data, "filing", "rules"), "fast_track", "rules.filing")
    categories = frozenset(_require(fast, "categories", "rules.filing.fast_track"))
    unknown = categories - set(CATEGORIES)
    if unknown:
        raise ReferenceDataError(f"rules.filing.fast_track.categories: unknown {sorted(unknown)}")
    return Rules(
        referral=ReferralRules(
            deadline_days=_positive_int(_require(referral, "deadline_days", "rules.referral"),
                                        "rules.referral.deadline_days"),
            extension=ExtensionRules(
                max_days_per_request=_positive_int(
                    _require(extension, "max_days_per_request", "rules.referral.extension"),
                    "rules.referral.extension.max_days_per_request"),
                max_total_days=_positive_int(
                    _require(extension, "max_total_days", "rules.referral.extension"),
                    "rules.referral.extension.max_total_days"),
            ),
        ),
        confirmation=ConfirmationRules(
            apply_within_days=_positive_int(_require(confirmation, "apply_within_days", "rules.confirmation"),
                                            "rules.confirmation.apply_within_days"),
            warn_days_before=_positive_int(_require(confirmation, "warn_days_before", "rules.confirmation"),
                                           "rules.confirmation.warn_days_before"),
            court_acceptance_days=_positive_int(
                _require(confirmation, "court_acceptance_days", "rules.confirmation"),
                "rules.confirmation.court_acceptance_days"),
        ),
        fast_track=FastTrackRules(
            categories=categories,
            max_amount=float(_require(fast, "max_amount", "rules.filing.fast_track")),
            max_people_involved=_positive_int(_require(fast, "max_people_involved", "rules.filing.fast_track"),
                                              "rules.filing.fast_track.max_people_involved"),
            severities=frozenset(_require(fast, "severities", "rules.filing.fast_track")),
            allow_risk_flags=bool(_require(fast, "allow_risk_flags", "rules.filing.fast_track")),
            require_undisputed_facts=bool(_require(fast, "require_undisputed_facts", "rules.filing.fast_track")),
        ),
    )


def build_courts(data: dict, suitable: frozenset[str], default_days: int, base_urls: dict | None = None,
                 api_keys: dict | None = None, default_base_url: str | None = None) -> dict[str, Court]:
    """`base_urls`/`api_keys` override single courts; `default_base_url` replaces the file's
    default address (where a deployment runs the simulator, say)."""
    defaults = dict(data.get("defaults") or {})
    if default_base_url:
        defaults["base_url"] = default_base_url
    base_urls = base_urls or {}
    api_keys = api_keys or {}
    courts: dict[str, Court] = {}
    for index, raw in enumerate(_require(data, "courts", "courts")):
        entry = {**defaults, **raw}
        where = f"courts[{index}]"
        court_id = str(_require(entry, "court_id", where))
        jurisdictions = tuple(str(code) for code in _require(entry, "jurisdictions", where))
        if not jurisdictions or any(not (code.isdigit() and len(code) in (6, 9, 12)) for code in jurisdictions):
            raise ReferenceDataError(f"{where}: jurisdictions must be division codes, not {jurisdictions!r}")
        categories = frozenset(entry.get("categories") or suitable)
        unsuitable = categories - suitable
        if unsuitable:
            raise ReferenceDataError(
                f"{where}: {court_id} refers {sorted(unsuitable)}, which no suitable cause covers")
        if court_id in courts:
            raise ReferenceDataError(f"{where}: court {court_id!r} is listed twice")
        courts[court_id] = Court(
            court_id=court_id,
            name=str(_require(entry, "name", where)),
            system=str(_require(entry, "system", where)),
            base_url=str(base_urls.get(court_id) or _require(entry, "base_url", where)).rstrip("/"),
            api_key=str(api_keys.get(court_id) or _require(entry, "api_key", where)),
            docket_code=str(_require(entry, "docket_code", where)),
            jurisdictions=jurisdictions,
            categories=categories,
            sits_in_centre=bool(entry.get("sits_in_centre", False)),
            referral_days=_positive_int(entry.get("referral_days", default_days), f"{where}.referral_days"),
        )
    return courts


def build_reference(courts: dict, causes: dict, rules: dict, base_urls: dict | None = None,
                    api_keys: dict | None = None, default_base_url: str | None = None) -> Reference:
    built_causes = build_causes(causes)
    built_rules = build_rules(rules)
    suitable = frozenset(cause.category for cause in built_causes.values())
    return Reference(
        courts=build_courts(courts, suitable, built_rules.referral.deadline_days, base_urls, api_keys,
                            default_base_url),
        causes=built_causes,
        rules=built_rules,
    )
