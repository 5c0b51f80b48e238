"""Operators' view of a dead-letter queue: list parked events, or replay them to their queue.

Listed messages stay unacknowledged until the channel closes, so they return to the queue
in order; a replayed one is acknowledged only once the broker has confirmed its copy and routed
it to its queue (a queue since deleted, a broker that refuses: it stays parked, and says so).
"""

from __future__ import annotations

import contextlib
import json

from kombu.exceptions import KombuError
from nameko.amqp.publish import Publisher, UndeliverableMessage, get_connection
from nameko.constants import PERSISTENT

from services.common.consumers import ATTEMPT_HEADER, dead_letter_queue, retry_return_exchange


def show_or_replay(config: dict, service: str, *, replay: bool, limit: int) -> int:
    queue = dead_letter_queue(service)
    count = 0
    # A channel of its own, closed at the end: the messages it did not ack go back to the queue then
    # (the pooled connection outlives this call).
    with get_connection(config["AMQP_URI"]) as connection, contextlib.closing(connection.channel()) as channel:
        bound = queue.bind(channel)
        bound.declare()
        publisher = Publisher(config["AMQP_URI"], use_confirms=True, mandatory=True, delivery_mode=PERSISTENT)
        kept = 0
        while count < limit:
            message = bound.get(no_ack=False)
            if message is None:
                break
            headers = dict(message.headers or {})
            print(json.dumps({
                "original_queue": headers.get("x-onestop-original-queue"),
                "event": f"{headers.get('x-onestop-source')}.{headers.get('x-onestop-event-type')}",
                "error": headers.get("x-onestop-error"),
                "attempts": headers.get(ATTEMPT_HEADER),
                "dead_lettered_at": headers.get("x-onestop-dead-lettered-at"),
                "body": _text(message.body)[:2000],
            }, ensure_ascii=False))
            if replay and headers.get("x-onestop-original-queue"):
                headers[ATTEMPT_HEADER] = 0
                try:
                    # Through the service's own retry-return exchange: its own broker user may.
                    publisher.publish(message.body, exchange=retry_return_exchange(service),
                                      routing_key=headers["x-onestop-original-queue"], headers=headers,
                                      content_type=message.content_type,
                                      content_encoding=message.content_encoding)
                except (UndeliverableMessage, KombuError, OSError) as exc:
                    kept += 1
                    print(json.dumps({"kept": headers["x-onestop-original-queue"],
                                      "reason": f"{exc.__class__.__name__}: {exc}"[:300]}))
                else:
                    message.ack()
            count += 1
    if kept:
        print(f"{kept} event(s) kept in {queue.name}: their queue is gone or the broker refused the copy")
    print(f"{count - kept} dead-lettered event(s) {'replayed' if replay else 'listed'} for {service}")
    return 1 if kept else 0


def _text(body: bytes | str) -> str:
    """kombu hands a body with a text encoding over as str, any other as bytes."""
    return body if isinstance(body, str) else body.decode("utf-8", "replace")
