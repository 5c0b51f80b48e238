"""Notify's dispatcher in batches, driven pass by pass (its timers are set an hour apart): what a
batch costs the store, leases taken over from a crashed sender, claims that race, inbox
deliveries that were already written, and a gateway that goes away mid-batch."""

from collections import Counter
from datetime import timedelta

import pytest
from nameko.testing.services import entrypoint_hook
from nameko.testing.utils import get_extension
from pymongo import MongoClient, monitoring

from services.common import mongo
from services.common.contracts import iso
from services.common.dependencies import Store
from services.notify.domain import delivery
from services.notify.domain.delivery import AttemptResult
from tests.support.infra import wait_for
from tests.support.notify_fakes import StubRouting
from tests.support.notify_samples import NOW, envelope, unit
from tests.support.notify_world import SMS, notify_world

CHANNELS = ("sms", "wechat", "email", "inbox")
DEPARTMENTS = [f"140106:dept{number}" for number in range(6)]
QUIET_TIMERS = {"NOTIFY_DISPATCH_SECONDS": 3600, "OUTBOX_SWEEP_SECONDS": 3600, "HOUSEKEEPING_SECONDS": 3600}


class CommandTally(monitoring.CommandListener):
    """The commands one client sent, as (collection, command); session commands as "(transaction)"."""

    def __init__(self) -> None:
        self.commands: list[tuple[str, str]] = []

    def started(self, event) -> None:
        name = event.command_name
        collection = "(transaction)" if name in ("commitTransaction", "abortTransaction") else event.command.get(name)
        self.commands.append((str(collection), name))

    def succeeded(self, event) -> None:
        pass

    def failed(self, event) -> None:
        pass


@pytest.fixture
def tally(monkeypatch):
    """Counts the commands of the notify container's own client (made at its start)."""
    counter = CommandTally()
    monkeypatch.setattr(mongo, "make_client", lambda uri: MongoClient(
        uri, tz_aware=True, serverSelectionTimeoutMS=3000, event_listeners=[counter]))
    return counter


@pytest.fixture
def world(start_service):
    with notify_world(start_service, **QUIET_TIMERS) as running:
        for number, unit_id in enumerate(DEPARTMENTS):
            StubRouting.units[unit_id] = unit(unit_id, f"第{number}号部门", "department", phone=f"0351600{number:04d}",
                                              email=f"dept{number}@yingze.example.cn", wechat=f"oDept{number:010d}")
        yield running


def dispatch(world, channel: str) -> None:
    with entrypoint_hook(world.notify.container, f"dispatch_{channel}") as hook:
        hook()


def repository(world):
    return get_extension(world.notify.container, Store).get_dependency(None)


def summon_six(world) -> list[dict]:
    summons = [{"summons_id": f"sm-{number}", "department": unit_id, "report_by": iso(NOW + timedelta(minutes=30))}
               for number, unit_id in enumerate(DEPARTMENTS)]
    world.publish(envelope("routing", "departments_summoned", {"summons": summons}))
    return wait_for(lambda: len(found := world.notifications(kind="summons")) == 24 and found,
                    message="the 24 summons messages to be queued")


def published(world) -> bool:
    return world.db.outbox.count_documents({"status": "pending"}) == 0


def test_a_batch_costs_the_store_a_few_commands_whatever_its_size(tally, world):
    summon_six(world)
    tally.commands.clear()
    for channel in CHANNELS:
        dispatch(world, channel)
    wait_for(lambda: published(world), message="the outcome events to be published")
    assert {n["status"] for n in world.notifications(kind="summons")} == {"sent"}
    assert world.db.inbox_messages.count_documents({"kind": "summons"}) == 6

    counts = Counter(tally.commands)
    passes = len(CHANNELS)
    # per pass: find the due ones, claim them, record their results — not one command per message
    assert sum(n for (collection, _), n in counts.items() if collection == "notifications") <= 3 * passes, counts
    assert counts[("(transaction)", "commitTransaction")] == passes
    assert counts[("audit_log", "insert")] == passes          # one audit record per case and batch
    assert counts[("outbox", "insert")] == passes              # the batch's notification_sent events at once
    assert counts[("inbox_messages", "insert")] == 1           # six inbox messages in one insert
    # the platform relay publishes a batch's events and records them in one write
    relay = counts[("outbox", "find")] + counts[("outbox", "update")]
    assert relay == passes
    assert sum(counts.values()) <= 7 * passes + 1, counts  # 24 messages: once about 9 commands each
    audit = world.db.audit_log.find_one({"action": "notification.dispatch", "details.channel": "inbox"})
    assert len(audit["details"]["results"]) == 6 and all("inbox_message_id" in r for r in audit["details"]["results"])


