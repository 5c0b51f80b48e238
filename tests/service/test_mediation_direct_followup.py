"""A case resolved directly by its unit, with no mediation, still goes on the risk list when
its category calls for it; a replay changes nothing; other categories are not followed up."""

import uuid

from services.common.contracts import make_envelope
from services.mediation.service import MediationService
from tests.support.broker import publish_event
from tests.support.infra import wait_for
from tests.support.mediation_samples import case_code, freeze, outbox


def resolved(category: str, code: str) -> dict:
    return make_envelope("routing", "case_resolved", case={
        "case_id": uuid.uuid4().hex, "case_code": code, "jurisdiction": "140106001001", "category": category},
        data={"unit": "140106001001:committee", "actor": "committee-clerk", "reason": "当场调处化解"})


def test_a_neighbour_feud_resolved_directly_is_followed_up_once(start_service):
    mediation = start_service(MediationService)
    freeze(mediation)
    event = resolved("neighbour", case_code("neighbour", 7))
    publish_event(mediation.config["AMQP_URI"], event)
    publish_event(mediation.config["AMQP_URI"], event)  # delivered twice
    required = wait_for(lambda: outbox(mediation, "followup_required"), message="the follow-up to be planned")
    assert required[0]["case_id"] == event["case_id"] and required[0]["data"]["reason"]
    followup = mediation.db.followups.find_one({"case_id": event["case_id"]})
    assert followup["outcome"] == "resolved" and followup["planned_visits"] == 2
    assert followup["first_visit_due"] > followup["created_at"]
    wait_for(lambda: mediation.db.inbox.count_documents({}) == 1, message="the event recorded once")
    assert mediation.db.followups.count_documents({"case_id": event["case_id"]}) == 1
    assert len(outbox(mediation, "followup_required")) == 1


def test_a_labour_case_resolved_directly_is_not_followed_up(start_service):
    mediation = start_service(MediationService)
    event = resolved("labour", case_code("labour", 8))
    marker = resolved("domestic_violence", case_code("domestic_violence", 9))
    publish_event(mediation.config["AMQP_URI"], event)
    publish_event(mediation.config["AMQP_URI"], marker)
    wait_for(lambda: mediation.db.followups.find_one({"case_id": marker["case_id"]}), message="the marker case")
    assert mediation.db.followups.find_one({"case_id": event["case_id"]}) is None
