"""Personal numbers typed into a summary or description: recognised and masked."""

import pytest

from services.intake.domain.freetext import id_check_character, is_id_18, masked, personal_numbers


def test_the_check_character_follows_gb_11643():
    assert id_check_character("11010519491231002") == "X"      # the standard's own example
    assert id_check_character("44052419800101001") == "3"
    assert is_id_18("11010519491231002X") and is_id_18("11010519491231002x")
    assert not is_id_18("110105194912310021")


@pytest.mark.parametrize("text,expected", [
    ("申请人身份证号11010519491231002X，要求退款", "申请人身份证号1101**********002X，要求退款"),
    ("身份证440524198001010013。", "身份证4405**********0013。"),
    # a mistyped check character still names the person: the birth date gives it away
    ("身份证140106198001011234", "身份证1401**********1234"),
    ("老身份证140106800101123", "老身份证1401*******1123"),
])
def test_resident_id_numbers_are_masked(text, expected):
    assert masked(text) == expected


@pytest.mark.parametrize("text,expected", [
    ("联系电话13812345678", "联系电话138****5678"),
    ("电话：138 1234 5678，", "电话：138****5678，"),
    ("手机+86-138-1234-5678", "手机138****5678"),
    ("座机0351-1234567", "座机035****4567"),
    ("座机(0351)12345678转人事", "座机035*****5678转人事"),
    ("座机（010）12345678", "座机010****5678"),
    ("打03517654321找李经理", "打035****4321找李经理"),
])
def test_mobile_and_landline_numbers_are_masked(text, expected):
    assert masked(text) == expected


@pytest.mark.parametrize("text", [
    "拖欠工资共计1800000元",                    # an amount
    "于2026年11月23日起拖欠，工号12345678",       # a date and a short number
    "银行流水号6222021234567890123456",           # a long run of digits is not an ID or a phone
    "编号123456789012345678",                     # 18 digits, neither a valid check nor a birth date
    "案号(2026)晋0106民诉前调1号",
    "没有任何号码",
])
def test_other_numbers_stay_as_written(text):
    assert masked(text) == text
    assert personal_numbers(text) == []


def test_several_numbers_in_one_text_are_all_masked_in_place():
    text = "王某（11010519491231002X，13812345678）与李某（0351-1234567）"
    found = personal_numbers(text)
    assert [item.kind for item in found] == ["id_number", "phone", "phone"]
    assert masked(text) == "王某（1101**********002X，138****5678）与李某（035****4567）"
    for number in ("11010519491231002X", "13812345678", "1234567"):
        assert number not in masked(text)
