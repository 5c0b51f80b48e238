"""Public progress by code and phone tail, ratings, and the per-client rate limit."""

import http.client
import json
from datetime import UTC, date, datetime, timedelta

import pytest
from nameko.testing.utils import get_extension

from services.common.contracts import utcnow
from services.intake.dependencies import IntakeClock
from services.intake.domain.codes import case_code
from services.intake.schemas import ProgressSchema
from services.intake.service import IntakeService
from tests.support.infra import wait_for
from tests.support.intake_bus import Capture, case_ref_of, send
from tests.support.intake_samples import CLERK, GRID_REPORT_OF_THE_WAGE_ARREARS, case_payload


@pytest.fixture
def intake(start_service):
    return start_service(IntakeService, INTAKE_PUBLIC_RATE_LIMIT=1000)


def progress(intake, code, tail, **kwargs):
    return intake.get(f"/api/v1/public/progress/{code}?phone_tail={tail}", **kwargs)


def rate(intake, code, body, **kwargs):
    return intake.post(f"/api/v1/public/cases/{code}/rating", body, **kwargs)


def test_public_progress_shows_status_and_a_chinese_timeline_with_masked_parties(intake):
    case = intake.post("/api/v1/cases", case_payload(), auth=CLERK).json()
    response = progress(intake, case["case_code"], "5678")
    assert response.status_code == 200
    body = response.json()
    assert ProgressSchema().validate(body) == {}
    assert body["case_code"] == case["case_code"] and body["status"] == "registered"
    assert body["status_text"] == "已登记受理" and body["category_text"] == "劳动争议（含欠薪）"
    assert body["parties"] == [
        {"role": "applicant", "role_text": "申请人", "name": "王**", "phone": "138****5678"},
        {"role": "respondent", "role_text": "被申请人", "name": "某********", "phone": "035****4567"}]
    assert body["timeline"] == [{"at": body["timeline"][0]["at"],
                                 "text": f"经来访登记受理，案件编号{case['case_code']}"}]
    text = response.text
    for secret in ("王建国", "13812345678", "140106198001011234", "某建筑工程有限公司", "太原市"):
        assert secret not in text
    # the respondent's phone tail opens the same view; dashes and case in the code do not matter
    other = progress(intake, case["case_code"].replace("-", "").lower(), "4567")
    assert other.status_code == 200 and other.json()["case_code"] == case["case_code"]


def test_a_wrong_phone_tail_looks_exactly_like_an_unknown_code(intake):
    case = intake.post("/api/v1/cases", case_payload(), auth=CLERK).json()
    wrong_tail = progress(intake, case["case_code"], "0000")
    registered_on = date.fromisoformat("20" + "-".join(case["case_code"].split("-")[1][i:i + 2] for i in (0, 2, 4)))
    unknown = progress(intake, case_code("140106", registered_on, "labour", 9999), "5678")
    assert wrong_tail.status_code == unknown.status_code == 404
    assert wrong_tail.content == unknown.content
    assert wrong_tail.json() == {"error": "not_found", "message": "no case with this code and phone number",
                                 "fields": {}}


def test_bad_public_input_gets_clear_errors(intake):
    case = intake.post("/api/v1/cases", case_payload(), auth=CLERK).json()
    typo = case["case_code"][:-1] + ("0" if case["case_code"][-1] != "0" else "1")
    mistyped = progress(intake, typo, "5678")
    assert mistyped.status_code == 400 and mistyped.json()["error"] == "invalid_case_code"
    for query in ("", "?phone_tail=56", "?phone_tail=abcd", "?phone_tail=5678&name=x"):
        response = intake.get(f"/api/v1/public/progress/{case['case_code']}{query}")
        assert response.status_code == 400 and response.json()["error"] == "validation_failed", query
    for body in ({"phone_tail": "5678", "score": 6}, {"phone_tail": "5678", "score": "5"},
                 {"phone_tail": "5678"}, {"phone_tail": "5678", "score": 5, "comment": "长" * 501},
                 {"phone_tail": "5678", "score": 5, "stars": 5}):
        response = rate(intake, case["case_code"], body)
        assert response.status_code == 400 and response.json()["error"] == "validation_failed", body
    assert intake.db.cases.find_one({"_id": case["case_id"]}).get("rating") is None


