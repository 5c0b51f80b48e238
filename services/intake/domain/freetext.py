"""Personal numbers typed into free text (summary, description): found and masked.

Clerks and citizens write "申请人张三（身份证140106198001011234，电话13812345678）" into the
summary as often as into the party fields. What is stored in clear, emitted, listed or shown
to the public carries such numbers masked like the party fields are (1401**********1234,
138****5678); the caller keeps the original encrypted for staff.

Recognised: resident ID numbers — 18 characters (17 digits and a check character) whose check
character (GB 11643) is right or which carry a real birth date (a mistyped check character still
identifies the person), or 15 digits carrying a real birth date; mobile numbers (1[3-9] and nine digits, optionally +86
and spaces or dashes in the usual places); landline numbers with their area code (0 and 2–3
digits, then 7–8 digits, the code optionally in parentheses). A bare local number without its
area code is not recognised: it cannot be told from an amount or a date.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from services.common.pii import mask_id_number, mask_phone
from services.intake.domain.parties import birth_date, normalise_phone

ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK_CHARACTERS = "10X98765432"

# (?<![0-9]) / (?![0-9]): a number inside a longer run of digits (an account number) is not one of these.
ID_18 = re.compile(r"(?<![0-9])[0-9]{17}[0-9Xx](?![0-9A-Za-z])")
ID_15 = re.compile(r"(?<![0-9])[0-9]{15}(?![0-9])")
MOBILE = re.compile(r"(?<![0-9+])(?:\+?86[- ]?)?1[3-9][0-9][- ]?[0-9]{4}[- ]?[0-9]{4}(?![0-9])")
LANDLINE = re.compile(r"(?<![0-9])(?:\(0[0-9]{2,3}\)|（0[0-9]{2,3}）|0[0-9]{2,3})[- ]?[0-9]{7,8}(?![0-9])")


@dataclass(frozen=True)
class Found:
    start: int
    end: int
    kind: str       # id_number | phone
    masked: str


def id_check_character(first_17: str) -> str:
    """The 18th character of a resident ID number whose first 17 digits are `first_17`."""
    total = sum(int(digit) * weight for digit, weight in zip(first_17, ID_WEIGHTS, strict=True))
    return ID_CHECK_CHARACTERS[total % 11]


def is_id_18(value: str) -> bool:
    return bool(ID_18.fullmatch(value)) and id_check_character(value[:17]) == value[17].upper()


def personal_numbers(text: str) -> list[Found]:
    """Every ID or phone number in `text`, in order, none overlapping (ID numbers win)."""
    found: list[Found] = []

    def add(match: re.Match, kind: str, masked: str) -> None:
        start, end = match.span()
        if not any(start < other.end and other.start < end for other in found):
            found.append(Found(start, end, kind, masked))

    for match in ID_18.finditer(text):
        if is_id_18(match.group()) or birth_date(match.group()) is not None:
            add(match, "id_number", mask_id_number(match.group().upper()))
    for match in ID_15.finditer(text):
        if birth_date(match.group()) is not None:
            add(match, "id_number", mask_id_number(match.group()))
    for pattern in (MOBILE, LANDLINE):
        for match in pattern.finditer(text):
            add(match, "phone", mask_phone(normalise_phone(match.group())))
    return sorted(found, key=lambda item: item.start)


def masked(text: str) -> str:
    """`text` with every ID and phone number masked; unchanged when it has none."""
    parts, position = [], 0
    for item in personal_numbers(text):
        parts.append(text[position:item.start])
        parts.append(item.masked)
        position = item.end
    parts.append(text[position:])
    return "".join(parts)
