"""The outbox relay: publishes committed events with publisher confirms and mandatory routing.

A writer publishes its own events right after commit; a sweeper (a timer in every
replica) publishes whatever is left — events whose writer died or whose broker was down.
Each event is claimed with a lease (an atomic find_one_and_update), so replicas never
publish the same event at the same moment; a crash between publish and mark-sent
publishes it again, which consumers absorb (they are idempotent).
"""

from __future__ import annotations

import contextlib
import logging
from functools import partial

from amqp.exceptions import AMQPError
from kombu.exceptions import KombuError
from nameko.amqp.publish import Publisher as AmqpPublisher
from nameko.amqp.publish import UndeliverableMessage
from nameko.constants import PERSISTENT
from nameko.events import get_event_exchange
from nameko.extensions import SharedExtension
from pymongo import ASCENDING, ReturnDocument
from pymongo.errors import PyMongoError

from services.common import outbox_state
from services.common.config import setting
from services.common.contracts import is_subscribed, utcnow
from services.common.metrics import ServiceMetrics
from services.common.mongo import MongoConnection

log = logging.getLogger(__name__)

SWEEP_BATCH = 500
PUBLISHED, WAITING, BROKER_DOWN = "published", "waiting", "broker_down"
# Fail fast when the broker is away: the event stays pending and the sweeper retries.
FAST_FAIL_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.5, "interval_max": 0.5}


class OutboxRelay(SharedExtension):
    connection = MongoConnection()
    service_metrics = ServiceMetrics()

    def setup(self) -> None:
        config = self.container.config
        self.service = self.container.service_name
        self.amqp_uri = config["AMQP_URI"]
        self.lease_seconds = float(setting(config, "OUTBOX_LEASE_SECONDS", 15))
        # A deployment without one of the consumer services (an agency running only its own)
        # names the subscribed event types nobody there will ever read.
        self.not_consumed_here = {str(name) for name in setting(config, "OUTBOX_NOT_CONSUMED_HERE", []) or []}
        self.exchange = get_event_exchange(self.service, config)

    def _publisher(self, mandatory: bool = True) -> AmqpPublisher:
        # Built per call from `amqp_uri` so that a changed address takes effect at once;
        # kombu pools the connections underneath.
        return AmqpPublisher(
            self.amqp_uri,
            use_confirms=True,
            mandatory=mandatory,
            delivery_mode=PERSISTENT,
            serializer="json",
            retry=True,
            retry_policy=FAST_FAIL_POLICY,
            declare=[self.exchange],
            transport_options={**FAST_FAIL_POLICY, "confirm_publish": True},
        )

    @property
    def outbox(self):
        return self.connection.db.outbox

    def publish_soon(self, entries: list[dict]) -> None:
        """Publish what a transaction just committed. Its writer holds the entries' lease, so
        nobody else publishes them meanwhile; they are marked sent together."""
        self.container.spawn_managed_thread(partial(self._publish_fresh, list(entries)))

    def _publish_fresh(self, entries: list[dict]) -> None:
        published = []
        try:
            for doc in entries:
                outcome = self._send(doc)
                if outcome == BROKER_DOWN:
                    break
                if outcome == PUBLISHED:
                    published.append(doc["_id"])
            self._mark_sent(published)
        except PyMongoError as exc:
            log.warning("outbox: fresh events left to the sweeper (%s)", exc.__class__.__name__)

    def sweep(self) -> int:
        """Publish pending events whose lease has run out; returns how many were published."""
        published = 0
        try:
            while published < SWEEP_BATCH:
                now = utcnow()
                doc = self.outbox.find_one_and_update(
                    outbox_state.claimable(now),
                    outbox_state.claim(now, self.lease_seconds),
                    sort=[("lease_until", ASCENDING)],
                    return_document=ReturnDocument.AFTER,
                )
                if doc is None:
                    break
                outcome = self._send(doc)
                if outcome == BROKER_DOWN:
                    break
                if outcome == PUBLISHED:
                    self._mark_sent([doc["_id"]])
                published += 1
        except PyMongoError as exc:
            log.warning("outbox sweep stopped: database unavailable (%s)", exc.__class__.__name__)
        finally:
            # the backlog gauges move whatever stopped the sweep: they are what the alert watches
            with contextlib.suppress(PyMongoError):
                self.refresh_backlog()
        return published

    def refresh_backlog(self) -> None:
        # No index hints: the planner seeks (status, …) on its own, and the embedded store walks
        # a hinted index from end to end — hundreds of ms once the sent history is large.
        pending = self.outbox.count_documents({"status": outbox_state.PENDING})
        oldest = self.outbox.find_one(
            {"status": outbox_state.PENDING}, {"created_at": 1}, sort=[("created_at", ASCENDING)]
        )
        age = (utcnow() - oldest["created_at"]).total_seconds() if oldest else 0.0
        self.service_metrics.outbox_pending.labels(self.service).set(pending)
        self.service_metrics.outbox_oldest_age.labels(self.service).set(max(age, 0.0))

    def _send(self, doc: dict) -> object:
        """Publish one event: PUBLISHED (the caller marks it sent), WAITING (its consumer's queue
        is missing: postponed) or BROKER_DOWN (postponed; stop for now).

        Only a subscribed type is published with mandatory routing: a broker that cannot route
        it means its consumer's queue is missing. A type nobody subscribes to goes to whoever
        listens (an ops tap, a future consumer) and nobody listening is no error — and no
        returned message, whose handling costs the publisher its connection."""
        envelope = doc["envelope"]
        subscribed = self._awaits_a_consumer(doc["event_type"])
        try:
            self._publisher(mandatory=subscribed).publish(
                envelope,
                exchange=self.exchange,
                routing_key=doc["event_type"],
                message_id=doc["_id"],
            )
        except UndeliverableMessage:
            self._postpone(doc, "unroutable", outbox_state.unroutable_backoff(doc.get("attempts", 0)))
            return WAITING
        except (KombuError, AMQPError, OSError, ConnectionError) as exc:
            # AMQPError: the broker closed the channel (an exchange missing, a permission refused)
            self._postpone(doc, f"broker: {exc.__class__.__name__}",
                           outbox_state.broker_backoff(doc.get("attempts", 0)))
            return BROKER_DOWN
        self.service_metrics.events_published.labels(self.service, doc["event_type"]).inc()
        return PUBLISHED

    def _mark_sent(self, ids: list[str]) -> None:
        if ids:
            self.outbox.update_many({"_id": {"$in": ids}, "status": outbox_state.PENDING},
                                    outbox_state.mark_sent(utcnow()))

    def _awaits_a_consumer(self, event_type: str) -> bool:
        return is_subscribed(self.service, event_type) and \
            f"{self.service}.{event_type}" not in self.not_consumed_here

    def _postpone(self, doc: dict, reason: str, seconds: float) -> None:
        self.service_metrics.outbox_publish_failures.labels(
            self.service, reason.split(":")[0]
        ).inc()
        log.warning("outbox: %s %s not published (%s); retry in %.1fs",
                    doc["event_type"], doc["_id"], reason, seconds)
        self.outbox.update_one(
            {"_id": doc["_id"], "status": outbox_state.PENDING},
            outbox_state.postpone(utcnow(), reason, seconds),
        )