def test_ratings_come_once_and_only_after_resolution(intake):
    bus = Capture(intake.config["AMQP_URI"])
    case = intake.post("/api/v1/cases", case_payload(), auth=CLERK).json()
    early = rate(intake, case["case_code"], {"phone_tail": "5678", "score": 5})
    assert early.status_code == 422 and early.json()["error"] == "invalid_transition"
    send(intake.config["AMQP_URI"], "routing", "case_resolved", case_ref_of(case), {"unit": "140106:hrss"})
    wait_for(lambda: intake.db.cases.find_one({"_id": case["case_id"]})["status"] == "resolved")
    assert progress(intake, case["case_code"], "5678").json()["can_rate"] is True
    wrong = rate(intake, case["case_code"], {"phone_tail": "1111", "score": 5})
    assert wrong.status_code == 404
    rated = rate(intake, case["case_code"], {"phone_tail": "5678", "score": 4, "comment": "调解员很耐心"})
    assert rated.status_code == 201 and rated.json() == {"case_code": case["case_code"], "score": 4,
                                                         "status": "closed"}
    again = rate(intake, case["case_code"], {"phone_tail": "4567", "score": 1})
    assert again.status_code == 409 and again.json()["error"] == "conflict"
    submitted = wait_for(lambda: bus.events("rating_submitted"))
    assert [event["data"] for event in submitted] == [{"score": 4, "has_comment": True}]
    assert "调解员很耐心" not in json.dumps(bus.events(), ensure_ascii=False)
    file = intake.get(f"/api/v1/cases/{case['case_code']}", auth=CLERK).json()
    assert file["rating"]["score"] == 4 and file["rating"]["comment"] == "调解员很耐心"
    public = progress(intake, case["case_code"], "5678").json()
    assert public["status"] == "closed" and public["can_rate"] is False
    assert public["timeline"][-2:] == [{"at": public["timeline"][-2]["at"], "text": "已收到您的评价，感谢您的监督"},
                                       {"at": public["timeline"][-1]["at"], "text": "案件已办结归档"}]
    assert 'onestop_ratings_total{score="4"} 1.0' in intake.get("/metrics").text


def test_a_merged_report_points_to_the_file_and_cannot_be_rated(intake):
    file = intake.post("/api/v1/cases", case_payload(), auth=CLERK).json()
    merged = intake.post("/api/v1/cases", GRID_REPORT_OF_THE_WAGE_ARREARS, auth=CLERK).json()
    body = progress(intake, merged["case_code"], "5678").json()
    assert body["status"] == "merged" and body["duplicate_of"] == file["case_code"]
    assert "已并入该案件合并办理" in body["timeline"][-1]["text"] and file["case_code"] in body["timeline"][-1]["text"]
    refused = rate(intake, merged["case_code"], {"phone_tail": "5678", "score": 5})
    assert refused.status_code == 422


def test_public_routes_are_rate_limited_per_client(start_service):
    intake = start_service(IntakeService, INTAKE_PUBLIC_RATE_LIMIT=3, INTAKE_TRUST_FORWARDED_FOR=True)
    case = intake.post("/api/v1/cases", case_payload(), auth=CLERK).json()
    # the proxy appends the address it saw (203.0.113.7); what is left of it the client wrote itself
    forged = [{"X-Forwarded-For": f"10.0.0.{n}, 203.0.113.7"} for n in range(1, 5)]
    answers = [progress(intake, case["case_code"], "0000", headers=forged[n]).status_code for n in range(3)]
    assert answers == [404, 404, 404]
    limited = progress(intake, case["case_code"], "5678", headers=forged[3])
    assert limited.status_code == 429
    assert limited.json()["error"] == "too_many_requests" and set(limited.json()) == {"error", "message", "fields"}
    assert rate(intake, case["case_code"], {"phone_tail": "5678", "score": 5}, headers=forged[0]).status_code == 429
    client_b = {"X-Forwarded-For": "203.0.113.7, 198.51.100.9"}     # 203.0.113.7 on the left proves nothing
    assert progress(intake, case["case_code"], "5678", headers=client_b).status_code == 200
    assert "onestop_public_rate_limited_total 2.0" in intake.get("/metrics").text
    assert "203.0.113.7" not in str(list(intake.db.rate_limits.find()))


def get_with_lines(intake, path, forwarded_for):
    """A GET with one X-Forwarded-For header line per entry (requests would merge them)."""
    host, port = intake.base_url.removeprefix("http://").rsplit(":", 1)
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        connection.putrequest("GET", path)
        for line in forwarded_for:
            connection.putheader("X-Forwarded-For", line)
        connection.endheaders()
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def test_the_rightmost_forwarded_address_counts_also_over_several_header_lines(start_service):
    intake = start_service(IntakeService, INTAKE_PUBLIC_RATE_LIMIT=1, INTAKE_TRUST_FORWARDED_FOR=True)
    case = intake.post("/api/v1/cases", case_payload(), auth=CLERK).json()
    # a client sending its own X-Forwarded-For line: the proxy's line comes after it
    path = f"/api/v1/public/progress/{case['case_code']}?phone_tail=5678"
    assert get_with_lines(intake, path, ["192.0.2.1", "203.0.113.7"]) == 200
    assert get_with_lines(intake, path, ["192.0.2.2", "203.0.113.7"]) == 429
    assert progress(intake, case["case_code"], "5678", headers={"X-Forwarded-For": "203.0.113.8"}).status_code == 200


