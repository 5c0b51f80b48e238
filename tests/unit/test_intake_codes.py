"""一案一码: the code's format, its check character, and the local date it carries."""

from datetime import UTC, date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.common.auth import significant_prefix
from services.common.case_codes import CATEGORY_CODES, CODE_ALPHABET, InvalidCaseCode, check_character
from services.common.case_codes import canonical_case_code as parse_case_code
from services.intake.domain.codes import case_code, local_day
from services.intake.domain.divisions import on_same_line, scope_keys


def test_the_code_encodes_county_date_category_sequence_and_check():
    code = case_code("140106001002", date(2026, 11, 23), "labour", 42)
    county, day, category, sequence, check = code.split("-")
    assert (county, day, category, sequence) == ("140106", "261123", "LB", "0042")
    assert check == check_character("140106261123LB0042")
    assert parse_case_code(code) == code


def test_every_category_has_its_own_two_letter_code():
    assert len(set(CATEGORY_CODES.values())) == len(CATEGORY_CODES) == 16
    for category in CATEGORY_CODES:
        code = case_code("620102", date(2026, 1, 5), category, 1)
        assert parse_case_code(code) == code


def test_a_county_past_9999_cases_a_day_gets_a_five_digit_sequence():
    code = case_code("140106", date(2026, 11, 23), "labour", 10000)
    assert code.split("-")[3] == "10000"
    assert parse_case_code(code) == code


def test_codes_are_accepted_without_dashes_in_lower_case_and_with_spaces():
    code = case_code("140106", date(2026, 11, 23), "family", 7)
    assert parse_case_code(code.replace("-", "").lower()) == code
    assert parse_case_code(" " + code.replace("-", " ") + " ") == code


@given(sequence=st.integers(min_value=1, max_value=99999), position=st.integers(min_value=0, max_value=18),
       replacement=st.sampled_from(CODE_ALPHABET))
def test_any_single_mistyped_character_is_caught(sequence, position, replacement):
    code = case_code("140106", date(2026, 11, 23), "labour", sequence).replace("-", "")
    position = position % len(code)
    if code[position] == replacement:
        return
    typo = code[:position] + replacement + code[position + 1:]
    with pytest.raises(InvalidCaseCode):
        parse_case_code(typo)


def test_swapped_neighbouring_digits_are_caught():
    code = case_code("140106", date(2026, 11, 23), "labour", 42).replace("-", "")
    body = code[:-1]
    caught = total = 0
    for index in range(len(body) - 1):
        if body[index] == body[index + 1]:
            continue
        swapped = body[:index] + body[index + 1] + body[index] + body[index + 2:] + code[-1]
        total += 1
        try:
            parse_case_code(swapped)
        except InvalidCaseCode:
            caught += 1
    assert caught == total


@pytest.mark.parametrize("text", ["", "hello", "140106-261123-XX-0042-7", "14O106-261123-LB-0042-7",
                                  "140106-261123-LB-00A2-7", "１４０１０６２６１１２３LB00427"])
def test_malformed_codes_are_refused(text):
    with pytest.raises(InvalidCaseCode):
        parse_case_code(text)


def test_a_wrong_check_character_says_the_code_is_mistyped():
    code = case_code("140106", date(2026, 11, 23), "labour", 42)
    wrong = code[:-1] + ("0" if code[-1] != "0" else "1")
    with pytest.raises(InvalidCaseCode, match="mistyped"):
        parse_case_code(wrong)


def test_the_date_is_the_centres_local_day():
    # 17:30 UTC on 23 November is 01:30 on 24 November in Taiyuan
    assert local_day(datetime(2026, 11, 23, 17, 30, tzinfo=UTC)) == date(2026, 11, 24)
    assert local_day(datetime(2026, 11, 23, 15, 59, tzinfo=UTC)) == date(2026, 11, 23)


@pytest.mark.parametrize("scope,code,covered", [
    ("140100", "140106", True), ("140100", "140106001002", True), ("140106", "140106001", True),
    ("140106001000", "140106001002", True), ("140106001", "140106002001", False), ("140105", "140106", False),
    ("140000", "140181", True), ("620100", "140106", False), ("140106001002", "140106001", False),
])
def test_scope_keys_cover_exactly_what_a_token_scope_covers(scope, code, covered):
    from services.common import auth

    assert auth.covers(scope, code) is covered
    assert (significant_prefix(scope) in scope_keys(code)) is covered
    assert significant_prefix(scope) == auth.significant_prefix(scope)


def test_places_on_the_same_line_contain_one_another():
    assert on_same_line("140106", "140106001002")
    assert on_same_line("140106001002", "140106001")
    assert not on_same_line("140106001002", "140106002001")
    assert not on_same_line("140106", "140105")


@given(code=st.from_regex(r"\A[1-6][0-9](00|0[1-9]|[1-9][0-9])(00|0[1-9]|[1-9][0-9])((000|00[1-9]|[0-9]{3})"
                          r"(000|[0-9]{3})?)?\Z"),
       scope=st.sampled_from(["140000", "140100", "140106", "140106001", "140106001000", "140106001002", "620102"]))
def test_the_scope_rule_agrees_with_the_token_rule_for_any_division(code, scope):
    from services.common import auth

    assert significant_prefix(code) == auth.significant_prefix(code)
    assert (significant_prefix(scope) in scope_keys(code)) is auth.covers(scope, code)
