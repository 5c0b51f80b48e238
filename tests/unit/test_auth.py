import time

import jwt
import pytest

from services.common.auth import Principal, covers, decode_token, mint_token, principal_from_header
from services.common.errors import Forbidden, Unauthorized

SECRET = "s" * 40


def principal(jurisdictions, roles=("dispatcher",)):
    return decode_token(SECRET, mint_token(SECRET, sub="u1", roles=roles, jurisdictions=jurisdictions,
                                           agency="centre"))


@pytest.mark.parametrize("scope,code,expected", [
    ("140100", "140106", True),          # the city covers its districts
    ("140100", "140106001", True),       # ... and their townships
    ("140100", "140106001002", True),    # ... and villages
    ("140100", "140100", True),
    ("140106", "140106", True),
    ("140106", "140106004", True),
    ("140106", "140105", False),         # one county cannot see another
    ("140106", "140105001", False),
    ("140106", "140100", False),         # nor the city above it
    ("140106", "1401060", True),
    ("140000", "140181", True),          # the province covers its cities
    ("140000", "620102", False),
    ("620102", "620104", False),
    ("140106001", "140106001005", True),
    ("140106001", "140106002005", False),
])
def test_jurisdiction_coverage_respects_zero_padding(scope, code, expected):
    assert covers(scope, code) is expected


def test_a_county_token_cannot_see_another_county():
    yingze = principal(["140106"])
    assert yingze.covers("140106001")
    assert not yingze.covers("140105")
    with pytest.raises(Forbidden):
        yingze.require_jurisdiction("620102")


def test_a_token_round_trips_its_claims():
    p = principal(["140106", "620102"], roles=("mediator", "dispatcher"))
    assert p.sub == "u1" and p.agency == "centre"
    assert p.roles == {"mediator", "dispatcher"}
    assert p.has_role("mediator") and not p.has_role("court")


def test_forged_expired_and_missing_tokens_are_refused():
    good = mint_token(SECRET, sub="u", roles=["admin"], jurisdictions=["140100"], agency="a")
    with pytest.raises(Unauthorized) as info:
        decode_token("another-secret-another-secret-another", good)
    assert info.value.code == "token_invalid"
    expired = mint_token(SECRET, sub="u", roles=["admin"], jurisdictions=["140100"], agency="a",
                         ttl_seconds=10, now=time.time() - 100)
    with pytest.raises(Unauthorized) as info:
        decode_token(SECRET, expired)
    assert info.value.code == "token_expired"
    unsigned = jwt.encode({"sub": "u", "roles": ["admin"], "jurisdictions": ["140100"],
                           "exp": time.time() + 60}, key="", algorithm="none")
    with pytest.raises(Unauthorized):
        decode_token(SECRET, unsigned)
    for header in (None, "", "Basic abc", "Bearer "):
        with pytest.raises(Unauthorized):
            principal_from_header(SECRET, header)


def test_unknown_roles_and_malformed_codes_cannot_be_minted():
    with pytest.raises(ValueError, match="unknown roles"):
        mint_token(SECRET, sub="u", roles=["superuser"], jurisdictions=["140100"], agency="a")
    with pytest.raises(ValueError, match="division codes"):
        mint_token(SECRET, sub="u", roles=["admin"], jurisdictions=["1401"], agency="a")


def test_a_county_token_oversees_nothing_below_others_but_sees_the_centres_above_it():
    county = Principal(sub="yz", agency="140106:centre", roles=frozenset({"dispatcher"}), jurisdictions=("140106",))
    assert county.covers_or_oversees("140106001001")  # its own community
    assert county.covers_or_oversees("140100") and county.covers_or_oversees("140000")  # its city, its province
    assert not county.covers_or_oversees("140105")  # a neighbouring county
    assert not county.covers_or_oversees("620100")
