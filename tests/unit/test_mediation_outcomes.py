"""Outcome rules: four distinct types, once per file, their events, and the agreement document."""

import io
from datetime import UTC, date, datetime

import pytest
from marshmallow import ValidationError
from pypdf import PdfReader

from services.common.contracts import make_envelope, validate_envelope
from services.mediation.document import content_hash, render_pdf, render_text
from services.mediation.domain import outcomes
from services.mediation.schemas import OutcomeSchema

CASE = {"case_id": "c1", "case_code": "140106-261123-FM-0001-Y", "jurisdiction": "140106", "category": "family"}
AGREEMENT = {"type": "agreement", "terms": ["双方自愿离婚。", "婚生子由王建国抚养。"], "amount": 50000,
             "performance_deadline": "2026-12-31", "confirmation_requested": True}
FAILED = {"type": "failed", "reason": "refused", "refusing_parties": ["p-2"], "wants_litigation": True,
          "undisputed_facts": "双方于2015年登记结婚。"}


RECORDED_AT = datetime(2026, 11, 25, 2, 30, tzinfo=UTC)


def session(session_id, status, parties, purpose="mediation", day=25):
    return {"_id": session_id, "kind": "on_site", "purpose": purpose, "status": status, "mediator_id": "med-1",
            "starts_at": datetime(2026, 11, day, 1, tzinfo=UTC), "ends_at": datetime(2026, 11, day, 2, tzinfo=UTC),
            "attendance": {"parties": parties} if status in ("held", "no_show") else None}


SESSIONS = [
    session("ses-1", "held", [{"party_id": "p-1", "role": "applicant", "present": True},
                              {"party_id": "p-2", "role": "respondent", "present": False},
                              {"party_id": None, "role": "third_party", "present": True}]),
    session("ses-2", "no_show", [{"party_id": "p-2", "role": "respondent", "present": False}], day=26),
    session("ses-3", "held", [{"party_id": "p-1", "role": "applicant", "present": True}], purpose="counselling"),
    session("ses-4", "cancelled", []),
    session("ses-5", "scheduled", [], day=27),
]


def load(body):
    return OutcomeSchema().load(body)


@pytest.mark.parametrize("body,field", [
    ({"type": "agreement", "confirmation_requested": False}, "terms"),
    ({"type": "agreement", "terms": ["x"]}, "confirmation_requested"),
    ({**FAILED, "terms": ["不能混入协议条款"]}, "terms"),
    ({"type": "failed", "reason": "refused"}, "wants_litigation"),
    ({"type": "failed", "reason": "bored", "wants_litigation": False}, "reason"),
    ({"type": "withdrawn"}, "reason"),
    ({"type": "withdrawn", "reason": "applicant_withdrew", "amount": 3}, "amount"),
    ({"type": "partial", "terms": ["x"], "confirmation_requested": False}, "unresolved"),
    ({"type": "settled"}, "type"),
])
def test_each_outcome_type_takes_its_own_fields_only(body, field):
    with pytest.raises(ValidationError) as info:
        load(body)
    assert field in info.value.messages


def test_an_outcome_is_recorded_once_and_an_agreement_needs_a_held_session():
    with pytest.raises(outcomes.OutcomeRefused, match="already has its outcome"):
        outcomes.check_can_conclude(has_outcome=True, outcome_type="failed", held_mediation_sessions=2)
    for kind in ("agreement", "partial"):
        with pytest.raises(outcomes.OutcomeRefused, match="held"):
            outcomes.check_can_conclude(has_outcome=False, outcome_type=kind, held_mediation_sessions=0)
        outcomes.check_can_conclude(has_outcome=False, outcome_type=kind, held_mediation_sessions=1)
    # a party who cannot be reached fails the mediation before any session; withdrawal needs none either
    outcomes.check_can_conclude(has_outcome=False, outcome_type="failed", held_mediation_sessions=0)
    outcomes.check_can_conclude(has_outcome=False, outcome_type="withdrawn", held_mediation_sessions=0)


def test_inputs_checked_against_today_and_the_reason():
    with pytest.raises(outcomes.OutcomeInputError) as info:
        outcomes.check_outcome_input(load({**AGREEMENT, "performance_deadline": "2026-11-01"}), date(2026, 11, 24))
    assert info.value.field == "performance_deadline"
    outcomes.check_outcome_input(load(AGREEMENT), date(2026, 11, 24))
    with pytest.raises(outcomes.OutcomeInputError) as info:
        outcomes.check_outcome_input(load({"type": "failed", "reason": "unreachable", "wants_litigation": False}),
                                     date(2026, 11, 24))
    assert info.value.field == "unreachable_parties"
    outcomes.check_outcome_input(load({"type": "failed", "reason": "no_agreement", "wants_litigation": False}),
                                 date(2026, 11, 24))


