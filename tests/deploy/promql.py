"""Just enough PromQL reading for the deployment tests: which metrics an expression selects,
and which label names it relies on (in matchers, `by`/`on` lists, label_replace's source, and
the labels a legend or an alert annotation prints), each with the metrics that must carry it.

Not a parser of the whole language: it reads the expressions of deploy/ (aggregations,
functions, binary operators, selectors, range vectors, strings in three quotings)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

TOKEN = re.compile(r"""
    \s*(?:
      (?P<string>"(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*'|`[^`]*`)
    | (?P<range>\[[^\]]*\])
    | (?P<number>\d+(?:\.\d+)?(?:e[+-]?\d+)?\b)
    | (?P<name>[A-Za-z_:][A-Za-z0-9_:]*)
    | (?P<op>=~|!~|!=|==|>=|<=|[-+*/%^<>=(){},])
    )""", re.VERBOSE)
GROUPING = {"by", "without", "on", "ignoring", "group_left", "group_right"}
KEYWORDS = GROUPING | {"and", "or", "unless", "bool", "offset"}
# grouping lists whose labels need not exist: they name labels to drop
DROPPING = {"without", "ignoring"}


@dataclass
class Usage:
    metrics: set[str] = field(default_factory=set)
    # (label, metrics that must carry it, what uses it)
    labels: list[tuple[str, frozenset[str], str]] = field(default_factory=list)
    made: set[str] = field(default_factory=set)  # labels label_replace writes


def tokens(expr: str) -> list[tuple[str, str]]:
    found, position = [], 0
    expr = expr.strip()
    while position < len(expr):
        match = TOKEN.match(expr, position)
        if not match or match.end() == position:
            raise ValueError(f"cannot read {expr[position:position + 20]!r} in {expr!r}")
        found.append((match.lastgroup, match.group(match.lastgroup)))
        position = match.end()
    return found


def closing(toks: list[tuple[str, str]], start: int) -> int:
    """The index of the parenthesis that closes the one at `start`."""
    depth = 0
    for index in range(start, len(toks)):
        if toks[index] == ("op", "("):
            depth += 1
        elif toks[index] == ("op", ")"):
            depth -= 1
            if depth == 0:
                return index
    raise ValueError("unbalanced parentheses")


def unquote(text: str) -> str:
    return text[1:-1]


def metrics_in(toks: list[tuple[str, str]]) -> set[str]:
    found = set()
    for index, (kind, value) in enumerate(toks):
        if kind != "name" or value in KEYWORDS:
            continue
        after = toks[index + 1] if index + 1 < len(toks) else None
        before = toks[index - 1] if index else None
        if after == ("op", "(") or (after and after[0] == "name" and after[1] in GROUPING):
            continue  # a function, or an aggregation (`sum (…)`, `sum by (…) (…)`)
        if before and before[0] == "name" and before[1] in GROUPING:
            continue
        if _inside_label_list(toks, index):
            continue
        found.add(value)
    return found


def _inside_label_list(toks, index) -> bool:
    """A name inside {…} matchers (before its operator) or inside a by/on (…) list."""
    for back in range(index - 1, -1, -1):
        kind, value = toks[back]
        if (kind, value) == ("op", "}"):
            return False
        if (kind, value) == ("op", "{"):
            return True
        if (kind, value) == ("op", ")"):
            return False
        if (kind, value) == ("op", "("):
            return back > 0 and toks[back - 1][0] == "name" and toks[back - 1][1] in GROUPING
    return False


def read(expr: str, printed: tuple[str, ...] = ()) -> Usage:
    """What `expr` uses; `printed` are labels shown from its result (legend, annotations)."""
    toks = tokens(expr)
    usage = Usage(metrics=metrics_in(toks))
    for index, (kind, value) in enumerate(toks):
        # selector matchers: metric{label op "value", ...}
        if (kind, value) == ("op", "{"):
            metric = toks[index - 1][1] if index and toks[index - 1][0] == "name" else None
            end = next(i for i in range(index, len(toks)) if toks[i] == ("op", "}"))
            for inner in range(index + 1, end):
                if toks[inner][0] == "name" and toks[inner + 1][1] in ("=", "!=", "=~", "!~"):
                    usage.labels.append((toks[inner][1], frozenset({metric} if metric else usage.metrics),
                                         "matcher"))
        # grouping lists: by (a, b) / on (a) — the labels must exist in the expression they group
        if kind == "name" and value in GROUPING and index + 1 < len(toks) and toks[index + 1] == ("op", "("):
            end = closing(toks, index + 1)
            names = [v for k, v in toks[index + 2:end] if k == "name"]
            if value in DROPPING:
                continue
            scope = _grouped_scope(toks, index, end) if value in ("by",) else usage.metrics
            for name in names:
                usage.labels.append((name, frozenset(scope), f"{value} ()"))
        # label_replace(v, "dst", "replacement", "src", "regex")
        if (kind, value) == ("name", "label_replace"):
            end = closing(toks, index + 1)
            args = _split_arguments(toks[index + 2:end])
            inner_metrics = metrics_in(args[0])
            usage.made.add(unquote(args[1][0][1]))
            usage.labels.append((unquote(args[3][0][1]), frozenset(inner_metrics), "label_replace source"))
    for name in printed:
        if name not in usage.made:
            usage.labels.append((name, frozenset(usage.metrics), "printed"))
    return usage


def _grouped_scope(toks, index, end) -> set[str]:
    """The metrics an aggregation's `by (…)` applies to: `sum by (x) (body)` or `sum (body) by (x)`."""
    if end + 1 < len(toks) and toks[end + 1] == ("op", "("):
        body_end = closing(toks, end + 1)
        return metrics_in(toks[end + 2:body_end])
    # `sum (body) by (x)`: the body is the parenthesis just before `by`
    if index and toks[index - 1] == ("op", ")"):
        depth = 0
        for back in range(index - 1, -1, -1):
            if toks[back] == ("op", ")"):
                depth += 1
            elif toks[back] == ("op", "("):
                depth -= 1
                if depth == 0:
                    return metrics_in(toks[back + 1:index - 1])
    raise ValueError("a grouping list that groups nothing")


def _split_arguments(toks) -> list[list[tuple[str, str]]]:
    args, current, depth = [], [], 0
    for token in toks:
        if token == ("op", "(") or token == ("op", "{"):
            depth += 1
        elif token == ("op", ")") or token == ("op", "}"):
            depth -= 1
        if token == ("op", ",") and depth == 0:
            args.append(current)
            current = []
        else:
            current.append(token)
    args.append(current)
    return args


def printed_labels(*templates: str) -> tuple[str, ...]:
    """Labels a Grafana legend ({{name}}) or an alert annotation ({{ $labels.name }}) prints."""
    found = []
    for template in templates:
        found += re.findall(r"\$labels\.([A-Za-z_][A-Za-z0-9_]*)", template)
        found += re.findall(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}", template)
    return tuple(found)
