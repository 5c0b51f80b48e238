"""Severity (general / major / critical) and risk flags, from rules kept as data.

Each rule in classification.yaml raises one flag with a severity; a case's severity is the
highest of its flags (general when none). A critical case is handed to routing for
immediate red handling (三色预警: 红色督办).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from services.common.case_codes import CATEGORY_CODES
from services.intake.domain.rules import RulesError, positive_number, require_keys, string_list

SEVERITIES = ("general", "major", "critical")
RULE_KINDS = ("people", "amount", "keywords", "vulnerable", "history", "category")
CATEGORIES = tuple(CATEGORY_CODES)


@dataclass(frozen=True)
class Facts:
    """What the rules look at; the caller reads it from the report and the store."""

    category: str
    text: str
    people_involved: int
    amount: float | None = None
    ages: tuple[int, ...] = ()
    same_matter_earlier: int = 0   # the applicant's earlier cases in this category (lookback)
    any_matter_earlier: int = 0    # the applicant's earlier cases of any category (lookback)


@dataclass(frozen=True)
class Rule:
    flag: str
    kind: str
    severity: str
    min_people: int = 0
    min_amount: float = 0.0
    amount_by_category: dict[str, float] = field(default_factory=dict)
    any_keywords: tuple[str, ...] = ()
    all_of: tuple[tuple[str, ...], ...] = ()
    min_age: int | None = None
    max_age: int | None = None
    lookback: timedelta = timedelta(0)
    same_category_min: int = 0
    any_category_min: int = 0
    categories: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Classification:
    severity: str = "general"
    risk_flags: tuple[str, ...] = ()
    reasons: dict[str, str] = field(default_factory=dict)

    @property
    def immediate_red(self) -> bool:
        return self.severity == "critical"

    def combined(self, other: Classification) -> Classification:
        """A file's classification after another report of the same dispute joins it."""
        flags = self.risk_flags + tuple(flag for flag in other.risk_flags if flag not in self.risk_flags)
        return Classification(
            severity=max_severity(self.severity, other.severity),
            risk_flags=flags,
            reasons={**other.reasons, **self.reasons},
        )


def max_severity(*severities: str) -> str:
    return max(severities, key=SEVERITIES.index, default="general")


@dataclass(frozen=True)
class Classifier:
    rules: tuple[Rule, ...]
    negations: tuple[str, ...] = ()
    # keyword -> everyday phrases it is part of that carry no threat (拼命工作: "work hard")
    exclusions: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def history_lookback(self) -> timedelta:
        return max((rule.lookback for rule in self.rules if rule.kind == "history"), default=timedelta(0))

    def classify(self, facts: Facts) -> Classification:
        flags: list[str] = []
        reasons: dict[str, str] = {}
        severity = "general"
        for rule in self.rules:
            reason = self._evaluate(rule, facts)
            if reason is None or rule.flag in flags:
                continue
            flags.append(rule.flag)
            reasons[rule.flag] = reason
            severity = max_severity(severity, rule.severity)
        return Classification(severity=severity, risk_flags=tuple(flags), reasons=reasons)

    def _evaluate(self, rule: Rule, facts: Facts) -> str | None:
        if rule.kind == "people":
            if facts.people_involved >= rule.min_people:
                return f"{facts.people_involved} people involved (threshold {rule.min_people})"
            return None
        if rule.kind == "amount":
            threshold = rule.amount_by_category.get(facts.category, rule.min_amount)
            if facts.amount is not None and facts.amount >= threshold:
                return f"amount {facts.amount:,.2f} CNY (threshold {threshold:,.2f})"
            return None
        if rule.kind == "keywords":
            return self._keywords(rule, facts.text)
        if rule.kind == "vulnerable":
            return self._vulnerable(rule, facts)
        if rule.kind == "history":
            if rule.same_category_min and facts.same_matter_earlier >= rule.same_category_min:
                return f"{facts.same_matter_earlier} earlier case(s) of the same applicant in this category"
            if rule.any_category_min and facts.any_matter_earlier >= rule.any_category_min:
                return f"{facts.any_matter_earlier} earlier case(s) of the same applicant"
            return None
        if rule.kind == "category":
            return f"category {facts.category}" if facts.category in rule.categories else None
        raise RulesError(f"unknown rule kind {rule.kind}")

    def _keywords(self, rule: Rule, text: str) -> str | None:
        hits = [word for word in rule.any_keywords if self.mentions(text, word)]
        if hits:
            return "mentions " + "、".join(hits)
        if rule.all_of:
            group_hits = []
            for group in rule.all_of:
                found = [word for word in group if self.mentions(text, word)]
                if not found:
                    return None
                group_hits.append(found[0])
            return "mentions " + " + ".join(group_hits)
        return None

    def _vulnerable(self, rule: Rule, facts: Facts) -> str | None:
        for age in facts.ages:
            if rule.min_age is not None and age >= rule.min_age:
                return f"a party aged {rule.min_age} or over"
            if rule.max_age is not None and age <= rule.max_age:
                return f"a party aged {rule.max_age} or under"
        hits = [word for word in rule.any_keywords if self.mentions(facts.text, word)]
        return "mentions " + "、".join(hits) if hits else None

    def mentions(self, text: str, word: str) -> bool:
        """True when `word` occurs and at least one occurrence is neither negated (没有自杀倾向)
        nor part of an excluded phrase (拼命工作, 跳楼价)."""
        start = 0
        while (index := text.find(word, start)) >= 0:
            negated = any(text[max(0, index - len(neg)):index] == neg for neg in self.negations)
            if not negated and not self._excluded(text, word, index):
                return True
            start = index + 1
        return False

    def _excluded(self, text: str, word: str, index: int) -> bool:
        """True when the occurrence of `word` at `index` lies inside one of its excluded phrases."""
        for phrase in self.exclusions.get(word, ()):
            offset = phrase.find(word)
            while offset >= 0:
                begin = index - offset
                if begin >= 0 and text.startswith(phrase, begin):
                    return True
                offset = phrase.find(word, offset + 1)
        return False


