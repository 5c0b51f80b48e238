"""Operators' view of a dead-letter queue: list parked events, or replay them to their queue.

Listed messages stay unacknowledged until the channel closes, so they return to the queue
in order; replayed ones are acknowledged once republished.
"""

from __future__ import annotations

import json

from nameko.amqp.publish import get_connection

from services.common.consumers import ATTEMPT_HEADER, dead_letter_queue, retry_return_exchange


def show_or_replay(config: dict, service: str, *, replay: bool, limit: int) -> int:
    queue = dead_letter_queue(service)
    count = 0
    with get_connection(config["AMQP_URI"]) as connection:
        channel = connection.channel()
        bound = queue.bind(channel)
        bound.declare()
        producer = connection.Producer(channel) if replay else None
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
                "body": message.body.decode("utf-8", "replace")[:2000],
            }, ensure_ascii=False))
            if replay and headers.get("x-onestop-original-queue"):
                headers[ATTEMPT_HEADER] = 0
                # Through the service's own retry-return exchange: its own broker user may.
                producer.publish(message.body, exchange=retry_return_exchange(service),
                                 routing_key=headers["x-onestop-original-queue"],
                                 headers=headers, content_type=message.content_type,
                                 content_encoding=message.content_encoding, delivery_mode=2)
                message.ack()
            count += 1
    print(f"{count} dead-lettered event(s) {'replayed' if replay else 'listed'} for {service}")
    return 0