def test_a_crashed_senders_messages_are_taken_over_when_its_lease_runs_out(world):
    world.publish(envelope("intake", "case_registered"))
    wait_for(lambda: world.notifications(channel="sms"), message="the receipt SMS to be queued")
    store, now = repository(world), world.clock.now()
    crashed = store.claim_batch("sms", now, lease_seconds=30, limit=50)
    [held] = crashed.documents

    dispatch(world, "sms")
    assert world.sms() == [] and world.notifications(channel="sms")[0]["status"] == "sending"

    world.clock.travel_to(now + timedelta(seconds=31))
    dispatch(world, "sms")
    assert len(world.sms()) == 1
    [sent] = world.notifications(channel="sms")
    assert sent["status"] == "sent" and sent["attempts"] == 1

    # the crashed sender comes back and tries to record what it did: its claim no longer holds the message
    late = delivery.finish_update(delivery.Next(delivery.FAILED), AttemptResult(ok=False, error="late"), 1, now)
    assert store.record_attempts(crashed.token, [(held["_id"], late)], session=None) == set()
    [after] = world.notifications(channel="sms")
    assert after["status"] == "sent" and [h["status"] for h in after["history"]] == ["queued", "sent"]


class RivalClaims:
    """The notifications collection as one dispatcher sees it while another claims `stolen` right after
    the first has read which messages are due."""

    def __init__(self, collection, rival):
        self.collection, self.rival, self.raced = collection, rival, False

    def __getattr__(self, name):
        return getattr(self.collection, name)

    def find(self, *args, **kwargs):
        cursor = self.collection.find(*args, **kwargs)
        if self.raced:
            return cursor
        self.raced = True
        return RacedCursor(cursor, self.rival)


class RacedCursor:
    def __init__(self, cursor, rival):
        self.cursor, self.rival = cursor, rival

    def sort(self, *args, **kwargs):
        self.cursor = self.cursor.sort(*args, **kwargs)
        return self

    def limit(self, count):
        self.cursor = self.cursor.limit(count)
        return self

    def __iter__(self):
        documents = list(self.cursor)
        self.rival()
        return iter(documents)


def test_claims_that_race_share_the_messages_and_never_hold_one_twice(world):
    summon_six(world)
    store, now = repository(world), world.clock.now()
    first = store.claim_batch("email", now, 30, limit=2)
    second = store.claim_batch("email", now, 30, limit=50)
    assert len(first.documents) == 2 and len(second.documents) == 4
    assert not {d["_id"] for d in first.documents} & {d["_id"] for d in second.documents}
    assert store.claim_batch("email", now, 30, limit=50).documents == []

    rival_ids = []

    def rival():
        rival_ids.extend(d["_id"] for d in store.claim_batch("wechat", now, 30, limit=2).documents)

    racing = repository(world)
    racing.db = type("RacingDatabase", (), {"notifications": RivalClaims(store.db.notifications, rival)})()
    mine = racing.claim_batch("wechat", now, 30, limit=50)
    assert len(rival_ids) == 2 and len(mine.documents) == 4
    assert not set(rival_ids) & {d["_id"] for d in mine.documents}
    holders = Counter(n["claim_token"] for n in world.notifications(kind="summons", channel="wechat"))
    assert holders[mine.token] == 4 and sorted(holders.values()) == [2, 4]


def test_an_inbox_message_written_before_is_delivered_not_duplicated(world):
    world.publish(envelope("intake", "case_registered"))
    [queued] = wait_for(lambda: world.notifications(channel="inbox"), message="the inbox message to be queued")
    world.db.inbox_messages.insert_one({  # what a sender whose lease ran out had written
        "_id": "written-before", "notification_id": queued["_id"], "recipient_id": queued["recipient"]["address"],
        "recipient_kind": "party", "case_id": queued["case_id"], "case_code": queued["case_code"],
        "jurisdiction": queued["jurisdiction"], "kind": queued["kind"], "title": queued["title"],
        "body": queued["body"], "link": None, "created_at": NOW, "read_at": None})
    dispatch(world, "inbox")
    [sent] = world.notifications(channel="inbox")
    assert sent["status"] == "sent" and sent["history"][-1]["answer"] == "inbox message written-before"
    assert world.db.inbox_messages.count_documents({"notification_id": queued["_id"]}) == 1
    assert len(world.emitted("notification_sent")) == 1


def test_a_gateway_gone_mid_batch_gives_the_rest_back_unattempted(world):
    summon_six(world)
    world.gateway.script[SMS] = [(503, "busy")]
    dispatch(world, "sms")
    assert len(world.sms()) == 1
    sms = world.notifications(kind="summons", channel="sms")
    [tried] = [n for n in sms if n["attempts"]]
    assert tried["status"] == "queued" and tried["next_attempt_at"] > world.clock.now()
    rest = [n for n in sms if not n["attempts"]]
    assert len(rest) == 5 and all(n["status"] == "queued" and len(n["history"]) == 1 for n in rest)

    dispatch(world, "sms")
    assert {n["_id"] for n in world.notifications(kind="summons", channel="sms", status="sent")} == {
        n["_id"] for n in rest}
    assert world.metric("onestop_gateway_errors_total", channel="sms") == 1
