"""Quiet hours, the retry schedule, what an attempt leads to, masking, and notify's view
of who handles a case."""

from datetime import UTC, datetime, time, timedelta

import pytest

from services.notify.domain import caseview, delivery
from services.notify.domain.delivery import AttemptResult
from services.notify.domain.scheduling import QuietHours, RetryPolicy
from services.notify.domain.text import canonical_case_code, mask_address, redact
from services.notify.rulebook import load_rulebook

QUIET = QuietHours(start=time(22, 0), end=time(8, 0), timezone="Asia/Shanghai", channels=frozenset({"sms"}))
RETRY = RetryPolicy((30, 120, 600))


def shanghai(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    """A Taiyuan wall-clock time in November 2026, as UTC (UTC+8, no daylight saving)."""
    return datetime(2026, 11, day, hour, minute, second, tzinfo=UTC) - timedelta(hours=8)


@pytest.mark.parametrize("local,quiet", [
    ((23, 21, 59, 59), False), ((23, 22, 0, 0), True), ((24, 3, 0, 0), True), ((24, 7, 59, 59), True),
    ((24, 8, 0, 0), False), ((24, 12, 0, 0), False),
])
def test_the_quiet_window_runs_from_22_to_08_local_time(local, quiet):
    assert QUIET.is_quiet(shanghai(*local)) is quiet


def test_a_non_urgent_sms_at_night_waits_until_eight_and_is_not_dropped():
    at, deferred = QUIET.earliest(shanghai(23, 23, 30), "sms", urgent=False)
    assert deferred and at == shanghai(24, 8, 0)
    at, deferred = QUIET.earliest(shanghai(24, 3, 0), "sms", urgent=False)
    assert deferred and at == shanghai(24, 8, 0)


def test_urgent_messages_and_other_channels_go_at_night():
    night = shanghai(23, 23, 30)
    assert QUIET.earliest(night, "sms", urgent=True) == (night, False)
    assert QUIET.earliest(night, "email", urgent=False) == (night, False)
    assert QUIET.earliest(night, "inbox", urgent=False) == (night, False)


def test_a_window_within_one_day_works_too():
    lunch = QuietHours(start=time(12, 0), end=time(14, 0), timezone="Asia/Shanghai", channels=frozenset({"sms"}))
    assert lunch.earliest(shanghai(23, 13, 0), "sms", False) == (shanghai(23, 14, 0), True)
    assert lunch.earliest(shanghai(23, 15, 0), "sms", False) == (shanghai(23, 15, 0), False)


def test_the_retry_schedule_backs_off_then_gives_up():
    now = shanghai(23, 10, 0)
    assert [RETRY.next_attempt(n, now) for n in (1, 2, 3, 4)] == [
        now + timedelta(seconds=30), now + timedelta(seconds=120), now + timedelta(seconds=600), None]
    assert RETRY.max_attempts == 4


def test_an_attempt_that_worked_is_sent_and_announced():
    step = delivery.after_attempt(1, AttemptResult(ok=True, answer="200 ok"), shanghai(23, 10), RETRY, QUIET,
                                  "sms", False)
    assert step == delivery.Next(delivery.SENT, outcome_event="notification_sent")


def test_a_refused_address_fails_at_once():
    step = delivery.after_attempt(1, AttemptResult(ok=False, error="400", permanent=True), shanghai(23, 10),
                                  RETRY, QUIET, "sms", False)
    assert step.status == delivery.FAILED and step.outcome_event == "notification_failed" and not step.retry


def test_a_gateway_failure_is_retried_until_the_schedule_runs_out():
    now = shanghai(23, 10)
    down = AttemptResult(ok=False, error="sms gateway answered 503")
    step = delivery.after_attempt(2, down, now, RETRY, QUIET, "sms", False)
    assert step == delivery.Next(delivery.QUEUED, next_attempt_at=now + timedelta(seconds=120), retry=True)
    last = delivery.after_attempt(4, down, now, RETRY, QUIET, "sms", False)
    assert last.status == delivery.FAILED and last.outcome_event == "notification_failed"


def test_a_retry_that_would_fall_in_the_night_waits_for_the_morning():
    step = delivery.after_attempt(3, AttemptResult(ok=False, error="503"), shanghai(23, 21, 55), RETRY, QUIET,
                                  "sms", False)
    assert step.deferred and step.next_attempt_at == shanghai(24, 8, 0)
    urgent = delivery.after_attempt(3, AttemptResult(ok=False, error="503"), shanghai(23, 21, 55), RETRY, QUIET,
                                    "sms", True)
    assert not urgent.deferred and urgent.next_attempt_at == shanghai(23, 22, 5)


def test_only_the_claim_that_made_an_attempt_may_record_it():
    assert delivery.held_by("n1", "token-a") == {"_id": "n1", "claim_token": "token-a", "status": "sending"}
    now = shanghai(23, 10)
    claimed = delivery.claim_update("token-a", now, 60)["$set"]
    assert claimed["status"] == "sending" and claimed["claim_token"] == "token-a"
    assert claimed["claimable_at"] == now + timedelta(seconds=60)  # a crashed sender's messages are taken over then
    claimable = delivery.claimable("sms", now)
    assert claimable == {"channel": "sms", "claimable_at": {"$gte": delivery.NEVER_BEFORE, "$lte": now}}
    assert delivery.still_claimable(["n1", "n2"], now)["claimable_at"] == claimable["claimable_at"]


def test_a_message_is_claimable_while_open_and_never_once_settled():
    now = shanghai(23, 10)
    down, ok = AttemptResult(ok=False, error="sms gateway answered 503"), AttemptResult(ok=True)
    retry = delivery.after_attempt(1, down, now, RETRY, QUIET, "sms", True)
    assert delivery.finish_update(retry, down, 1, now)["$set"]["claimable_at"] == retry.next_attempt_at
    sent = delivery.after_attempt(3, ok, now, RETRY, QUIET, "sms", True)
    failed = delivery.after_attempt(RETRY.max_attempts, down, now, RETRY, QUIET, "sms", True)
    for step, result in ((sent, ok), (failed, down)):
        fields = delivery.finish_update(step, result, 3, now)["$set"]
        assert fields["claimable_at"] is None and fields["attempts"] == 3, step
    assert delivery.cancel_update(now, "e1")["$set"]["claimable_at"] is None
    assert delivery.release_update(now)["$set"] == {"status": "queued", "claimable_at": now, "updated_at": now}


def test_addresses_are_masked_for_the_log():
    assert mask_address("sms", "13812345678") == "138****5678"
    assert mask_address("email", "zhangwei@yingze.example.cn") == "z***@yingze.example.cn"
    assert mask_address("wechat", "oYZhrss00000001") == "oYZh***"
    assert mask_address("inbox", "party-applicant-1") == "party-applicant-1"


def test_gateway_answers_are_kept_without_phone_numbers_or_mail_addresses():
    answer = redact('{"to": "13812345678", "alt": "+8613812345678", "cc": "wang@example.cn", "id": 42}')
    assert "13812345678" not in answer and "wang@" not in answer
    assert "138****5678" in answer and "w***@example.cn" in answer and '"id": 42' in answer
    assert redact("x" * 1000) == "x" * 300


@pytest.mark.parametrize("text,code", [
    ("140106-261123-LB-0042-7", "140106-261123-LB-0042-7"),
    ("140106261123lb00427", "140106-261123-LB-0042-7"),
    (" 140106-261123-lb-0042-7 ", "140106-261123-LB-0042-7"),
    ("140106-261123-LB-0042", None), ("not-a-code", None), ("", None),
])
def test_case_codes_are_accepted_as_people_type_them(text, code):
    assert canonical_case_code(text) == code


def routing_event(event_type: str, data: dict, at: datetime) -> dict:
    return {"source": "routing", "event_type": event_type, "occurred_at": at.isoformat(), "data": data}


def test_the_case_view_follows_assignment_and_escalation_and_ignores_older_news():
    assigned = routing_event("case_assigned", {"unit": "140106001:office", "level": "township",
                                               "lead_department": None, "departments": []}, shanghai(23, 10))
    view = caseview.updated(None, assigned)
    assert view["unit"] == "140106001:office" and view["as_of"] == shanghai(23, 10)
    escalated = routing_event("case_escalated", {"to_unit": "140106:centre", "to_level": "county"}, shanghai(24, 10))
    view = caseview.updated(view, escalated)
    assert view["unit"] == "140106:centre" and view["level"] == "county"
    assert caseview.updated(view, assigned) is None  # delivered late: the escalation stands
    assert caseview.updated(view, routing_event("leader_assigned", {}, shanghai(25, 10))) is None
    assert caseview.updated(view, {**escalated, "source": "mediation", "occurred_at": shanghai(26, 10)}) is None


def test_the_case_view_is_read_only_for_rules_that_name_it():
    rules = load_rulebook({})[0]
    assert caseview.needed(rules.for_event("routing", "leader_assigned", {}))  # case.unit
    assert caseview.needed(rules.for_event("court_bridge", "confirmation_due", {"level": "due_soon"}))
    assert not caseview.needed(rules.for_event("intake", "case_registered", {}))
    assert not caseview.needed(rules.for_event("routing", "departments_summoned", {}))
