"""Case codes as people type them: CCCCCC-YYMMDD-KK-NNNN-X (docs/contracts.md).

Accepted with or without dashes, in either case; the check character (Luhn mod 36) must
match, so a mistyped code is refused before anything is looked up.
"""

from __future__ import annotations

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
CATEGORY_CODES = frozenset(
    {"LB", "FM", "DV", "NB", "PM", "LD", "CS", "TF", "MD", "LA", "CN", "ED", "EV", "TN", "CT", "OT"}
)


class InvalidCaseCode(ValueError):
    """Malformed, or its check character does not match."""


def check_character(body: str) -> str:
    factor = 2
    total = 0
    for char in reversed(body):
        addend = factor * ALPHABET.index(char)
        factor = 1 if factor == 2 else 2
        total += addend // 36 + addend % 36
    return ALPHABET[(36 - total % 36) % 36]


def canonical_case_code(code: str) -> str:
    compact = "".join(ch for ch in code.upper() if ch.isalnum())
    if (len(compact) < 19 or not compact.isascii() or not compact[:12].isdigit()
            or compact[12:14] not in CATEGORY_CODES or not compact[14:-1].isdigit()):
        raise InvalidCaseCode("not a case code (county-date-category-sequence-check)")
    body, check = compact[:-1], compact[-1]
    if check_character(body) != check:
        raise InvalidCaseCode("the check character does not match: the code is mistyped")
    return f"{body[:6]}-{body[6:12]}-{body[12:14]}-{body[14:]}-{check}"