@pytest.mark.parametrize("body,event_type,expected", [
    (AGREEMENT, "agreement_reached", {"partial": False, "amount": 50000.0, "performance_deadline": "2026-12-31",
                                      "confirmation_requested": True, "agreement_hash": "ab" * 32}),
    ({**AGREEMENT, "type": "partial", "unresolved": ["财产分割"]}, "agreement_reached", {"partial": True}),
    (FAILED, "mediation_failed", {"reason": "refused", "wants_litigation": True,
                                  "undisputed_facts": "双方于2015年登记结婚。"}),
    ({"type": "withdrawn", "reason": "settled_privately"}, "mediation_withdrawn", {"reason": "settled_privately"}),
])
def test_each_outcome_emits_its_own_event_within_the_contract(body, event_type, expected):
    kind, data = outcomes.event_for(load(body), court_referred=True, recorded_at=RECORDED_AT, mediator_id="med-1",
                                    sessions=SESSIONS, agreement_id="agr-1", agreement_hash="ab" * 32)
    assert kind == event_type
    assert expected.items() <= data.items() and data["court_referred"] is True
    envelope = make_envelope("mediation", kind, case=CASE, data=data)  # producers are strict
    assert validate_envelope(envelope)["court_referred"] is True


def test_an_agreement_sends_the_terms_the_document_numbers_with_who_mediated_and_when():
    body = load({**AGREEMENT, "terms": ["  双方自愿离婚。\u3000", "婚生子由王建国抚养。"]})
    _, data = outcomes.event_for(body, court_referred=False, recorded_at=RECORDED_AT, mediator_id="med-1",
                                 agreement_id="agr-1", agreement_hash="ab" * 32)
    assert data["terms"] == ["双方自愿离婚。", "婚生子由王建国抚养。"]
    assert data["mediator_id"] == "med-1" and data["agreed_at"] == "2026-11-25T02:30:00Z"
    text = render_text(outcomes.agreement_context(
        case_code=CASE["case_code"], agreement_no="x", parties=outcomes.parties_on_agreement(CONTACTS),
        outcome=body, mediator_name="张淑芬", organisation=None, concluded_on=date(2026, 11, 25)))
    numbered = [line for line in text.splitlines() if line[:2] in ("一、", "二、")]
    assert numbered == [f"{outcomes.chinese_numeral(n)}、{term}" for n, term in enumerate(data["terms"], 1)]


@pytest.mark.parametrize("terms", [["双方自愿离婚。\n二、另有约定"], ["   "], ["a\tb"], ["支付\u202e元0005"],
                                   ["支付\u200b5000元"], ["\ue000"]])
def test_a_term_is_one_printed_line(terms):
    with pytest.raises(ValidationError) as info:
        load({**AGREEMENT, "terms": terms})
    assert "terms" in info.value.messages


def test_a_failure_carries_the_mediation_record_by_party_id():
    _, data = outcomes.event_for(load({**FAILED, "refusing_parties": ["p-2", "p-2"], "unreachable_parties": ["p-3"]}),
                                 court_referred=True, recorded_at=RECORDED_AT, mediator_id="med-1", sessions=SESSIONS)
    assert data["failed_at"] == "2026-11-25T02:30:00Z" and data["mediator_id"] == "med-1"
    assert data["refusing_parties"] == ["p-2"] and data["unreachable_parties"] == ["p-3"]
    # held and missed mediation sessions only: not counselling, not cancelled, not still ahead
    assert data["sessions"] == [
        {"session_id": "ses-1", "kind": "on_site", "purpose": "mediation", "starts_at": "2026-11-25T01:00:00Z",
         "ends_at": "2026-11-25T02:00:00Z", "mediator_id": "med-1", "attended": ["p-1"], "absent": ["p-2"]},
        {"session_id": "ses-2", "kind": "on_site", "purpose": "mediation", "starts_at": "2026-11-26T01:00:00Z",
         "ends_at": "2026-11-26T02:00:00Z", "mediator_id": "med-1", "attended": [], "absent": ["p-2"]},
    ]
    validate_envelope(make_envelope("mediation", "mediation_failed", case=CASE, data=data), strict=True)
    _, nothing_held = outcomes.event_for(load(FAILED), court_referred=False, recorded_at=RECORDED_AT,
                                         mediator_id=None)
    assert nothing_held["sessions"] == [] and nothing_held["mediator_id"] is None


