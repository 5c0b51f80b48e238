"""Division codes (GB/T 2260) as scopes: which codes a case sits under."""

from __future__ import annotations

from services.common.auth import significant_prefix


def scope_keys(jurisdiction: str) -> list[str]:
    """The significant prefixes of a division and all its ancestors.

    A token scope S covers the case exactly when significant_prefix(S) is one of these, so
    a scoped listing is an equality match on an indexed array instead of a prefix scan.
    """
    levels = [jurisdiction[:2] + "0000", jurisdiction[:4] + "00", jurisdiction[:6]]
    if len(jurisdiction) >= 9:
        levels.append(jurisdiction[:9])
    if len(jurisdiction) == 12:
        levels.append(jurisdiction)
    keys: list[str] = []
    for code in levels:
        prefix = significant_prefix(code)
        if prefix not in keys:
            keys.append(prefix)
    return keys


def on_same_line(first: str, second: str) -> bool:
    """True when one division contains the other (a county and its village, say).

    A grid worker reports from the village while the window registered the county: the same
    place, described at two levels.
    """
    if first[:6] != second[:6]:
        return False
    return first.startswith(significant_prefix(second)) or second.startswith(significant_prefix(first))
