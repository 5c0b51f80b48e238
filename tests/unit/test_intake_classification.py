"""Severity and risk flags, from the shipped rules (data/classification.yaml)."""

from datetime import date

import pytest

from services.intake.domain import parties
from services.intake.domain.classification import Classification, Facts, parse_classification
from services.intake.domain.rules import RulesError
from services.intake.rulebook import DATA_DIR, read_yaml

RULES = parse_classification(read_yaml(DATA_DIR / "classification.yaml"))


def classify(text="邻里因漏水发生纠纷", category="neighbour", people=2, amount=None, ages=(), same=0, any_=0):
    return RULES.classify(Facts(category=category, text=text, people_involved=people, amount=amount, ages=ages,
                                same_matter_earlier=same, any_matter_earlier=any_))


def test_an_ordinary_dispute_is_general_with_no_flags():
    result = classify()
    assert (result.severity, result.risk_flags, result.immediate_red) == ("general", (), False)


def test_the_wage_arrears_walk_in_is_a_mass_dispute_over_a_large_amount():
    result = classify("某建筑公司拖欠90名农民工工资约180万元，多次讨薪未果，情绪激动。", "labour", 90, 1_800_000)
    assert result.risk_flags == ("mass_dispute", "large_amount")
    assert result.severity == "major" and not result.immediate_red
    assert "90" in result.reasons["mass_dispute"]


@pytest.mark.parametrize("people,flagged", [(9, False), (10, True), (300, True)])
def test_mass_dispute_threshold(people, flagged):
    assert ("mass_dispute" in classify(people=people).risk_flags) is flagged


@pytest.mark.parametrize("category,amount,flagged", [
    ("contract", 999_999, False), ("contract", 1_000_000, True),
    ("labour", 499_999, False), ("labour", 500_000, True), ("consumer", 200_000, True), ("lending", None, False),
])
def test_large_amount_threshold_per_category(category, amount, flagged):
    assert ("large_amount" in classify(category=category, amount=amount).risk_flags) is flagged


@pytest.mark.parametrize("text,flag", [
    ("当事人扬言要跳楼", "self_harm_threat"),
    ("申请人称再不解决就自杀", "self_harm_threat"),
    ("被申请人说要和对方同归于尽", "violence_threat"),
    ("工人表示要去拼命", "violence_threat"),
    ("工人讨薪未果，准备明天到政府门口聚集", "gathering_threat"),
    ("组织人员拉横幅", "gathering_threat"),
])
def test_threats_in_the_text_are_critical_and_call_for_immediate_red(text, flag):
    result = classify(text)
    assert flag in result.risk_flags
    assert result.severity == "critical" and result.immediate_red


def test_wage_claims_alone_or_a_gathering_alone_are_not_a_gathering_threat():
    assert "gathering_threat" not in classify("多次讨薪未果", "labour").risk_flags
    assert "gathering_threat" not in classify("小区居民聚集讨论停车位").risk_flags


def test_a_negated_threat_does_not_count_but_another_mention_does():
    assert classify("经了解当事人没有自杀倾向").risk_flags == ()
    assert "self_harm_threat" in classify("没有自杀倾向，但扬言跳楼").risk_flags
    assert "self_harm_threat" in classify("并未报警，扬言自杀").risk_flags


@pytest.mark.parametrize("text", [
    "申请人多年来在工地拼命工作，却被拖欠工资",
    "他每天拼命干活养家",
    "商家打出跳楼价促销，实际商品与宣传不符",
    "店铺跳楼大甩卖后拒绝退货",
])
def test_everyday_phrases_containing_a_threat_keyword_are_not_threats(text):
    result = classify(text)
    assert "violence_threat" not in result.risk_flags and "self_harm_threat" not in result.risk_flags
    assert not result.immediate_red


@pytest.mark.parametrize("text,flag", [
    ("申请人多年来拼命工作被拖欠工资，扬言要去拼命", "violence_threat"),
    ("被拖欠工资，说要跟老板拼命", "violence_threat"),
    ("商家说是跳楼价，申请人扬言要跳楼", "self_harm_threat"),
])
def test_a_threat_next_to_an_excluded_phrase_still_counts(text, flag):
    result = classify(text)
    assert flag in result.risk_flags and result.immediate_red
    assert result.reasons[flag] == "mentions " + ("拼命" if flag == "violence_threat" else "跳楼")


