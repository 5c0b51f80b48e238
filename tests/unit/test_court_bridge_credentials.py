"""In production, a court still on the shipped development key is never called with it."""

import pytest

from services.court_bridge.adapters import CourtUnavailable, adapter_for
from services.court_bridge.dependencies import unconfigured_courts
from services.court_bridge.reference import load_reference


class RecordingSession:
    def __init__(self):
        self.calls = []

    def request(self, *args, **kwargs):
        self.calls.append((args, kwargs))
        raise AssertionError("a court without its production key was called")


def test_production_lists_the_courts_without_their_own_key():
    config = {"ONESTOP_ENV": "prod", "COURT_API_KEYS": {"140106:court": "yingze-court-key-from-the-secret"}}
    unconfigured = unconfigured_courts(config, load_reference(config))
    assert "140106:court" not in unconfigured
    assert "140105:court" in unconfigured and len(unconfigured) == len(load_reference(config).courts) - 1


def test_development_uses_the_shipped_key():
    assert unconfigured_courts({"ONESTOP_ENV": "dev"}, load_reference({})) == []


def test_an_unusable_court_fails_as_unavailable_without_a_request():
    court = load_reference({}).courts["140105:court"]
    adapter = adapter_for(court, 5, unusable="no production credential for this court")
    session = RecordingSession()
    adapter.http = session
    with pytest.raises(CourtUnavailable, match="no production credential"):
        adapter.send_feedback("m-1", {"outcome": "settled"})
    assert session.calls == []