@pytest.mark.parametrize("changes,field", [
    ({"reason": "refused", "refusing_parties": None, "unreachable_parties": ["p-3"]}, "refusing_parties"),
    ({"reason": "unreachable", "refusing_parties": ["p-2"]}, "unreachable_parties"),
    ({"refusing_parties": ["p-2"], "unreachable_parties": ["p-2"]}, "refusing_parties"),
])
def test_a_failure_names_the_parties_its_reason_is_about(changes, field):
    with pytest.raises(outcomes.OutcomeInputError) as info:
        outcomes.check_outcome_input(load({**FAILED, **changes}), date(2026, 11, 24))
    assert info.value.field == field


def test_party_ids_not_names_go_into_a_failure():
    with pytest.raises(ValidationError) as info:
        load({**FAILED, "refusing_parties": ["李秀英"]})
    assert "refusing_parties" in info.value.messages


def test_the_stored_outcome_keeps_only_what_was_said():
    kept = outcomes.stored_outcome(load(FAILED), recorded_at=datetime(2026, 11, 24, tzinfo=UTC),
                                   recorded_by="u1", mediator_id="m1")
    assert "terms" not in kept and kept["reason"] == "refused" and kept["mediator_id"] == "m1"


CONTACTS = [
    {"party_id": "p-3", "role": "third_party", "kind": "organisation", "name": "某社区居委会", "address": None},
    {"party_id": "p-2", "role": "respondent", "kind": "person", "name": "李秀英", "address": None},
    {"party_id": "p-1", "role": "applicant", "kind": "person", "name": "王建国", "address": "太原市迎泽区桥东街12号"},
    {"party_id": "p-4", "role": "respondent", "kind": "person", "name": "  ", "address": None},
]


def test_parties_appear_as_intake_holds_them_applicants_first():
    parties = outcomes.parties_on_agreement(CONTACTS)
    assert [(p.role_label, p.name) for p in parties] == [("申请人", "王建国"), ("被申请人", "李秀英"),
                                                          ("第三人", "某社区居委会")]
    with pytest.raises(outcomes.AgreementRefused):
        outcomes.parties_on_agreement([])


def test_chinese_numbers_and_dates():
    assert [outcomes.chinese_numeral(n) for n in (1, 9, 10, 11, 20, 35, 99, 100)] == [
        "一", "九", "十", "十一", "二十", "三十五", "九十九", "100"]
    assert outcomes.chinese_date(date(2026, 1, 5)) == "2026年1月5日"
    assert outcomes.yuan(1800000) == "1,800,000.00"


def agreement_text(**changes):
    body = load({**AGREEMENT, "type": "partial", "unresolved": ["房产分割"], **changes})
    context = outcomes.agreement_context(
        case_code=CASE["case_code"], agreement_no=CASE["case_code"] + "-XY",
        parties=outcomes.parties_on_agreement(CONTACTS), outcome=body, mediator_name="张淑芬",
        organisation="迎泽区婚姻家庭纠纷人民调解委员会", concluded_on=date(2026, 11, 24))
    return render_text(context)


def test_the_agreement_text_has_everything_the_document_must_carry():
    text = agreement_text()
    assert text.splitlines()[0] == "调解协议书（部分达成）"
    for expected in ("案件编号：140106-261123-FM-0001-Y", "申请人：王建国，住所：太原市迎泽区桥东街12号",
                     "被申请人：李秀英", "第三人：某社区居委会", "一、双方自愿离婚。", "二、婚生子由王建国抚养。",
                     "人民币50,000.00元", "2026年12月31日前履行完毕", "一、房产分割", "申请司法确认",
                     "调解员：张淑芬", "调解组织：迎泽区婚姻家庭纠纷人民调解委员会", "日期：2026年11月24日"):
        assert expected in text, expected


def test_the_pdf_reads_back_and_its_hash_identifies_it():
    text = agreement_text()
    document = render_pdf(text, subject=CASE["case_code"])
    assert document.startswith(b"%PDF")
    read = "".join(page.extract_text() for page in PdfReader(io.BytesIO(document)).pages)
    for expected in ("140106-261123-FM-0001-Y", "王建国", "李秀英", "双方自愿离婚", "婚生子由王建国抚养"):
        assert expected in read
    assert content_hash(render_pdf(text, subject=CASE["case_code"])) == content_hash(document)
    changed = render_pdf(agreement_text(amount=60000), subject=CASE["case_code"])
    assert content_hash(changed) != content_hash(document)


def test_a_long_agreement_flows_onto_more_pages():
    text = agreement_text(terms=[f"第{n}项约定：" + "双方应当相互尊重、和睦相处。" * 6 for n in range(40)])
    reader = PdfReader(io.BytesIO(render_pdf(text, subject=CASE["case_code"])))
    assert len(reader.pages) > 1
    assert "签名" in reader.pages[-1].extract_text()
