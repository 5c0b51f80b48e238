"""The case code format every service reads in URLs and events (docs/contracts.md).

`CCCCCC-YYMMDD-KK-NNNN-X`: county, local date of registration, category letters, the
county's daily sequence, and a Luhn mod 36 check character. intake issues codes; every
service accepts them typed with or without dashes, in either case, and refuses a code
whose check character does not match (a mistyped code, never someone else's case).
"""

from __future__ import annotations

CODE_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"

CATEGORY_CODES = {
    "labour": "LB", "family": "FM", "domestic_violence": "DV", "neighbour": "NB",
    "property_management": "PM", "lending": "LD", "consumer": "CS", "traffic": "TF",
    "medical": "MD", "land": "LA", "construction": "CN", "education": "ED",
    "environment": "EV", "tenancy": "TN", "contract": "CT", "other": "OT",
}
_CATEGORY_LETTERS = frozenset(CATEGORY_CODES.values())
_NOT_A_CODE = "not a case code (county-date-category-sequence-check)"


class InvalidCaseCode(ValueError):
    """A case code that is malformed or whose check character does not match."""


def check_character(body: str) -> str:
    """Luhn mod 36 over 0-9A-Z: catches every single mistyped character and most swaps."""
    factor = 2
    total = 0
    for char in reversed(body):
        addend = factor * CODE_ALPHABET.index(char)
        factor = 1 if factor == 2 else 2
        total += addend // 36 + addend % 36
    return CODE_ALPHABET[(36 - total % 36) % 36]


def format_code(body: str) -> str:
    """The dashed form of a code body (without its check character), check appended."""
    return f"{body[:6]}-{body[6:12]}-{body[12:14]}-{body[14:]}-{check_character(body)}"


def canonical_case_code(code: str) -> str:
    """Normalise a typed code (case, spaces, dashes) and verify it; returns the canonical form."""
    compact = "".join(ch for ch in code.upper() if ch.isalnum())
    if (len(compact) < 19 or not compact.isascii() or not compact[:12].isdigit()
            or compact[12:14] not in _CATEGORY_LETTERS or not compact[14:-1].isdigit()):
        raise InvalidCaseCode(_NOT_A_CODE)
    body, check = compact[:-1], compact[-1]
    if check_character(body) != check:
        raise InvalidCaseCode("the check character does not match: the code is mistyped")
    return format_code(body)