def test_an_exclusion_applies_only_to_the_occurrence_it_covers():
    rules = parse_classification({"rules": [{"flag": "t", "kind": "keywords", "severity": "critical",
                                             "any": ["拼命"]}], "exclusions": {"拼命": ["拼命工作", "玩命拼命"]}})
    assert not rules.mentions("拼命工作", "拼命")
    assert not rules.mentions("他玩命拼命", "拼命")       # the keyword in the middle of its phrase
    assert rules.mentions("拼命工作不如去拼命", "拼命")
    assert rules.mentions("拼命", "拼命")


def test_vulnerable_parties_by_age_from_the_id_number_or_by_words():
    assert "vulnerable_party" in classify(ages=(72,)).risk_flags
    assert "vulnerable_party" in classify(ages=(16,)).risk_flags
    assert "vulnerable_party" not in classify(ages=(45, 18)).risk_flags
    assert "vulnerable_party" in classify("申请人系残疾人，生活困难").risk_flags


def test_repeat_petitioners_by_history():
    assert "repeat_petitioner" in classify(same=1, any_=1).risk_flags
    assert "repeat_petitioner" in classify(same=0, any_=3).risk_flags
    assert "repeat_petitioner" not in classify(same=0, any_=2).risk_flags


def test_domestic_violence_cases_are_major_by_category():
    result = classify("丈夫多次殴打妻子", "domestic_violence")
    assert result.risk_flags == ("domestic_violence",) and result.severity == "major"


def test_severity_is_the_highest_raised_and_flags_keep_rule_order():
    result = classify("90名工人讨薪，扬言跳楼", "labour", 90, 2_000_000)
    assert result.severity == "critical"
    assert result.risk_flags == ("self_harm_threat", "mass_dispute", "large_amount")


def test_a_merge_keeps_the_higher_severity_and_every_flag():
    file = Classification("major", ("mass_dispute",), {"mass_dispute": "90"})
    report = Classification("critical", ("self_harm_threat", "mass_dispute"), {"self_harm_threat": "跳楼"})
    combined = file.combined(report)
    assert combined.severity == "critical" and combined.immediate_red
    assert combined.risk_flags == ("mass_dispute", "self_harm_threat")


def test_ages_come_from_resident_id_numbers_only():
    day = date(2026, 11, 23)
    assert parties.ages([{"kind": "person", "id_number": "140106195001011234"}], day) == [76]
    assert parties.ages([{"kind": "person", "id_number": "14010650010112"}], day) == []  # not an ID
    assert parties.ages([{"kind": "person", "id_number": "140106500101123"}], day) == [76]  # 15-digit
    assert parties.ages([{"kind": "person", "id_number": "140106201013451234"}], day) == []  # no 13th month
    assert parties.ages([{"kind": "organisation", "id_number": "91140100MA0KXXXX1X"}], day) == []
    assert parties.age_on(date(2008, 11, 24), day) == 17


@pytest.mark.parametrize("raw,message", [
    ({}, "missing rules"),
    ({"rules": [{"flag": "x", "kind": "vibes", "severity": "major"}]}, "kind must be one of"),
    ({"rules": [{"flag": "x", "kind": "people", "severity": "urgent"}]}, "severity must be one of"),
    ({"rules": [{"flag": "x", "kind": "people", "severity": "major", "min_people": 0}]}, "positive number"),
    ({"rules": [{"flag": "x", "kind": "keywords", "severity": "major"}]}, "needs `any` or `all_of`"),
    ({"rules": [{"flag": "x", "kind": "amount", "severity": "major", "min_amount": 5,
                 "by_category": {"pets": 1}}]}, "unknown categories"),
    ({"rules": [{"flag": "x", "kind": "category", "severity": "major", "categories": ["pets"]}]}, "categories"),
    ({"rules": [{"flag": "x", "kind": "keywords", "severity": "major", "any": ["拼命"]}],
      "exclusions": {"拼命": ["努力工作"]}}, "contain 拼命"),
    ({"rules": [{"flag": "x", "kind": "keywords", "severity": "major", "any": ["拼命"]}],
      "exclusions": {"跳楼": ["跳楼价"]}}, "not a keyword of any rule"),
    ({"rules": [{"flag": "x", "kind": "keywords", "severity": "major", "any": ["拼命"]}],
      "exclusions": ["拼命工作"]}, "expected a mapping"),
])
def test_bad_rule_data_is_refused_with_a_clear_message(raw, message):
    with pytest.raises(RulesError, match=message):
        parse_classification(raw)
