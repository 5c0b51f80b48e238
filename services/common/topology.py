"""Every consumer's queue, declared before any event is published.

A producer publishes a subscribed type with mandatory routing, which the broker reports as
unroutable only when *no* queue is bound: while one subscriber's queue exists and another's
does not yet (a first deployment where routing starts before notify), the event would be
confirmed and marked sent, and the late subscriber would never get it. So the queues exist
before the services run: `make run` declares them (declare_handler_queues), and the broker
definitions of docker compose and Kubernetes hold them (deploy/tools/rabbitmq_definitions.py).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass

from kombu import Exchange, Queue
from nameko.amqp.publish import get_connection
from nameko.events import SERVICE_POOL
from nameko.extensions import ENTRYPOINT_EXTENSIONS_ATTR

from services.common.consumers import ReliableEventHandler, retry_return_exchange


@dataclass(frozen=True)
class HandlerQueue:
    name: str
    source: str
    event_type: str
    service: str

    @property
    def exchange(self) -> str:
        return f"{self.source}.events"


def handler_queues(service_cls: type) -> list[HandlerQueue]:
    """The queues nameko declares for the class's event handlers, named as nameko names them."""
    found = []
    for method_name, method in inspect.getmembers(service_cls, inspect.isfunction):
        for entrypoint in getattr(method, ENTRYPOINT_EXTENSIONS_ATTR, ()):
            if not isinstance(entrypoint, ReliableEventHandler):
                continue
            if entrypoint.handler_type != SERVICE_POOL:
                raise ValueError(f"{service_cls.name}.{method_name}: only service-pool handlers are declared up front")
            found.append(HandlerQueue(
                name=f"evt-{entrypoint.source_service}-{entrypoint.event_type}--{service_cls.name}.{method_name}",
                source=entrypoint.source_service, event_type=entrypoint.event_type, service=service_cls.name))
    return sorted(found, key=lambda queue: queue.name)


def every_handler_queue() -> list[HandlerQueue]:
    """The queues of all five services (imports them)."""
    from services.common.cli import SERVICE_CLASSES, service_class

    return [queue for name in SERVICE_CLASSES for queue in handler_queues(service_class(name))]


def declare_handler_queues(amqp_uri: str, queues: list[HandlerQueue]) -> None:
    """Declare each queue as nameko will (durable, bound to its source's events exchange by
    event type) and as the retry topology binds it (to its service's retry-return exchange)."""
    with get_connection(amqp_uri) as connection:
        channel = connection.channel()
        try:
            for spec in queues:
                events = Exchange(spec.exchange, type="topic", durable=True, auto_delete=False)
                returns = retry_return_exchange(spec.service)
                events.bind(channel).declare()
                returns.bind(channel).declare()
                queue = Queue(spec.name, exchange=events, routing_key=spec.event_type, durable=True,
                              auto_delete=False).bind(channel)
                queue.declare()
                queue.bind_to(exchange=returns, routing_key=spec.name)
        finally:
            channel.close()
