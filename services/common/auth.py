"""JWT bearer tokens, roles and jurisdiction scopes (DESIGN.md §5, §8).

Jurisdictions are GB/T 2260 division codes, padded with zeros: the city 140100 covers
every 1401xx county and everything below; the county 140106 covers 140106xxx townships
and 140106xxxxxx villages.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

import jwt

from services.common.errors import Forbidden, Unauthorized

ROLES = frozenset(
    {"intake_clerk", "dispatcher", "department", "mediator", "court", "leader", "admin"}
)
ALGORITHM = "HS256"
DEFAULT_TTL_SECONDS = 12 * 3600


def significant_prefix(code: str) -> str:
    """The part of a division code that names it; the rest is zero padding."""
    if len(code) == 12 and code.endswith("000"):
        code = code[:9]
    if len(code) == 9 and code.endswith("000"):
        code = code[:6]
    if len(code) == 6:
        if code.endswith("0000"):
            return code[:2]
        if code.endswith("00"):
            return code[:4]
    return code


def covers(scope: str, code: str) -> bool:
    """True when the holder of `scope` may see a case in division `code`."""
    if not scope or not code:
        return False
    return code.startswith(significant_prefix(scope))


@dataclass(frozen=True)
class Principal:
    sub: str
    agency: str
    roles: frozenset[str]
    jurisdictions: tuple[str, ...]
    claims: dict = field(default_factory=dict, compare=False, repr=False)

    def has_role(self, *roles: str) -> bool:
        return bool(self.roles.intersection(roles))

    def covers(self, code: str) -> bool:
        return any(covers(scope, code) for scope in self.jurisdictions)

    def covers_or_oversees(self, code: str) -> bool:
        """Inside the token's divisions, or a division above one of them (its city, its province)."""
        return self.covers(code) or any(covers(code, scope) for scope in self.jurisdictions)

    def require_jurisdiction(self, code: str) -> None:
        if not self.covers(code):
            raise Forbidden(
                f"jurisdiction {code} is outside this token's scope",
                code="jurisdiction_forbidden",
            )

    def scope_prefixes(self) -> list[str]:
        return [significant_prefix(scope) for scope in self.jurisdictions]

    def as_actor(self) -> dict:
        return {"sub": self.sub, "agency": self.agency, "roles": sorted(self.roles)}


def mint_token(
    secret: str,
    *,
    sub: str,
    roles: Iterable[str],
    jurisdictions: Iterable[str],
    agency: str,
    ttl_seconds: int = DEFAULT_TTL_SECONDS,
    now: float | None = None,
) -> str:
    roles = sorted(set(roles))
    unknown = set(roles) - ROLES
    if unknown:
        raise ValueError(f"unknown roles: {sorted(unknown)}; valid: {sorted(ROLES)}")
    jurisdictions = list(jurisdictions)
    bad = [code for code in jurisdictions if not (code.isdigit() and len(code) in (6, 9, 12))]
    if bad:
        raise ValueError(f"not division codes (6, 9 or 12 digits): {bad}")
    issued = int(now if now is not None else time.time())
    claims = {
        "sub": sub,
        "agency": agency,
        "roles": roles,
        "jurisdictions": jurisdictions,
        "iat": issued,
        "exp": issued + ttl_seconds,
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def decode_token(secret: str, token: str) -> Principal:
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            options={"require": ["sub", "exp", "roles", "jurisdictions"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise Unauthorized("token has expired", code="token_expired") from exc
    except jwt.InvalidTokenError as exc:
        raise Unauthorized("token is not valid", code="token_invalid") from exc
    roles = claims.get("roles")
    jurisdictions = claims.get("jurisdictions")
    if not isinstance(roles, list) or not isinstance(jurisdictions, list):
        raise Unauthorized("token claims are malformed", code="token_invalid")
    return Principal(
        sub=str(claims["sub"]),
        agency=str(claims.get("agency", "")),
        roles=frozenset(str(role) for role in roles),
        jurisdictions=tuple(str(code) for code in jurisdictions),
        claims=claims,
    )


def principal_from_header(secret: str, header: str | None) -> Principal:
    if not header:
        raise Unauthorized("an Authorization: Bearer token is required", code="token_missing")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("use Authorization: Bearer <token>", code="token_missing")
    return decode_token(secret, token.strip())
