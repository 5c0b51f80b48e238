"""Reliable event handlers: validated on receipt, retried with back-off, then dead-lettered.

nameko acks a message whose handler raised (it is gone), and `requeue_on_error=True`
retries it at once, in a hot loop. Here a failed message is instead copied, with
publisher confirms, to a delay queue whose TTL returns it to the handler's own queue
(1 s, 5 s, 30 s ... as configured) and only then acked; after the last delay it goes to
the service's durable dead-letter queue with the error and the payload intact. An event
that breaks its contract is dead-lettered at once: retrying cannot mend it.
"""

from __future__ import annotations

import logging
import time
from functools import partial

import eventlet
from kombu import Exchange, Queue
from nameko.amqp.publish import Publisher as AmqpPublisher
from nameko.amqp.publish import get_connection
from nameko.constants import PERSISTENT
from nameko.containers import ContainerBeingKilled
from nameko.events import SERVICE_POOL, EventHandler
from nameko.extensions import SharedExtension
from nameko.messaging import QueueConsumer
from pymongo.errors import ConnectionFailure, PyMongoError

from services.common.config import setting
from services.common.contracts import InvalidEvent, iso, utcnow, validate_envelope
from services.common.errors import ServiceUnavailable
from services.common.metrics import ServiceMetrics

log = logging.getLogger(__name__)

ATTEMPT_HEADER = "x-onestop-attempt"
PARK_RETRY_PAUSE_SECONDS = 1.0
# The database unreachable (pymongo's ConnectionFailure: timeouts, refused connections, no
# primary) or a called service not answering (RpcTimeout and the like).
UNAVAILABLE = (ConnectionFailure, ServiceUnavailable)


def waits_for_a_dependency(exc: BaseException) -> bool:
    """An outage, not a fault of the event: the dependency unreachable, or a write conflict that
    outlived the transaction's own retries (a transaction a frozen or failed-over database left
    open holds its documents until the server's transaction lifetime, 60 s, runs out)."""
    return isinstance(exc, UNAVAILABLE) or (
        isinstance(exc, PyMongoError) and exc.has_error_label("TransientTransactionError"))
DEFAULT_RETRY_DELAYS = (1, 5, 30, 120, 600)
_DROPPED_HEADERS = ("x-death", "x-first-death-exchange", "x-first-death-queue",
                    "x-first-death-reason")


def dead_letter_queue_name(service: str) -> str:
    return f"{service}.dead-letter"


def dead_letter_queue(service: str) -> Queue:
    name = dead_letter_queue_name(service)
    return Queue(name, exchange=Exchange(name, type="fanout", durable=True), durable=True)


def retry_return_exchange(service: str) -> Exchange:
    return Exchange(f"{service}.retry-return", type="direct", durable=True)


