"""Registering reports over HTTP: every channel, personal data at rest, merging, resends, bad input."""

import json

import pytest
from bson import json_util

from services.intake.service import IntakeService
from tests.support.infra import wait_for
from tests.support.intake_bus import Capture
from tests.support.intake_samples import (
    CLERK,
    GRID_REPORT_OF_THE_WAGE_ARREARS,
    case_payload,
    every_channel,
    neighbour_dispute,
    person,
)

CLEAR_PERSONAL_DATA = ("王建国", "140106198001011234", "13812345678", "太原市迎泽区某小区", "03511234567",
                       "某建筑工程有限公司")


@pytest.fixture
def intake(start_service):
    return start_service(IntakeService)


@pytest.fixture
def bus(intake):
    return Capture(intake.config["AMQP_URI"])


def metric(intake, name, **labels):
    for line in intake.get("/metrics").text.splitlines():
        if line.startswith((name + "{", name + " ")) and all(f'{key}="{value}"' in line
                                                              for key, value in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def everything_stored(intake) -> str:
    db = intake.db
    return json_util.dumps({name: list(db[name].find()) for name in db.list_collection_names()},
                           ensure_ascii=False)


def test_every_http_channel_registers_with_its_own_fields(intake, bus):
    codes = {}
    for channel, payload in every_channel().items():
        response = intake.post("/api/v1/cases", payload, auth=CLERK)
        assert response.status_code == 201, (channel, response.text)
        body = response.json()
        assert body["outcome"] == "registered" and body["status"] == "registered"
        codes[channel] = body["case_code"]
        stored = intake.db.cases.find_one({"case_code": body["case_code"]})
        assert stored["channel"] == channel and stored["channels"] == [channel]
        assert stored["channel_ref"] == payload.get("channel_ref")
    assert len(set(codes.values())) == len(codes) == 8
    registered = wait_for(lambda: len(bus.events("case_registered")) == 8 and bus.events("case_registered"))
    assert {event["data"]["channel"] for event in registered} == set(codes)
    assert metric(intake, "onestop_cases_registered_total", channel="police_110", county="140106",
                  category="neighbour") == 1.0


def test_the_wage_arrears_walk_in_is_one_case_flagged_as_a_mass_dispute(intake, bus):
    response = intake.post("/api/v1/cases", case_payload(), auth=CLERK)
    assert response.status_code == 201
    body = response.json()
    assert body["case_code"].startswith("140106-") and "-LB-" in body["case_code"]
    assert body["severity"] == "major" and body["risk_flags"] == ["mass_dispute", "large_amount"]
    event = wait_for(lambda: bus.events("case_registered"))[0]
    assert event["case_id"] == body["case_id"] and event["jurisdiction"] == "140106"
    data = event["data"]
    assert data["risk_flags"] == ["mass_dispute", "large_amount"] and data["severity"] == "major"
    assert data["immediate_red"] is False and data["people_involved"] == 90 and data["amount"] == 1800000
    assert [(p["role"], p["kind"]) for p in data["parties"]] == [("applicant", "person"),
                                                                 ("respondent", "organisation")]
    assert set(data["parties"][0]) == {"party_id", "role", "kind"}
    assert data["court_referral"] is None and data["occurred_on"] == "2026-10-15"
    assert metric(intake, "onestop_risk_flags_total", flag="mass_dispute") == 1.0


def test_personal_data_is_encrypted_at_rest_and_never_in_events_audit_or_metrics(intake, bus):
    created = intake.post("/api/v1/cases", case_payload(), auth=CLERK).json()
    wait_for(lambda: bus.events("case_registered"))
    stored = everything_stored(intake)
    for value in CLEAR_PERSONAL_DATA:
        assert value not in stored, value
    events = json.dumps(bus.events(), ensure_ascii=False)
    metrics = intake.get("/metrics").text
    for value in CLEAR_PERSONAL_DATA:
        assert value not in events and value not in metrics
    case = intake.db.cases.find_one({"_id": created["case_id"]})
    applicant = case["parties"][0]
    assert applicant["name_masked"] == "王**" and applicant["phone_masked"] == "138****5678"
    assert applicant["id_enc"] and applicant["phone_enc"] and applicant["address_enc"]
    assert case["contact_tails"] == ["4567", "5678"]
    # matched by keyed hashes: two for the person (ID, phone); the company is never matched
    assert len(case["person_keys"]) == 2 and all(key[:2] in ("i:", "p:") for key in case["person_keys"])
    # staff see the names, masked phones and ID numbers
    staff = intake.get(f"/api/v1/cases/{created['case_code']}", auth=CLERK).json()
    assert staff["parties"][0]["name"] == "王建国" and staff["parties"][0]["phone"] == "138****5678"
    assert staff["parties"][0]["id_number"] == "1401**********1234"


def test_the_same_dispute_reported_by_a_grid_worker_merges_into_the_walk_in(intake, bus):
    first = intake.post("/api/v1/cases", case_payload(), auth=CLERK).json()
    response = intake.post("/api/v1/cases", GRID_REPORT_OF_THE_WAGE_ARREARS, auth=CLERK)
    assert response.status_code == 201
    second = response.json()
    assert second["outcome"] == "merged" and second["status"] == "merged"
    assert second["duplicate_of"] == first["case_code"] and second["case_code"] != first["case_code"]
    merged = wait_for(lambda: bus.events("case_merged"))[0]
    assert merged["case_id"] == first["case_id"] and merged["case_code"] == first["case_code"]
    assert merged["data"]["duplicate_case_id"] == second["case_id"]
    assert merged["data"]["channel"] == "grid_report" and merged["data"]["people_involved"] == 95
    wait_for(lambda: intake.db.outbox.count_documents({"status": "sent"}) == 2, message="both events published")
    assert len(bus.events("case_registered")) == 1  # routing never sees the duplicate as a new case
    file = intake.get(f"/api/v1/cases/{first['case_code']}", auth=CLERK).json()
    assert file["channels"] == ["walk_in", "grid_report"]
    assert [report["case_code"] for report in file["reports"]] == [first["case_code"], second["case_code"]]
    assert file["people_involved"] == 95 and file["amount"] == 1800000
    assert "另经网格员上报反映，已合并办理" in file["timeline"][-1]["text"]
    duplicate = intake.db.cases.find_one({"_id": second["case_id"]})
    assert duplicate["merged_into"] == first["case_id"] and duplicate["status"] == "merged"
    assert metric(intake, "onestop_cases_merged_total", channel="grid_report") == 1.0
    assert metric(intake, "onestop_cases_registered_total", channel="grid_report") == 0.0
    actions = {doc["action"] for doc in intake.db.audit_log.find({"case_code": first["case_code"]})}
    assert actions == {"case.register", "case.merge"}


def test_a_merged_report_can_raise_the_files_risk(intake, bus):
    first = intake.post("/api/v1/cases", case_payload(), auth=CLERK).json()
    threat = dict(GRID_REPORT_OF_THE_WAGE_ARREARS, description="工人情绪激动，有人扬言要跳楼")
    intake.post("/api/v1/cases", threat, auth=CLERK)
    merged = wait_for(lambda: bus.events("case_merged"))[0]["data"]
    assert merged["severity"] == "critical" and merged["immediate_red"] is True
    assert merged["risk_flags"] == ["mass_dispute", "large_amount", "self_harm_threat"]
    file = intake.db.cases.find_one({"_id": first["case_id"]})
    assert file["severity"] == "critical" and file["immediate_red"] is True
    assert metric(intake, "onestop_risk_flags_total", flag="self_harm_threat") == 1.0
    assert metric(intake, "onestop_risk_flags_total", flag="mass_dispute") == 1.0  # not counted twice


def test_the_same_person_back_at_the_window_is_merged_into_the_open_file(intake, bus):
    first = intake.post("/api/v1/cases", case_payload(), auth=CLERK).json()
    again = intake.post("/api/v1/cases", case_payload(), auth=CLERK).json()
    assert again["outcome"] == "merged" and again["duplicate_of"] == first["case_code"]
    merged = wait_for(lambda: bus.events("case_merged"))
    assert merged[0]["case_code"] == first["case_code"]
    assert merged[0]["data"]["duplicate_case_code"] == again["case_code"]


def test_a_centre_that_counts_repeat_visits_gets_a_linked_case(start_service, tmp_path):
    dedup = tmp_path / "dedup.yaml"
    dedup.write_text("window_days: 30\nopen_statuses: [registered, assigned, accepted, in_mediation]\n"
                     "repeat_visit_channels: [walk_in, hotline, letter, online]\n")
    intake = start_service(IntakeService, INTAKE_DEDUP_FILE=str(dedup))
    bus = Capture(intake.config["AMQP_URI"])
    first = intake.post("/api/v1/cases", case_payload(), auth=CLERK).json()
    again = intake.post("/api/v1/cases", case_payload(), auth=CLERK).json()
    assert again["outcome"] == "registered" and again["duplicate_of"] is None
    assert "repeat_petitioner" in again["risk_flags"]
    events = wait_for(lambda: len(bus.events("case_registered")) == 2 and bus.events("case_registered"))
    repeat = next(event for event in events if event["case_code"] == again["case_code"])
    assert repeat["data"]["repeat_of"] == first["case_code"]
    file = intake.get(f"/api/v1/cases/{first['case_code']}", auth=CLERK).json()
    assert file["related"] == [again["case_code"]]
    assert file["timeline"][-1]["public"] is False and again["case_code"] in file["timeline"][-1]["text"]


def test_a_resend_of_the_same_110_incident_answers_the_existing_case(intake, bus):
    payload = every_channel()["police_110"]
    first = intake.post("/api/v1/cases", payload, auth=CLERK)
    again = intake.post("/api/v1/cases", payload, auth=CLERK)
    assert first.status_code == 201 and again.status_code == 200
    assert again.json()["outcome"] == "existing" and again.json()["case_id"] == first.json()["case_id"]
    assert intake.db.cases.count_documents({}) == 1
    wait_for(lambda: bus.events("case_registered"))
    assert intake.db.outbox.count_documents({}) == 1
    assert intake.db.code_sequences.find_one()["value"] == 1  # a resend does not use up a number


def test_a_resend_from_outside_the_callers_jurisdiction_is_a_conflict(intake):
    payload = every_channel()["police_110"]
    intake.post("/api/v1/cases", payload, auth=CLERK)
    other = dict(payload, jurisdiction="140105")
    response = intake.post("/api/v1/cases", other, auth={"roles": ("intake_clerk",), "jurisdictions": ("140105",)})
    assert response.status_code == 409 and response.json()["error"] == "conflict"
    assert "140106" not in response.text


BAD_REPORTS = [
    ({"channel": "police_110"}, "channel_ref"),
    ({"channel": "grid_report"}, "grid"),
    ({"channel": "leader_assigned"}, "channel_ref"),
    ({"channel": "department_referral"}, "channel_ref"),
    ({"channel": "hotline", "parties": [person("李四", None, address="某村")]}, "parties"),
    ({"channel": "letter", "parties": [person("李四", "13900000000")]}, "parties"),
    ({"channel": "court_referral", "channel_ref": "R-1"}, "channel"),
    ({"parties": [person("李四", "13900000000", role="respondent")]}, "parties"),
    ({"occurred_at": "2099-01-01"}, "occurred_at"),
    ({"jurisdiction": "14010"}, "jurisdiction"),
    ({"jurisdiction": "١٤٠١٠٦"}, "jurisdiction"),        # other digits than 0-9: not a division code
    ({"jurisdiction": "１４０１０６"}, "jurisdiction"),
    ({"jurisdiction": "140106\n"}, "jurisdiction"),
    ({"parties": [person("李四", "13900000000\n")]}, "parties"),
    ({"category": "pets"}, "category"),
    ({"summary": "x" * 201}, "summary"),
    ({"people_involved": 0}, "people_involved"),
    ({"amount": -5}, "amount"),
    ({"attachments": [{"name": "a.pdf", "content_type": "application/pdf", "size": 1, "sha256": "zz"}]},
     "attachments"),
    ({"court_id": "court-1"}, "court_id"),
    ({"parties": [dict(person("李四", "13900000000"), nickname="x")]}, "parties"),
]


def test_bad_reports_are_refused_field_by_field_and_store_nothing(intake):
    for changes, field in BAD_REPORTS:
        response = intake.post("/api/v1/cases", neighbour_dispute(3, **changes), auth=CLERK)
        assert response.status_code == 400, (changes, response.text)
        body = response.json()
        assert body["error"] == "validation_failed" and field in body["fields"], (changes, body)
    assert intake.db.cases.count_documents({}) == 0 and intake.db.outbox.count_documents({}) == 0
    assert intake.db.code_sequences.count_documents({}) == 0


def test_a_listing_by_a_division_of_other_digits_is_refused(intake):
    for jurisdiction in ("١٤٠١٠٦", "１４０１０６"):
        response = intake.get("/api/v1/cases", params={"jurisdiction": jurisdiction}, auth=CLERK)
        assert response.status_code == 400 and "jurisdiction" in response.json()["fields"], response.text


def test_a_mediator_may_not_register_and_a_leader_may(intake):
    report = neighbour_dispute(4, channel="leader_assigned", channel_ref="JB-1")
    refused = intake.post("/api/v1/cases", report, auth={"roles": ("mediator",), "jurisdictions": ("140106",)})
    assert refused.status_code == 403 and refused.json()["error"] == "role_forbidden"
    accepted = intake.post("/api/v1/cases", report, auth={"roles": ("leader",), "jurisdictions": ("140100",)})
    assert accepted.status_code == 201
    stored = intake.db.cases.find_one({})
    assert stored["registered_by"]["roles"] == ["leader"]


def test_the_openapi_document_describes_intakes_routes(intake):
    spec = intake.get("/api/v1/openapi.json").json()
    paths = spec["paths"]
    for path in ("/api/v1/cases", "/api/v1/cases/{code}", "/api/v1/public/progress/{code}",
                 "/api/v1/public/cases/{code}/rating"):
        assert path in paths
    schemas = spec["components"]["schemas"]
    assert "channel" in schemas["CaseIntake"]["properties"]
    assert "court_id" not in schemas["CaseIntake"]["properties"]
    assert {"score", "phone_tail", "comment"} <= set(schemas["RatingRequest"]["properties"])
    assert "429" in paths["/api/v1/public/progress/{code}"]["get"]["responses"]
    list_params = paths["/api/v1/cases"]["get"]["parameters"]
    assert list_params and "security" not in paths["/api/v1/public/progress/{code}"]["get"]
