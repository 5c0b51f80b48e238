"""ID and phone numbers typed into the summary or description: masked everywhere but the staff view."""

import json

import pytest

from services.common.pii import PiiCipher
from services.intake.service import IntakeService
from tests.support.infra import wait_for
from tests.support.intake_bus import Capture
from tests.support.intake_samples import CLERK, case_payload

ID_NUMBER = "11010519491231002X"
MOBILE = "13912345678"
LANDLINE = "0351-7654321"
SUMMARY = f"王某（身份证{ID_NUMBER}，电话{MOBILE}）反映被拖欠工资"
DESCRIPTION = f"申请人称公司财务电话{LANDLINE}无人接听，另一工友身份证140106198001011234。"
NUMBERS = (ID_NUMBER, MOBILE, "7654321", "140106198001011234")


@pytest.fixture
def intake(start_service):
    return start_service(IntakeService, INTAKE_PUBLIC_RATE_LIMIT=1000)


@pytest.fixture
def bus(intake):
    return Capture(intake.config["AMQP_URI"])


@pytest.fixture
def case(intake, bus):
    response = intake.post("/api/v1/cases", case_payload(summary=SUMMARY, description=DESCRIPTION), auth=CLERK)
    assert response.status_code == 201
    return response.json()


def carries_none(text: str) -> bool:
    return not any(number in text for number in NUMBERS)


def test_the_event_on_the_bus_carries_the_summary_masked(intake, bus, case):
    event = wait_for(lambda: bus.events("case_registered"))[0]
    assert event["data"]["summary"] == "王某（身份证1101**********002X，电话139****5678）反映被拖欠工资"
    assert carries_none(json.dumps(bus.events(), ensure_ascii=False))


def test_the_parties_names_are_masked_in_the_summary_on_the_bus_and_kept_for_staff(intake, bus):
    payload = case_payload(summary="劳动争议：张伟诉太原市某建筑工程有限公司")
    payload["parties"][0]["name"], payload["parties"][1]["name"] = "张伟", "太原市某建筑工程有限公司"
    response = intake.post("/api/v1/cases", payload, auth=CLERK)
    assert response.status_code == 201, response.text
    event = wait_for(lambda: bus.events("case_registered"))[0]
    assert event["data"]["summary"] == "劳动争议：张*诉太***********"
    staff = intake.get(f"/api/v1/cases/{response.json()['case_code']}", auth=CLERK).json()
    assert staff["summary"] == "劳动争议：张伟诉太原市某建筑工程有限公司"


def test_the_stored_document_keeps_the_original_only_encrypted(intake, case):
    doc = intake.db.cases.find_one({"_id": case["case_id"]})
    assert doc["summary"] == "王某（身份证1101**********002X，电话139****5678）反映被拖欠工资"
    assert doc["description"] == "申请人称公司财务电话035****4321无人接听，另一工友身份证1401**********1234。"
    assert carries_none(json.dumps(doc, ensure_ascii=False, default=str))
    cipher = PiiCipher(intake.config["ONESTOP_PII_KEY"])
    assert cipher.decrypt(doc["summary_enc"]) == SUMMARY and cipher.decrypt(doc["description_enc"]) == DESCRIPTION
    assert carries_none(json.dumps(list(intake.db.audit_log.find({}, {"_id": 0})), ensure_ascii=False, default=str))


def test_the_list_and_the_public_progress_never_carry_the_numbers(intake, case):
    listing = intake.get("/api/v1/cases", auth=CLERK)
    assert listing.status_code == 200
    item = listing.json()["items"][0]
    assert item["summary"] == "王某（身份证1101**********002X，电话139****5678）反映被拖欠工资"
    assert carries_none(listing.text) and "summary_enc" not in listing.text
    progress = intake.get(f"/api/v1/public/progress/{case['case_code']}?phone_tail=5678")
    assert progress.status_code == 200 and carries_none(progress.text)


def test_staff_in_scope_read_the_text_as_written(intake, case):
    file = intake.get(f"/api/v1/cases/{case['case_code']}", auth=CLERK)
    assert file.status_code == 200
    assert file.json()["summary"] == SUMMARY and file.json()["description"] == DESCRIPTION
    assert "summary_enc" not in file.text
    elsewhere = intake.get(f"/api/v1/cases/{case['case_code']}",
                           auth={"roles": ("intake_clerk",), "jurisdictions": ("140105",)})
    assert elsewhere.status_code == 404 and carries_none(elsewhere.text)


def test_a_text_without_personal_numbers_is_stored_as_written_and_not_encrypted(intake):
    created = intake.post("/api/v1/cases", case_payload(), auth=CLERK).json()
    doc = intake.db.cases.find_one({"_id": created["case_id"]})
    assert doc["summary"] == case_payload()["summary"] and doc["summary_enc"] is None
    assert doc["description_enc"] is None
    file = intake.get(f"/api/v1/cases/{created['case_code']}", auth=CLERK).json()
    assert file["summary"] == case_payload()["summary"]



def test_numbers_typed_full_width_or_in_groups_are_masked_and_kept_encrypted(intake, bus):
    summary = "李某（电话１３８１２３４５６７８，另留138 1234 5679）反映被拖欠工资"
    description = "身份证140106 19800101 123X，工友电话(139)8765-4321、138.1111.2222；共90人，欠薪12,000元。"
    response = intake.post("/api/v1/cases", case_payload(summary=summary, description=description), auth=CLERK)
    assert response.status_code == 201
    created = response.json()
    doc = intake.db.cases.find_one({"_id": created["case_id"]})
    assert doc["summary"] == "李某（电话138****5678，另留138****5679）反映被拖欠工资"
    assert doc["description"] == ("身份证1401**********123X，工友电话139****4321、138****2222；"
                                  "共90人，欠薪12,000元。")
    cipher = PiiCipher(intake.config["ONESTOP_PII_KEY"])
    assert cipher.decrypt(doc["summary_enc"]) == summary and cipher.decrypt(doc["description_enc"]) == description
    event = next(event for event in wait_for(lambda: bus.events("case_registered"))
                 if event["case_id"] == created["case_id"])
    assert event["data"]["summary"] == doc["summary"]
    written = json.dumps([doc["summary"], doc["description"], bus.events()], ensure_ascii=False)
    for number in ("１３８１２３４５６７８", "1234 5679", "19800101", "8765-4321", "1111.2222"):
        assert number not in written
