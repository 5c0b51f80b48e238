"""How division codes relate (GB/T 2260, zero padded)."""

from __future__ import annotations

from services.common.auth import covers, significant_prefix


def related(a: str, b: str) -> bool:
    """One division contains the other: a county centre's room serves its townships' cases,
    and a township's mediator may sit on a case the county took up."""
    return covers(a, b) or covers(b, a)


def enclosing(code: str) -> list[str]:
    """The division itself and the ones above it, as they are written (6, 9 or 12 digits)."""
    found = [code]
    if len(code) == 12:
        found.append(code[:9])
    if len(code) >= 9:
        found.append(code[:6])
    county = code[:6]
    found.extend([county[:4] + "00", county[:2] + "0000"])
    return list(dict.fromkeys(found))


def area_prefix(code: str) -> str:
    return significant_prefix(code)
