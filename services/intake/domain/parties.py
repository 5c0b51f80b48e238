"""Parties' identifiers: normal forms for matching, and what an ID number says about age.

Matching never needs the clear value: callers pass a keyed hash (`blind`) and the keys
below are what the store indexes. Organisations are left out of matching: many different
disputes name the same employer or property company.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from services.intake.domain.characters import fold

ID_PREFIX = "i:"
PHONE_PREFIX = "p:"


def normalise_phone(phone: str) -> str:
    """ASCII digits only, without the +86 country code: 138 1234 5678, +86-13812345678 and the
    full-width １３８１２３４５６７８ match."""
    digits = "".join(ch for ch in fold(phone) if ch.isascii() and ch.isdigit())
    if len(digits) == 13 and digits.startswith("86"):
        digits = digits[2:]
    return digits


def normalise_id(id_number: str) -> str:
    """Without spaces, in capitals, full-width characters as ASCII (an IME's １４０１…Ｘ is the same ID)."""
    return "".join(fold(id_number).split()).upper()


def phone_tail(phone: str | None) -> str | None:
    if not phone:
        return None
    digits = normalise_phone(phone)
    return digits[-4:] if len(digits) >= 4 else None


def id_key(id_number: str, blind: Callable[[str], str]) -> str:
    return ID_PREFIX + blind("id:" + normalise_id(id_number))


def phone_key(phone: str, blind: Callable[[str], str]) -> str:
    return PHONE_PREFIX + blind("phone:" + normalise_phone(phone))


def match_keys(party: dict, blind: Callable[[str], str]) -> list[str]:
    """The keys that identify a person across reports: hashed ID number and phone."""
    if party.get("kind") != "person":
        return []
    keys = []
    if party.get("id_number"):
        keys.append(id_key(party["id_number"], blind))
    if party.get("phone") and normalise_phone(party["phone"]):
        keys.append(phone_key(party["phone"], blind))
    return keys


def birth_date(id_number: str | None) -> date | None:
    """The birth date in a mainland resident ID number (18 digits, or the old 15), else None.

    The check digit is not required to match: a mistyped last digit still carries the date.
    """
    if not id_number:
        return None
    value = normalise_id(id_number)
    if len(value) == 18 and value[:17].isdigit() and (value[17].isdigit() or value[17] == "X"):
        year, month, day = int(value[6:10]), int(value[10:12]), int(value[12:14])
    elif len(value) == 15 and value.isdigit():
        year, month, day = 1900 + int(value[6:8]), int(value[8:10]), int(value[10:12])
    else:
        return None
    try:
        return date(year, month, day)
    except ValueError:
        return None


def age_on(born: date, day: date) -> int:
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def ages(parties: list[dict], day: date) -> list[int]:
    """Ages of the persons whose ID numbers carry a plausible birth date."""
    result = []
    for party in parties:
        if party.get("kind") != "person":
            continue
        born = birth_date(party.get("id_number"))
        if born is not None and born <= day:
            result.append(age_on(born, day))
    return result
