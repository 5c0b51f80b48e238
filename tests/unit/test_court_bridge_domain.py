"""court_bridge's rules without I/O: deadlines, screening and idempotency of a batch, the
confirmation and filing state machines, fast-track rules, retries."""

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.court_bridge.domain import confirmation as conf
from services.court_bridge.domain import delivery, filing
from services.court_bridge.domain import referrals as refs
from services.court_bridge.domain.calendar import days_after, end_of_local_day, local_date
from services.court_bridge.domain.codes import InvalidCaseCode, canonical_case_code
from services.court_bridge.domain.mediation_record import mediation_record, record_of_failure
from services.court_bridge.domain.model import ReferenceDataError, build_reference
from services.court_bridge.reference import DATA, load_reference, read_yaml
from services.court_bridge.simulator import CourtSimulator

REFERENCE = load_reference({})
COURT = REFERENCE.court("140106:court")
ITEM = {"channel": "court_referral", "channel_ref": "R-1", "jurisdiction": "140106003", "category": "lending",
        "cause": "private_lending", "people_involved": 2, "amount": 30000.0}


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


# -- deadlines ------------------------------------------------------------------------------
def test_a_deadline_ends_with_the_local_day_whatever_the_hour():
    late_evening = utc(2026, 11, 1, 15, 50)  # 23:50 on 1 November in Asia/Shanghai
    assert local_date(late_evening).isoformat() == "2026-11-01"
    assert days_after(late_evening, 30) == utc(2026, 12, 1, 16, 0)  # 24:00 on 1 December, local
    just_after_midnight = utc(2026, 11, 1, 16, 5)  # 00:05 on 2 November, local
    assert days_after(just_after_midnight, 30) == utc(2026, 12, 2, 16, 0)


@given(st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2035, 1, 1), timezones=st.just(UTC)),
       st.integers(min_value=1, max_value=90))
def test_a_deadline_gives_at_least_the_days_and_less_than_one_more(start, days):
    deadline = days_after(start, days)
    assert timedelta(days=days) < deadline - start <= timedelta(days=days + 1)
    assert deadline == end_of_local_day(local_date(deadline - timedelta(seconds=1)))


def test_a_referral_has_the_courts_period_by_default_thirty_days():
    assert COURT.referral_days == 30
    assert refs.referral_deadline(utc(2026, 11, 23, 2), COURT) == utc(2026, 12, 23, 16)


def open_referral(**changes) -> dict:
    referral = {"_id": "140106:court|R-1", "referral_id": "R-1", "court_id": COURT.court_id, "state": refs.OPEN,
                "case_code": "140106-261123-LD-0001-X", "received_at": utc(2026, 11, 23, 2),
                "deadline": utc(2026, 12, 23, 16), "extended_days": 0}
    return {**referral, **changes}


def test_the_period_is_extended_within_the_rules_only():
    now = utc(2026, 12, 20)
    extension = refs.extend_deadline(open_referral(), 10, REFERENCE, now)
    assert extension.deadline == utc(2027, 1, 2, 16) and extension.total_days == 10
    with pytest.raises(refs.RuleViolation, match="in all"):
        refs.extend_deadline(open_referral(extended_days=25), 10, REFERENCE, now)
    with pytest.raises(refs.RuleViolation, match="1 to 30"):
        refs.extend_deadline(open_referral(), 31, REFERENCE, now)
    with pytest.raises(refs.RuleViolation, match="already ended"):
        refs.extend_deadline(open_referral(), 5, REFERENCE, utc(2026, 12, 24))
    with pytest.raises(refs.RuleViolation, match="concluded"):
        refs.extend_deadline(open_referral(state=refs.CONCLUDED), 5, REFERENCE, now)


# -- the batch: screening and idempotency ----------------------------------------------------
SCREENED_AT = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


def screen(**changes):
    return refs.screen_item(0, {**ITEM, **changes}, COURT, REFERENCE, lambda code: code.startswith("140106"),
                            SCREENED_AT)