@pytest.mark.parametrize("tail", ["١٢٣٤", "１２３４", "5678\n", "۵۶۷۸"])
def test_a_phone_tail_of_other_digits_is_a_validation_error_not_a_500(intake, tail):
    case = intake.post("/api/v1/cases", case_payload(), auth=CLERK).json()
    response = intake.get(f"/api/v1/public/progress/{case['case_code']}", params={"phone_tail": tail})
    assert response.status_code == 400
    assert response.json()["error"] == "validation_failed" and "phone_tail" in response.json()["fields"]
    assert "Traceback" not in response.text
    rated = rate(intake, case["case_code"], {"phone_tail": tail, "score": 5})
    assert rated.status_code == 400
    assert rated.json()["error"] == "validation_failed" and "phone_tail" in rated.json()["fields"]


def window_start(seconds: int) -> datetime:
    """The start of a fixed window a day ahead (so the store's TTL never takes its counters)."""
    later = utcnow().timestamp() + 86400
    return datetime.fromtimestamp(later - later % seconds, UTC)


def test_a_case_code_locks_after_too_many_wrong_phone_tails_from_any_address(start_service):
    intake = start_service(IntakeService, INTAKE_PUBLIC_RATE_LIMIT=1000, INTAKE_TRUST_FORWARDED_FOR=True,
                           INTAKE_PUBLIC_CASE_FAILURES=3, INTAKE_PUBLIC_CASE_FAILURE_WINDOW_SECONDS=600)
    case = intake.post("/api/v1/cases", case_payload(), auth=CLERK).json()
    code = case["case_code"]
    clock = get_extension(intake.container, IntakeClock)
    clock.frozen_at = window_start(600)

    def attempt(tail, n):
        return progress(intake, code, tail, headers={"X-Forwarded-For": f"198.51.100.{n}"})

    # a right tail is not a failure: only the three wrong ones count
    answers = [attempt(tail, n).status_code for n, tail in enumerate(["0000", "5678", "1111", "4567", "2222"])]
    assert answers == [404, 200, 404, 200, 404]
    clock.frozen_at += timedelta(seconds=300)
    locked_right, locked_wrong = attempt("5678", 10), attempt("3333", 11)
    assert locked_right.status_code == locked_wrong.status_code == 429
    assert locked_right.content == locked_wrong.content          # nothing tells the right tail from a wrong one
    assert locked_right.json() == {"error": "too_many_requests",
                                   "message": "too many wrong phone numbers for this case code; try again later",
                                   "fields": {}}
    send(intake.config["AMQP_URI"], "routing", "case_resolved", case_ref_of(case), {"unit": "140106:hrss"})
    wait_for(lambda: intake.db.cases.find_one({"_id": case["case_id"]})["status"] == "resolved")
    refused = rate(intake, code, {"phone_tail": "5678", "score": 5}, headers={"X-Forwarded-For": "192.0.2.9"})
    assert refused.status_code == 429 and refused.content == locked_right.content
    assert intake.db.cases.find_one({"_id": case["case_id"]}).get("rating") is None
    assert "onestop_public_case_locked_total 3.0" in intake.get("/metrics").text
    assert code not in str(list(intake.db.rate_limits.find()))

    clock.frozen_at += timedelta(seconds=300)                     # the window has passed
    assert attempt("5678", 20).status_code == 200
    assert rate(intake, code, {"phone_tail": "5678", "score": 5}).status_code == 201
    assert attempt("0000", 21).status_code == 404                 # a new window, its own count


def test_an_unknown_code_locks_exactly_like_a_known_one(start_service):
    intake = start_service(IntakeService, INTAKE_PUBLIC_RATE_LIMIT=1000,
                           INTAKE_PUBLIC_CASE_FAILURES=2, INTAKE_PUBLIC_CASE_FAILURE_WINDOW_SECONDS=600)
    case = intake.post("/api/v1/cases", case_payload(), auth=CLERK).json()
    registered_on = date.fromisoformat("20" + "-".join(case["case_code"].split("-")[1][i:i + 2] for i in (0, 2, 4)))
    unknown = case_code("140106", registered_on, "labour", 9999)
    get_extension(intake.container, IntakeClock).frozen_at = window_start(600)
    known_answers = [progress(intake, case["case_code"], "0000") for _ in range(3)]
    unknown_answers = [progress(intake, unknown, "0000") for _ in range(3)]
    assert [answer.status_code for answer in known_answers] == [404, 404, 429]
    assert [answer.content for answer in known_answers] == [answer.content for answer in unknown_answers]
