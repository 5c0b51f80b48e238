"""Personal numbers typed into free text (summary, description): found and masked.

Clerks and citizens write "申请人张三（身份证140106198001011234，电话13812345678）" into the
summary as often as into the party fields. What is stored in clear, emitted, listed or shown
to the public carries such numbers masked like the party fields are (1401**********1234,
138****5678); the caller keeps the original encrypted for staff.

Recognised: resident ID numbers — 18 characters (17 digits and a check character) whose check
character (GB 11643) is right or which carry a real birth date (a mistyped check character still
identifies the person), or 15 digits carrying a real birth date; mobile numbers (1[3-9] and nine
digits, optionally +86, the first three in parentheses); landline numbers with their area code
(0 and 2–3 digits, then 7–8 digits, the code optionally in parentheses). A bare local number
without its area code is not recognised: it cannot be told from an amount or a date.

As typed: full-width digits and letters (１３８１２３４５６７８, a Chinese IME's default) and other
Unicode decimal digits are read as ASCII, and the groups may be set apart by one space, dot or
dash — an 18-character ID number as 6-8-4 (140106 19800101 123X) or 6-4-4-4, a mobile as 3-4-4
(138 1234 5678, 138-1234-5678, 138.1234.5678, (138)1234-5678), a landline's local part as 3-4 or
4-4. A grouped number in the middle of a longer chain of digit groups (a bank card written
6222 0212 3456 7890 123) is left as written. A "birth date" in the future is not one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from services.common.pii import mask_id_number, mask_name, mask_phone
from services.intake.domain.characters import SEPARATORS, fold
from services.intake.domain.parties import birth_date, normalise_phone

ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK_CHARACTERS = "10X98765432"
EARLIEST_BIRTH_YEAR = 1900

# One separator between groups, after folding (SEPARATORS): a space, a dot or a dash.
_S = r"[ .\-]"

# The patterns run on the folded text (see `fold`), which has the same length as the original.
# (?<![0-9]) / (?![0-9]): a number inside a longer run of digits (an account number) is not one of these.
ID_18 = re.compile(rf"(?<![0-9])[0-9]{{6}}{_S}?[0-9]{{4}}{_S}?[0-9]{{4}}{_S}?[0-9]{{3}}[0-9Xx](?![0-9A-Za-z])")
ID_15 = re.compile(r"(?<![0-9])[0-9]{15}(?![0-9])")
MOBILE = re.compile(
    rf"(?<![0-9+])(?:\(\+?86\){_S}?|\+?86{_S}?)?(?:\(1[3-9][0-9]\)|1[3-9][0-9]){_S}?[0-9]{{4}}{_S}?[0-9]{{4}}(?![0-9])")
LANDLINE = re.compile(
    rf"(?<![0-9])(?:\(0[0-9]{{2,3}}\)|0[0-9]{{2,3}}){_S}?(?:[0-9]{{7,8}}|[0-9]{{3,4}}{_S}[0-9]{{4}})(?![0-9])")


@dataclass(frozen=True)
class Found:
    start: int
    end: int
    kind: str       # id_number | phone
    masked: str


def _compact(value: str) -> str:
    return "".join(character for character in fold(value) if character not in SEPARATORS + "()")


def id_check_character(first_17: str) -> str:
    """The 18th character of a resident ID number whose first 17 digits are `first_17`."""
    total = sum(int(digit) * weight for digit, weight in zip(first_17, ID_WEIGHTS, strict=True))
    return ID_CHECK_CHARACTERS[total % 11]


def is_id_18(value: str) -> bool:
    value = _compact(value)
    return bool(ID_18.fullmatch(value)) and id_check_character(value[:17]) == value[17].upper()


def _real_birth_date(value: str) -> bool:
    born = birth_date(value)
    return born is not None and born.year >= EARLIEST_BIRTH_YEAR and born <= date.today()


def _grouped(text: str, start: int, end: int) -> bool:
    return any(character in SEPARATORS for character in text[start:end])


def _continues(text: str, start: int, end: int) -> tuple[bool, bool]:
    """Whether a grouped number goes on, to the left and to the right, into another digit group."""
    left = start >= 2 and text[start - 1] in SEPARATORS and text[start - 2].isdigit()
    right = end + 1 < len(text) and text[end] in SEPARATORS and text[end + 1].isdigit()
    return left, right


def personal_numbers(text: str) -> list[Found]:
    """Every ID or phone number in `text`, in order, none overlapping (ID numbers win)."""
    folded = fold(text)
    candidates: list[Found] = []
    for match in ID_18.finditer(folded):
        value = _compact(match.group()).upper()
        if is_id_18(value) or _real_birth_date(value):
            candidates.append(Found(*match.span(), "id_number", mask_id_number(value)))
    for match in ID_15.finditer(folded):
        if _real_birth_date(match.group()):
            candidates.append(Found(*match.span(), "id_number", mask_id_number(match.group())))
    for pattern in (MOBILE, LANDLINE):
        for match in pattern.finditer(folded):
            candidates.append(Found(*match.span(), "phone", mask_phone(normalise_phone(match.group()))))

    starts = {item.start for item in candidates}
    ends = {item.end for item in candidates}
    found: list[Found] = []
    for item in candidates:
        if _grouped(folded, item.start, item.end):
            left, right = _continues(folded, item.start, item.end)
            # a neighbouring group that is itself a number (138 1234 5678 139 8765 4321) is no chain
            if left and right and item.start - 1 not in ends and item.end + 1 not in starts:
                continue
        if not any(item.start < other.end and other.start < item.end for other in found):
            found.append(item)
    return sorted(found, key=lambda item: item.start)


def without_names(text: str, names: list[str]) -> str:
    """`text` with the parties' own names masked (王**), longest first: what leaves intake on the
    bus names no one (consumers have the party ids, and ask intake for contacts)."""
    for name in sorted({name for name in names if len(name) >= 2}, key=len, reverse=True):
        text = text.replace(name, mask_name(name))
    return text


def masked(text: str) -> str:
    """`text` with every ID and phone number masked; unchanged when it has none."""
    parts, position = [], 0
    for item in personal_numbers(text):
        parts.append(text[position:item.start])
        parts.append(item.masked)
        position = item.end
    parts.append(text[position:])
    return "".join(parts)
