"""Personal numbers typed into a summary or description: recognised and masked."""

import pytest

from services.intake.domain.characters import fold
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


@pytest.mark.parametrize("text,expected", [
    # full-width digits and letters, as a Chinese IME types them
    ("电话１３８１２３４５６７８。", "电话138****5678。"),
    ("身份证１４０１０６１９８００１０１１２３Ｘ号", "身份证1401**********123X号"),
    ("身份证１１０１０５１９４９１２３１００２ｘ", "身份证1101**********002X"),
    ("座机（０３５１）７６５４３２１", "座机035****4321"),
    ("电话１３８　１２３４　５６７８", "电话138****5678"),
    ("电话１３８－１２３４－５６７８", "电话138****5678"),
    ("电话١٣٨١٢٣٤٥٦٧٨", "电话138****5678"),                       # other decimal digits too
    # mobiles grouped 3-4-4 with one space, dash or dot, or the first group in brackets
    ("电话138-1234-5678，", "电话138****5678，"),
    ("电话138.1234.5678", "电话138****5678"),
    ("电话(138)1234-5678", "电话138****5678"),
    ("电话（138）1234 5678", "电话138****5678"),
    ("电话138–1234–5678", "电话138****5678"),                         # en dashes
    ("手机(+86)138 1234 5678", "手机138****5678"),
    ("手机+86 138.1234.5678", "手机138****5678"),
    # ID numbers grouped 6-8-4 or 6-4-4-4
    ("身份证140106 19800101 123X", "身份证1401**********123X"),
    ("身份证140106-19800101-1234。", "身份证1401**********1234。"),
    ("身份证140106.1980.0101.1234", "身份证1401**********1234"),
    ("身份证110105 1949 1231 002X", "身份证1101**********002X"),
    # landline local parts grouped 3-4 or 4-4
    ("座机0351-765-4321", "座机035****4321"),
    ("座机010 6552 1234", "座机010****1234"),
    # two grouped numbers side by side are both numbers, not a chain
    ("电话138 1234 5678 139 8765 4321", "电话138****5678 139****4321"),
    ("2026-11-23 138 1234 5678 来电", "2026-11-23 138****5678 来电"),
])
def test_numbers_typed_in_other_forms_are_masked_too(text, expected):
    assert masked(text) == expected
    assert all(item.masked.isascii() for item in personal_numbers(text))


@pytest.mark.parametrize("text", [
    "欠薪12,000元", "欠薪１２，０００元", "欠薪12 000元",
    "于2026-11-23起拖欠", "于2026.11.23起拖欠", "于２０２６－１１－２３起拖欠", "于2026/11/23起拖欠",
    "共90人", "共９０人", "共 90 人，每人 12000 元",
    "案件编号140106-261201-LB-0001-J", "案件编号１４０１０６－２６１２０１－ＬＢ－０００１－Ｊ", "140106261201LB0001J",
    "警情号110-20261123-0457", "警情号１１０－２０２６１１２３－０４５７", "警情号 110 20261123 0457",
    "工号 1234 5678", "时间13:30-14:00",
    "卡号6222 0212 3456 7890 123",                       # a grouped number inside a chain of groups
    "身份证140106 20991231 1235",                          # a birth date in the future (and a wrong check)
    "面积120m²，①号楼",                                   # ² and ① are not digits of a number
    "电话138 - 1234 - 5678 是分机号",                      # not one separator between the groups
])
def test_ordinary_numbers_in_any_form_stay_as_written(text):
    assert masked(text) == text
    assert personal_numbers(text) == []


def test_folding_keeps_every_position():
    text = "（０３５１）７６５４３２１，Ｘ，１３８　１２３４－５６７８。"
    assert fold(text) == "(0351)7654321，X，138 1234-5678。"
    assert len(fold(text)) == len(text)


def test_several_numbers_in_one_text_are_all_masked_in_place():
    text = "王某（11010519491231002X，13812345678）与李某（0351-1234567）"
    found = personal_numbers(text)
    assert [item.kind for item in found] == ["id_number", "phone", "phone"]
    assert masked(text) == "王某（1101**********002X，138****5678）与李某（035****4567）"
    for number in ("11010519491231002X", "13812345678", "1234567"):
        assert number not in masked(text)