class RetryTopology(SharedExtension):
    """The service's delay queues, its retry-return exchange and its dead-letter queue.

    Every name starts with the service's own name, so the broker can grant each agency's
    user rights over its own retries only: a service can send a message back to its own
    handler queues, never into another service's.
    """

    def __init__(self) -> None:
        super().__init__()
        self.handler_queues: list[Queue] = []

    def setup(self) -> None:
        config = self.container.config
        self.service = self.container.service_name
        self.amqp_uri = config["AMQP_URI"]
        delays = setting(config, "EVENT_RETRY_DELAYS", DEFAULT_RETRY_DELAYS)
        self.delays_ms = [max(1, int(float(seconds) * 1000)) for seconds in delays]
        self.dead_letters = dead_letter_queue(self.service)
        self.retry_return = retry_return_exchange(self.service)
        self.delay_exchanges = {}
        declarations = [self.retry_return, self.dead_letters.exchange, self.dead_letters]
        for delay_ms in sorted(set(self.delays_ms)):
            name = f"{self.service}.retry.{delay_ms}ms"
            exchange = Exchange(name, type="fanout", durable=True)
            queue = Queue(
                name,
                exchange=exchange,
                durable=True,
                # An expired message goes to the retry-return exchange with its routing key,
                # the handler's own queue name, to which that queue is bound.
                queue_arguments={"x-message-ttl": delay_ms, "x-dead-letter-exchange": self.retry_return.name},
            )
            self.delay_exchanges[delay_ms] = exchange
            declarations += [exchange, queue]
        self.declarations = declarations

    def register_handler_queue(self, queue: Queue) -> None:
        self.handler_queues.append(queue)

    def start(self) -> None:
        with get_connection(self.amqp_uri) as connection:
            channel = connection.channel()
            for entity in self.declarations:
                entity.bind(channel).declare()
            for queue in self.handler_queues:
                bound = queue.bind(channel)
                bound.declare()  # as nameko declares it: same name, arguments and binding
                bound.bind_to(exchange=self.retry_return, routing_key=queue.name)

    @property
    def max_failures(self) -> int:
        return len(self.delays_ms)

    def _copy(self, message, exchange: Exchange, routing_key: str, headers: dict) -> None:
        AmqpPublisher(
            self.amqp_uri, use_confirms=True, mandatory=True, delivery_mode=PERSISTENT
        ).publish(
            message.body,
            exchange=exchange,
            routing_key=routing_key,
            headers=headers,
            content_type=message.content_type,
            content_encoding=message.content_encoding,
            retry=True,
            retry_policy={"max_retries": 3},
        )

    @staticmethod
    def _base_headers(message) -> dict:
        headers = dict(message.headers or {})
        for key in _DROPPED_HEADERS:
            headers.pop(key, None)
        return headers

    def retry_later(self, message, queue_name: str, failures: int, error: str) -> float:
        delay_ms = self.delays_ms[failures - 1]
        headers = self._base_headers(message)
        headers.update({ATTEMPT_HEADER: failures, "x-onestop-last-error": error[:500]})
        self._copy(message, self.delay_exchanges[delay_ms], queue_name, headers)
        return delay_ms / 1000

    def wait_for_dependency(self, message, queue_name: str, failures: int, error: str) -> float:
        """Back in a while, its failure count unchanged: the second delay (5 s by default)."""
        delay_ms = self.delays_ms[min(1, len(self.delays_ms) - 1)]
        headers = self._base_headers(message)
        headers.update({ATTEMPT_HEADER: failures, "x-onestop-last-error": error[:500]})
        self._copy(message, self.delay_exchanges[delay_ms], queue_name, headers)
        return delay_ms / 1000

    def dead_letter(self, message, queue_name: str, failures: int, error: str,
                    source: str, event_type: str) -> None:
        headers = self._base_headers(message)
        headers.update({
            ATTEMPT_HEADER: failures,
            "x-onestop-error": error[:2000],
            "x-onestop-original-queue": queue_name,
            "x-onestop-source": source,
            "x-onestop-event-type": event_type,
            "x-onestop-dead-lettered-at": iso(utcnow()),
        })
        self._copy(message, self.dead_letters.exchange, self.service, headers)

    def dead_letter_depth(self) -> int:
        with get_connection(self.amqp_uri) as connection:
            queue = self.dead_letters.bind(connection.channel())
            _, message_count, _ = queue.queue_declare(passive=True)
            return message_count


class DeadLetteringQueueConsumer(QueueConsumer):
    """nameko's queue consumer, except for a body that cannot be decoded (not JSON, a content
    type it does not accept): kombu logs and acks such a message — it would be gone. Here it is
    dead-lettered by the handler whose queue it arrived on, raw body intact."""

    def on_decode_error(self, message, exc) -> None:
        tag = (message.delivery_info or {}).get("consumer_tag")
        for provider, consumer in self._consumers.items():
            if tag in consumer._active_tags.values() and isinstance(provider, ReliableEventHandler):
                provider.dead_letter_undecodable(message, exc)
                return
        super().on_decode_error(message, exc)