@pytest.mark.parametrize("changes,reason", [
    ({}, None),
    ({"cause": None}, None),
    ({"channel": "walk_in"}, "not_a_court_referral"),
    ({"category": "other", "cause": None}, "category_not_suitable"),
    ({"category": "domestic_violence", "cause": None}, "category_not_suitable"),
    ({"cause": "murder"}, "cause_not_suitable"),
    ({"cause": "inheritance"}, "cause_category_mismatch"),
    ({"jurisdiction": "140105"}, "outside_court_jurisdiction"),
    ({"referred_at": SCREENED_AT - timedelta(days=29)}, None),
    ({"referred_at": SCREENED_AT + timedelta(minutes=5)}, None),      # the court's clock runs a little ahead
    ({"referred_at": SCREENED_AT + timedelta(hours=1)}, "referred_in_future"),
    ({"referred_at": SCREENED_AT - timedelta(days=31)}, "period_over"),
])
def test_each_item_is_screened_on_its_own(changes, reason):
    assert screen(**changes).reason == reason


def test_an_item_outside_the_tokens_scope_is_refused():
    verdict = refs.screen_item(0, ITEM, COURT, REFERENCE, lambda code: False, SCREENED_AT)
    assert verdict.reason == "jurisdiction_forbidden"


def test_a_court_refers_only_its_own_categories(tmp_path):
    courts = read_yaml(DATA / "courts.yaml")
    courts["courts"][1]["categories"] = ["family", "labour"]
    reference = build_reference(courts, read_yaml(DATA / "causes.yaml"), read_yaml(DATA / "rules.yaml"))
    court = reference.court("140106:court")
    verdict = refs.screen_item(0, ITEM, court, reference, lambda code: True, SCREENED_AT)
    assert verdict.reason == "category_not_referred"


def test_a_referral_id_repeated_in_one_batch_is_a_duplicate_and_keys_are_per_court():
    screened = [refs.Screened(0, "R-1"), refs.Screened(1, "R-2"), refs.Screened(2, "R-1"),
                refs.Screened(3, "R-3", reason="category_not_suitable"), refs.Screened(4, "R-3")]
    marked = refs.mark_repeats(screened)
    assert [entry.candidate for entry in marked] == [True, True, False, False, True]
    assert marked[2].repeated and not marked[3].repeated
    assert refs.referral_key("140106:court", "R-1") != refs.referral_key("140105:court", "R-1")


SESSIONS = [
    {"session_id": "s-2", "kind": "video", "purpose": "mediation", "starts_at": utc(2026, 11, 28, 2),
     "ends_at": utc(2026, 11, 28, 3), "mediator_id": "m-7", "attended": ["p-1", "p-2"], "absent": []},
    {"session_id": "s-1", "kind": "on_site", "purpose": "mediation", "starts_at": utc(2026, 11, 25, 2),
     "ends_at": utc(2026, 11, 25, 3), "mediator_id": "m-7", "attended": ["p-1"], "absent": ["p-2"]},
]
FAILED = {"reason": "分歧较大", "undisputed_facts": "借款金额无异议", "failed_at": utc(2026, 11, 30, 8),
          "mediator_id": "m-7", "sessions": SESSIONS, "unreachable_parties": [], "refusing_parties": ["p-2"]}


def test_the_mediation_record_is_what_mediation_reported():
    reported_at = utc(2026, 12, 1, 9)  # the event came a day later: the record keeps mediation's time
    record = mediation_record(FAILED, reported_at)
    assert record["ended_at"] == utc(2026, 11, 30, 8) and record["complete"] and record["note"] is None
    assert [session["session_id"] for session in record["sessions"]] == ["s-1", "s-2"]  # in order of time
    assert record["sessions"][0]["absent"] == ["p-2"] and record["sessions"][1]["attended"] == ["p-1", "p-2"]
    assert (record["mediator_id"], record["refusing_parties"], record["unreachable_parties"]) == ("m-7", ["p-2"], [])
    assert (record["result"], record["reason"]) == ("调解不成", "分歧较大")
    assert record["undisputed_facts"] == "借款金额无异议"


def test_an_older_mediation_without_the_record_gets_a_record_that_says_so():
    reported_at = utc(2026, 12, 1, 9)
    record = mediation_record({"reason": "分歧较大", "undisputed_facts": None}, reported_at)
    assert record["ended_at"] == reported_at and not record["complete"]
    assert "未提供调解过程记录" in record["note"] and record["sessions"] == [] and record["mediator_id"] is None
    # a failure stored before records were kept is read the same way, dated by when it failed
    stored = {"reason": "分歧较大", "undisputed_facts": "x", "failed_at": utc(2026, 11, 2)}
    assert record_of_failure(stored)["ended_at"] == utc(2026, 11, 2) and not record_of_failure(stored)["complete"]
    assert record_of_failure({**stored, "record": {"complete": True}}) == {"complete": True}
    assert record_of_failure(None) is None


