from datetime import UTC, datetime, timedelta

from services.common import outbox_state
from services.common.contracts import make_envelope

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
CASE = {"case_id": "c1", "case_code": "140106-261123-LB-0001-X", "jurisdiction": "140106",
        "category": "labour"}


def apply(doc, update):
    """Just enough of MongoDB's update operators to follow an entry through its life."""
    doc = dict(doc)
    doc.update(update.get("$set", {}))
    for key in update.get("$unset", {}):
        doc.pop(key, None)
    for key, step in update.get("$inc", {}).items():
        doc[key] = doc.get(key, 0) + step
    return doc


def matches(doc, query):
    for key, condition in query.items():
        if isinstance(condition, dict):
            if key not in doc or not doc[key] <= condition["$lte"]:
                return False
        elif doc.get(key) != condition:
            return False
    return True


def entry():
    envelope = make_envelope("intake", "rating_submitted", case=CASE,
                             data={"score": 5})
    return outbox_state.new_entry(envelope, NOW, writer_lease_seconds=15)


def test_a_new_entry_is_pending_and_leased_to_its_writer():
    doc = entry()
    assert doc["status"] == "pending" and doc["attempts"] == 0
    assert doc["_id"] == doc["envelope"]["event_id"]
    assert not matches(doc, outbox_state.claimable(NOW + timedelta(seconds=14)))
    assert matches(doc, outbox_state.claimable(NOW + timedelta(seconds=15)))


def test_a_claim_hides_the_entry_from_other_replicas_until_the_lease_ends():
    later = NOW + timedelta(seconds=20)
    doc = apply(entry(), outbox_state.claim(later, lease_seconds=15))
    assert doc["attempts"] == 1
    assert not matches(doc, outbox_state.claimable(later + timedelta(seconds=1)))
    assert matches(doc, outbox_state.claimable(later + timedelta(seconds=15)))


def test_a_postponed_entry_stays_pending_with_its_reason():
    doc = apply(entry(), outbox_state.postpone(NOW, "broker: OperationalError", 2))
    assert doc["status"] == "pending" and doc["last_error"] == "broker: OperationalError"
    assert not matches(doc, outbox_state.claimable(NOW + timedelta(seconds=1)))
    assert matches(doc, outbox_state.claimable(NOW + timedelta(seconds=2)))


def test_a_sent_entry_is_never_claimed_again():
    doc = apply(entry(), outbox_state.mark_sent(NOW))
    assert doc["status"] == "sent" and doc["sent_at"] == NOW and "lease_until" not in doc
    assert not matches(doc, outbox_state.claimable(NOW + timedelta(days=365)))


def test_broker_backoff_grows_and_is_capped():
    delays = [outbox_state.broker_backoff(n) for n in range(8)]
    assert delays[:4] == [0.5, 1, 2, 4]
    assert max(delays) == outbox_state.MAX_BROKER_BACKOFF_SECONDS
    assert delays == sorted(delays)


def test_an_unroutable_subscribed_entry_is_retried_ever_more_slowly_but_never_given_up():
    delays = [outbox_state.unroutable_backoff(n) for n in range(1, 12)]
    assert delays[:4] == [1, 2, 4, 8]
    assert delays == sorted(delays) and max(delays) == outbox_state.MAX_UNROUTABLE_BACKOFF_SECONDS
    doc = apply(entry(), outbox_state.postpone(NOW, "unroutable", delays[-1]))
    assert doc["status"] == "pending"
    assert matches(doc, outbox_state.claimable(NOW + timedelta(seconds=delays[-1])))