class ReliableEventHandler(EventHandler):
    """`@event_handler` with contract validation, back-off retries and a dead-letter queue.

    The handler receives the envelope with its `data` loaded by the contract schema.
    """

    queue_consumer = DeadLetteringQueueConsumer()
    retry_topology = RetryTopology()
    service_metrics = ServiceMetrics()

    def __init__(self, source_service: str, event_type: str, **kwargs):
        super().__init__(
            source_service,
            event_type,
            handler_type=SERVICE_POOL,
            reliable_delivery=True,
            requeue_on_error=False,
            **kwargs,
        )

    def _labels(self) -> tuple[str, str, str]:
        return self.container.service_name, self.source_service, self.event_type

    def setup(self) -> None:
        super().setup()
        self.retry_topology.register_handler_queue(self.queue)

    def handle_message(self, body, message) -> None:
        try:
            data = validate_envelope(
                body, expect_source=self.source_service, expect_type=self.event_type
            )
        except InvalidEvent as exc:
            detail = f"{exc} {exc.errors}" if exc.errors else str(exc)
            log.error("invalid %s.%s event dead-lettered: %s",
                      self.source_service, self.event_type, detail)
            self._settle_failure(message, self.retry_topology.max_failures + 1, detail,
                                 dead_letter_outcome="invalid")
            return
        event = {**body, "data": data}
        context_data = self.unpack_message_headers(message)
        handle_result = partial(self.handle_result, message, time.perf_counter())
        try:
            self.container.spawn_worker(
                self, (event,), {}, context_data=context_data, handle_result=handle_result
            )
        except ContainerBeingKilled:
            self.queue_consumer.requeue_message(message)

    def dead_letter_undecodable(self, message, exc: Exception) -> None:
        detail = f"undecodable body ({message.content_type}): {exc.__class__.__name__}: {exc}"
        log.error("%s.%s message dead-lettered: %s", self.source_service, self.event_type, detail)
        self._settle_failure(message, self.retry_topology.max_failures + 1, detail, dead_letter_outcome="invalid")

    def handle_result(self, message, started, worker_ctx, result=None, exc_info=None):
        self.service_metrics.handler_latency.labels(*self._labels()).observe(
            time.perf_counter() - started
        )
        if exc_info is None:
            duplicate = getattr(worker_ctx, "onestop_duplicate", False)
            self._count("duplicate" if duplicate else "processed")
            self.queue_consumer.ack_message(message)
        else:
            failures = int((message.headers or {}).get(ATTEMPT_HEADER, 0))
            error = f"{exc_info[0].__name__}: {exc_info[1]}"
            if waits_for_a_dependency(exc_info[1]):
                # The database or a called service is away: the event is not at fault, so the
                # attempt does not count towards the dead-letter limit. It waits and comes back
                # for as long as the outage lasts (readiness and the dependency alert show it).
                log.warning("handler %s of %s.%s waits for a dependency: %s",
                            self.method_name, self.source_service, self.event_type, error)
                self._settle_failure(message, failures, error, waiting=True)
            else:
                failures += 1
                log.warning("handler %s failed on %s.%s (failure %d): %s",
                            self.method_name, self.source_service, self.event_type, failures, error)
                self._settle_failure(message, failures, error)
        return result, exc_info

    def _settle_failure(self, message, failures: int, error: str,
                        dead_letter_outcome: str = "dead_lettered", waiting: bool = False) -> None:
        try:
            if waiting:
                self.retry_topology.wait_for_dependency(message, self.queue.name, failures, error)
                self._count("waiting")
            elif failures <= self.retry_topology.max_failures:
                self.retry_topology.retry_later(message, self.queue.name, failures, error)
                self._count("retried")
            else:
                self.retry_topology.dead_letter(message, self.queue.name, failures, error,
                                                self.source_service, self.event_type)
                self._count(dead_letter_outcome)
                self.service_metrics.events_dead_lettered.labels(*self._labels()).inc()
        except Exception:  # the broker refused the copy: keep the message, never drop it
            log.exception("cannot park a failed %s.%s event; requeued in %.0f s",
                          self.source_service, self.event_type, PARK_RETRY_PAUSE_SECONDS)
            # a pause, or the requeued message comes straight back and spins against the broker
            eventlet.sleep(PARK_RETRY_PAUSE_SECONDS)
            self.queue_consumer.requeue_message(message)
            return
        self.queue_consumer.ack_message(message)

    def _count(self, outcome: str) -> None:
        self.service_metrics.events_consumed.labels(*self._labels(), outcome).inc()


consumes = ReliableEventHandler.decorator