def test_the_feedback_carries_the_outcome_and_what_the_court_needs():
    referral = open_referral()
    failed_at = utc(2026, 12, 1)
    details = refs.failure_details(FAILED, referral, mediation_record(FAILED, failed_at))
    message = refs.feedback(referral, refs.FAILED, details, failed_at)
    assert message["outcome"] == "failed" and message["referral_id"] == "R-1"
    assert message["undisputed_facts"] == "借款金额无异议"
    assert message["mediation_record"]["result"] == "调解不成" and len(message["mediation_record"]["sessions"]) == 2
    assert message["mediation_record"]["referred_at"] == referral["received_at"]
    agreed_at = utc(2026, 11, 30)
    agreement = refs.agreement_details({"agreement_id": "A1", "agreement_hash": "ab" * 32,
                                        "terms": ["乙方于12月31日前还款1万元"], "mediator_id": "m-7"}, agreed_at)
    told = refs.feedback(referral, refs.AGREEMENT, agreement, agreed_at)
    assert told["agreement_hash"] == "ab" * 32 and told["terms"] == ["乙方于12月31日前还款1万元"]
    assert told["agreed_at"] == agreed_at and told["mediator_id"] == "m-7"
    assert refs.agreement_details({"agreement_id": "A2", "agreement_hash": "cd" * 32}, agreed_at)["terms"] == []
    with pytest.raises(ValueError):
        refs.feedback(referral, "settled", {}, failed_at)


# -- what the simulated court checks before confirming ---------------------------------------
APPLICATION = {"case_code": "140106-261123-LD-0001-X", "agreement_id": "A1", "category": "lending",
               "agreement_hash": "ab" * 32, "terms": ["乙方于12月31日前还款1万元"],
               "performance_deadline": "2026-12-31"}
NO_TERMS = "申请未附调解协议条款，无法审查协议内容"


@pytest.mark.parametrize("changes,reasons", [
    ({}, []),
    ({"terms": []}, [NO_TERMS]),
    ({"terms": ["  "]}, [NO_TERMS]),
    ({"terms": None, "performance_deadline": None}, [NO_TERMS, "调解协议未载明履行期限"]),
    ({"performance_deadline": ""}, ["调解协议未载明履行期限"]),
    ({"agreement_hash": "not-a-hash"}, ["调解协议文本摘要无效，无法核对协议内容"]),
    ({"category": "domestic_violence"}, ["涉及人身安全保护的事项不适用司法确认程序"]),
])
def test_the_simulated_court_reads_the_terms_before_it_confirms(changes, reasons):
    assert CourtSimulator.confirmation_reasons({**APPLICATION, **changes}) == reasons


# -- reference data --------------------------------------------------------------------------
def test_the_shipped_reference_data():
    assert len(REFERENCE.causes) == 20
    assert {"other", "domestic_violence", "land", "environment"}.isdisjoint(REFERENCE.suitable_categories)
    assert REFERENCE.competent_court("140106003001").court_id == "140106:court"
    assert REFERENCE.competent_court("620102").name == "兰州市城关区人民法院"
    assert REFERENCE.competent_court("110101") is None
    assert REFERENCE.court("140110:court").sits_in_centre


def test_reference_data_that_cannot_work_is_refused_at_start():
    courts, causes, rules = (read_yaml(DATA / name) for name in ("courts.yaml", "causes.yaml", "rules.yaml"))
    bad_courts = {**courts, "courts": [{**courts["courts"][0], "categories": ["other"]}]}
    with pytest.raises(ReferenceDataError, match="no suitable cause"):
        build_reference(bad_courts, causes, rules)
    with pytest.raises(ReferenceDataError, match="unknown category"):
        build_reference(courts, {"causes": [{"cause": "x", "name": "x", "category": "piracy"}]}, rules)
    with pytest.raises(ReferenceDataError, match="deadline_days"):
        build_reference(courts, causes, {**rules, "referral": {"extension": rules["referral"]["extension"]}})