def parse_classification(raw: dict) -> Classifier:
    require_keys(raw, ["rules"], "classification")
    if not isinstance(raw["rules"], list) or not raw["rules"]:
        raise RulesError("classification: `rules` must be a non-empty list")
    rules = tuple(_parse_rule(entry, index) for index, entry in enumerate(raw["rules"]))
    return Classifier(rules=rules, negations=tuple(string_list(raw.get("negations"), "classification.negations")),
                      exclusions=_parse_exclusions(raw.get("exclusions"), rules))


def _parse_exclusions(raw: object, rules: tuple[Rule, ...]) -> dict[str, tuple[str, ...]]:
    """`exclusions: {keyword: [phrase, ...]}`; each phrase contains its keyword, each keyword is a rule's."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise RulesError("classification.exclusions: expected a mapping of keyword to phrases")
    known = {word for rule in rules for word in rule.any_keywords}
    known.update(word for rule in rules for group in rule.all_of for word in group)
    exclusions = {}
    for word, phrases in raw.items():
        where = f"classification.exclusions.{word}"
        if word not in known:
            raise RulesError(f"{where}: not a keyword of any rule")
        listed = string_list(phrases, where)
        wrong = [phrase for phrase in listed if word not in phrase]
        if not listed or wrong:
            raise RulesError(f"{where}: a non-empty list of phrases that contain {word}"
                             + (f" (not: {', '.join(wrong)})" if wrong else ""))
        exclusions[word] = tuple(listed)
    return exclusions


def _parse_rule(entry: dict, index: int) -> Rule:
    where = f"classification.rules[{index}]"
    require_keys(entry, ["flag", "kind", "severity"], where)
    kind, severity = entry["kind"], entry["severity"]
    if kind not in RULE_KINDS:
        raise RulesError(f"{where}: kind must be one of {', '.join(RULE_KINDS)}")
    if severity not in SEVERITIES:
        raise RulesError(f"{where}: severity must be one of {', '.join(SEVERITIES)}")
    base = {"flag": str(entry["flag"]), "kind": kind, "severity": severity}
    if kind == "people":
        return Rule(**base, min_people=int(positive_number(entry.get("min_people"), f"{where}.min_people")))
    if kind == "amount":
        by_category = entry.get("by_category") or {}
        unknown = set(by_category) - set(CATEGORIES)
        if unknown:
            raise RulesError(f"{where}.by_category: unknown categories {sorted(unknown)}")
        return Rule(**base, min_amount=positive_number(entry.get("min_amount"), f"{where}.min_amount"),
                    amount_by_category={key: positive_number(value, f"{where}.by_category.{key}")
                                        for key, value in by_category.items()})
    if kind == "keywords":
        any_keywords = tuple(string_list(entry.get("any"), f"{where}.any"))
        groups = entry.get("all_of") or []
        if not isinstance(groups, list):
            raise RulesError(f"{where}.all_of: expected a list of keyword lists")
        all_of = tuple(tuple(string_list(group, f"{where}.all_of")) for group in groups)
        if not any_keywords and not all_of:
            raise RulesError(f"{where}: a keywords rule needs `any` or `all_of`")
        return Rule(**base, any_keywords=any_keywords, all_of=all_of)
    if kind == "vulnerable":
        return Rule(**base, min_age=entry.get("min_age"), max_age=entry.get("max_age"),
                    any_keywords=tuple(string_list(entry.get("any"), f"{where}.any")))
    if kind == "history":
        days = positive_number(entry.get("lookback_days"), f"{where}.lookback_days")
        return Rule(**base, lookback=timedelta(days=days),
                    same_category_min=int(entry.get("same_category_min") or 0),
                    any_category_min=int(entry.get("any_category_min") or 0))
    categories = frozenset(string_list(entry.get("categories"), f"{where}.categories"))
    if not categories or categories - set(CATEGORIES):
        raise RulesError(f"{where}.categories: a non-empty list of known categories")
    return Rule(**base, categories=categories)
