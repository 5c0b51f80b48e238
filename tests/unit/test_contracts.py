import uuid

import pytest

from services.common.contracts import EVENT_DATA, InvalidEvent, make_envelope, validate_envelope

CASE = {"case_id": "c1", "case_code": "140106-261123-LB-0001-X", "jurisdiction": "140106",
        "category": "labour"}
ASSIGNED = {"tier": "complex", "level": "county", "unit": "140106-centre",
            "rule": {"rule_id": "mass-dispute", "reason": "90 people involved"}}


def envelope(**changes):
    env = make_envelope("routing", "case_assigned", case=CASE, data=dict(ASSIGNED))
    env.update(changes)
    return env


def test_a_good_envelope_validates_and_loads_its_data():
    env = envelope()
    assert uuid.UUID(env["event_id"])
    assert env["source"] == "routing" and env["schema_version"] == 1
    data = validate_envelope(env, expect_source="routing", expect_type="case_assigned")
    assert data["tier"] == "complex" and data["rule"]["rule_id"] == "mass-dispute"


@pytest.mark.parametrize("field", ["event_id", "occurred_at", "case_code", "jurisdiction", "data"])
def test_a_missing_envelope_field_is_rejected(field):
    env = envelope()
    del env[field]
    with pytest.raises(InvalidEvent) as info:
        validate_envelope(env)
    assert field in info.value.errors


@pytest.mark.parametrize("field,value", [
    ("schema_version", "1"), ("event_id", "not-a-uuid"), ("occurred_at", "yesterday"),
    ("jurisdiction", "14010"), ("category", "gossip"), ("data", [1, 2]),
])
def test_a_wrong_type_is_rejected(field, value):
    with pytest.raises(InvalidEvent) as info:
        validate_envelope(envelope(**{field: value}))
    assert field in info.value.errors


def test_an_unknown_event_type_is_rejected_on_dispatch_and_receipt():
    with pytest.raises(InvalidEvent, match="unknown event type"):
        make_envelope("routing", "case_vanished", case=CASE, data={})
    with pytest.raises(InvalidEvent, match="unknown event type"):
        validate_envelope(envelope(event_type="case_vanished"))


def test_data_is_checked_against_its_event_type():
    with pytest.raises(InvalidEvent) as info:
        validate_envelope(envelope(data={"tier": "enormous", "level": "county", "unit": "u",
                                         "rule": {"rule_id": "r", "reason": "x"}}))
    assert "tier" in info.value.errors["data"]


def test_producers_are_strict_and_consumers_tolerate_new_fields():
    data = dict(ASSIGNED, colour_hint="blue")
    with pytest.raises(InvalidEvent):
        make_envelope("routing", "case_assigned", case=CASE, data=data)
    env = envelope(data=data)
    assert "colour_hint" not in validate_envelope(env)
    with pytest.raises(InvalidEvent):
        validate_envelope(env, strict=True)


def test_a_newer_schema_version_than_known_is_refused():
    with pytest.raises(InvalidEvent, match="newer"):
        validate_envelope(envelope(schema_version=2))


def test_an_event_must_arrive_from_the_source_it_names():
    with pytest.raises(InvalidEvent, match="arrived from"):
        validate_envelope(envelope(), expect_source="intake")


def test_every_design_event_type_has_a_contract():
    expected = {
        "intake": {"case_registered", "case_merged", "case_status_changed", "case_closed", "rating_submitted"},
        "routing": {"case_assigned", "case_accepted", "case_returned", "case_resolved", "mediation_requested",
                    "departments_summoned", "summons_acknowledged", "sla_warning", "case_escalated",
                    "leader_assigned"},
        "mediation": {"session_scheduled", "agreement_reached", "mediation_failed", "mediation_withdrawn",
                      "followup_required", "followup_recorded"},
        "court_bridge": {"referral_received", "referral_feedback_sent", "confirmation_applied",
                         "confirmation_granted", "confirmation_rejected", "filing_requested", "case_filed",
                         "enforcement_applied"},
        "notify": {"notification_sent", "notification_failed"},
    }
    for source, types in expected.items():
        assert types <= set(EVENT_DATA[source]), f"{source} lacks {types - set(EVENT_DATA[source])}"


def test_the_subscriber_catalogue_is_what_the_services_really_consume():
    import inspect

    from services.common.consumers import ReliableEventHandler
    from services.common.contracts import SUBSCRIBERS
    from services.court_bridge.service import CourtBridgeService
    from services.intake.service import IntakeService
    from services.mediation.service import MediationService
    from services.notify.service import NotifyService
    from services.routing.service import RoutingService

    handled: dict[tuple[str, str], set[str]] = {}
    for service_cls in (IntakeService, RoutingService, MediationService, CourtBridgeService, NotifyService):
        for _, method in inspect.getmembers(service_cls):
            for entrypoint in getattr(method, "nameko_entrypoints", ()):
                if isinstance(entrypoint, ReliableEventHandler):
                    handled.setdefault((entrypoint.source_service, entrypoint.event_type), set()).add(
                        service_cls.name)
    assert {key: tuple(sorted(names)) for key, names in handled.items()} == \
        {key: tuple(sorted(names)) for key, names in SUBSCRIBERS.items() if names}
    assert set(SUBSCRIBERS) <= {(source, kind) for source, kinds in EVENT_DATA.items() for kind in kinds}
