"""Characters as people type them: full-width digits and letters (a Chinese IME's default), other
Unicode decimal digits, dashes and spaces of every kind, read as their ASCII forms. Matching ID
numbers and phones (parties.py) and finding them in free text (freetext.py) read them alike."""

from __future__ import annotations

import unicodedata
from functools import lru_cache

# One separator between digit groups, after folding: a space (also the ideographic space), a dot or a dash.
SEPARATORS = " .-"
_DASHES = "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\uff0d"


@lru_cache(maxsize=4096)
def _fold_character(character: str) -> str:
    if character.isascii():
        return character
    if character.isdecimal():                       # １, ٣, ४ … (not ² or ①: they are not digits of a number)
        return str(unicodedata.decimal(character))
    if character in _DASHES:
        return "-"
    folded = unicodedata.normalize("NFKC", character)
    if len(folded) == 1 and folded.isascii() and (folded.isalpha() or folded in SEPARATORS + "+()"):
        return folded                               # Ｘ, （, ）, ．, ＋, the ideographic space …
    return character


def fold(text: str) -> str:
    """`text` with full-width (and other Unicode) digits, full-width letters, brackets, plus signs,
    dots, dashes and spaces as their ASCII forms, character for character: positions are kept."""
    return "".join(_fold_character(character) for character in text)