def test_a_deployment_points_courts_elsewhere():
    reference = load_reference({"COURT_DEFAULT_BASE_URL": "http://sim:9000/",
                                "COURT_BASE_URLS": {"620102:court": "https://court.example/api"},
                                "COURT_API_KEYS": {"620102:court": "k-620102"}})
    assert reference.court("140106:court").base_url == "http://sim:9000"
    assert reference.court("620102:court").base_url == "https://court.example/api"
    assert reference.court("620102:court").api_key == "k-620102"


# -- case codes ------------------------------------------------------------------------------
def test_case_codes_are_accepted_as_typed_and_checked():
    code = "140106-261123-LB-0042-9"
    assert canonical_case_code("140106261123lb00429") == code
    assert canonical_case_code(code) == code
    with pytest.raises(InvalidCaseCode, match="check character"):
        canonical_case_code("140106-261123-LB-0042-7")
    with pytest.raises(InvalidCaseCode):
        canonical_case_code("not-a-code")


# -- deliveries ------------------------------------------------------------------------------
def test_retries_back_off_and_the_last_delay_repeats():
    delays = [5, 30, 120]
    assert [delivery.retry_delay(n, delays) for n in (1, 2, 3, 4, 10)] == [5, 30, 120, 120, 120]
    assert delivery.next_attempt(utc(2026, 1, 1), 2, delays) == utc(2026, 1, 1, 0, 0, 30)
    assert not delivery.is_stuck(4, 5) and delivery.is_stuck(5, 5)
    with pytest.raises(ValueError):
        delivery.retry_delay(0, delays)


# -- judicial confirmation -------------------------------------------------------------------
RULES = REFERENCE.rules.confirmation
AGREED = utc(2026, 11, 23, 2)


def requested(**changes):
    confirmation = conf.new_confirmation({"agreement_id": "A1", "confirmation_requested": True}, AGREED, RULES,
                                         "140106:court")
    return {**confirmation, **changes}


def test_an_agreement_with_the_parties_request_is_to_be_applied_for_within_thirty_days():
    confirmation = requested()
    assert confirmation["state"] == conf.REQUESTED
    assert confirmation["apply_by"] == utc(2026, 12, 23, 16)
    assert confirmation["warn_at"] == utc(2026, 12, 18, 16)
    plain = conf.new_confirmation({"agreement_id": "A1", "confirmation_requested": False}, AGREED, RULES, "c")
    assert plain["state"] == conf.NOT_REQUESTED and plain["warn_at"] is None


def test_the_window_is_warned_about_before_and_after_it_closes():
    confirmation = requested()
    assert conf.warning_level(confirmation, utc(2026, 12, 1)) is None
    assert conf.warning_level(confirmation, utc(2026, 12, 20)) == conf.DUE_SOON
    assert conf.warning_level(confirmation, utc(2026, 12, 24)) == conf.OVERDUE
    assert conf.warning_level(requested(state=conf.APPLIED), utc(2026, 12, 24)) is None


def test_the_court_accepts_within_three_days_then_rules():
    applied = requested(state=conf.APPLIED, application_id="SQ1",
                        acceptance_due=conf.acceptance_due(utc(2026, 11, 24, 2), RULES))
    assert applied["acceptance_due"] == utc(2026, 11, 27, 16)
    assert conf.court_decision(applied, {"status": "received"}, utc(2026, 11, 25)) == {}
    accepted = conf.court_decision(applied, {"status": "accepted", "accepted_at": utc(2026, 11, 25)},
                                   utc(2026, 11, 25))
    assert accepted["state"] == conf.ACCEPTED and accepted["accepted_late"] is False
    ruling = {"status": "granted", "ruling_number": "（2026）晋0106民特1号"}
    granted = conf.court_decision({**applied, **accepted}, ruling, utc(2026, 11, 26))
    assert granted["state"] == conf.GRANTED and granted["ruling_number"] == "（2026）晋0106民特1号"
    # a court that rules at once is recorded as having accepted too, late here
    late = conf.court_decision(applied, {"status": "rejected", "reasons": ["调解协议未载明履行期限"]}, utc(2026, 12, 1))
    assert late["state"] == conf.REJECTED and late["accepted_late"] is True
    assert late["reasons"] == ["调解协议未载明履行期限"]
    assert conf.court_decision(requested(state=conf.GRANTED), {"status": "rejected"}, utc(2026, 12, 1)) == {}


def test_applying_by_hand_and_enforcement_need_the_right_state():
    with pytest.raises(refs.RuleViolation, match="no mediation agreement"):
        conf.check_manual_application(None, AGREED)
    with pytest.raises(refs.RuleViolation, match="already requested"):
        conf.check_manual_application(requested(), AGREED)
    with pytest.raises(refs.RuleViolation, match="closed"):
        conf.check_manual_application(requested(state=conf.NOT_REQUESTED), utc(2027, 1, 1))
    conf.check_manual_application(requested(state=conf.FAILED), utc(2026, 12, 1))
    with pytest.raises(refs.RuleViolation, match="confirmed"):
        conf.check_enforcement(requested(state=conf.REJECTED))
    conf.check_enforcement(requested(state=conf.GRANTED))


# -- filing ----------------------------------------------------------------------------------
FAST = REFERENCE.rules.fast_track
FACTS = {"amount": 30000.0, "people_involved": 2, "severity": "general", "risk_flags": []}


@pytest.mark.parametrize("category,facts,undisputed,track,why", [
    ("lending", FACTS, "借款事实无异议", filing.FAST_TRACK, None),
    ("family", {**FACTS, "amount": None}, "婚姻关系无异议", filing.PRIORITY, "amount in dispute is unknown"),
    ("family", {**FACTS, "amount": 0.0}, "婚姻关系无异议", filing.FAST_TRACK, None),
    ("lending", {**FACTS, "amount": 100000.0}, "借款事实无异议", filing.FAST_TRACK, None),
    ("lending", {**FACTS, "amount": 250000.0}, "借款事实无异议", filing.PRIORITY, "amount"),
    ("labour", {**FACTS, "people_involved": 90}, "欠薪事实无异议", filing.PRIORITY, "90 people"),
    ("lending", {**FACTS, "severity": "major"}, "借款事实无异议", filing.PRIORITY, "severity"),
    ("neighbour", {**FACTS, "risk_flags": ["extreme_threat"]}, "相邻事实无异议", filing.PRIORITY, "risk flags"),
    ("lending", FACTS, None, filing.PRIORITY, "undisputed"),
    ("lending", None, "借款事实无异议", filing.PRIORITY, "unknown"),
    ("medical", FACTS, "诊疗经过无异议", filing.PRIORITY, "category"),
])
def test_the_filing_track_follows_the_rules(category, facts, undisputed, track, why):
    decision = filing.decide_track(category, facts, undisputed, FAST)
    assert decision.track == track
    if why:
        assert any(why in reason for reason in decision.reasons)
    else:
        assert decision.reasons == ()


def test_one_filing_at_a_time_and_the_docket_number_closes_it():
    filing.check_new_filing(None)
    filing.check_new_filing({"state": filing.REFUSED})
    with pytest.raises(refs.RuleViolation):
        filing.check_new_filing({"state": filing.SUBMITTED})
    submitted = {"state": filing.SUBMITTED}
    assert filing.filed_from_status(submitted, {"status": "received"}) == {}
    filed = filing.filed_from_status(submitted, {"status": "filed", "docket_number": "（2026）晋0106民初7号"})
    assert filed["state"] == filing.FILED and filed["docket_number"] == "（2026）晋0106民初7号"
    assert filing.filed_from_status(submitted, {"status": "refused"})["reasons"] == ["法院未说明理由"]
    assert filing.filed_from_status({"state": filing.FILED}, {"status": "refused"}) == {}


def test_on_site_acts_only_for_a_court_sitting_in_the_centre_and_in_order():
    filed = {"state": filing.FILED}
    filing.check_onsite("hearing", True, filed, [])
    with pytest.raises(refs.RuleViolation, match="does not sit"):
        filing.check_onsite("hearing", False, filed, [])
    with pytest.raises(refs.RuleViolation, match="docket"):
        filing.check_onsite("hearing", True, {"state": filing.SUBMITTED}, [])
    filing.check_onsite("filing", True, {"state": filing.SUBMITTED}, [])
    with pytest.raises(refs.RuleViolation, match="enforcement application"):
        filing.check_onsite("enforcement", True, filed, [{"state": "requested"}])
    filing.check_onsite("enforcement", True, None, [{"state": "applied"}])
