"""Direct broker access for tests: publish raw events, read queues."""

from __future__ import annotations

from kombu import Connection, Exchange, Queue


def publish_event(amqp_uri: str, envelope: dict, source: str | None = None) -> None:
    source = source or envelope["source"]
    exchange = Exchange(f"{source}.events", type="topic", durable=True, auto_delete=False)
    with Connection(amqp_uri, transport_options={"confirm_publish": True}) as conn:
        producer = conn.Producer()
        producer.publish(envelope, exchange=exchange, routing_key=envelope["event_type"],
                         serializer="json", delivery_mode=2, declare=[exchange], retry=True)


def publish_raw(amqp_uri: str, source: str, event_type: str, body: bytes, content_type: str) -> None:
    """A message as someone might publish it by hand (the management UI): any body, any type."""
    exchange = Exchange(f"{source}.events", type="topic", durable=True, auto_delete=False)
    with Connection(amqp_uri, transport_options={"confirm_publish": True}) as conn:
        conn.Producer().publish(body, exchange=exchange, routing_key=event_type, content_type=content_type,
                                content_encoding="utf-8", delivery_mode=2, declare=[exchange], retry=True)


def drain(amqp_uri: str, queue_name: str, limit: int = 100) -> list:
    """Take up to `limit` messages from a queue (acked)."""
    messages = []
    with Connection(amqp_uri) as conn:
        queue = Queue(queue_name, durable=True, no_declare=True).bind(conn.channel())
        while len(messages) < limit:
            message = queue.get(no_ack=True)
            if message is None:
                break
            messages.append(message)
    return messages


def queue_depth(amqp_uri: str, queue_name: str) -> int:
    with Connection(amqp_uri) as conn:
        queue = Queue(queue_name).bind(conn.channel())
        return queue.queue_declare(passive=True)[1]


def tap(amqp_uri: str, queue_name: str, sources) -> None:
    """A durable queue that receives every event of the given sources (routing key #)."""
    with Connection(amqp_uri) as conn:
        channel = conn.channel()
        queue = Queue(queue_name, durable=True, auto_delete=False).bind(channel)
        queue.declare()
        for source in sources:
            exchange = Exchange(f"{source}.events", type="topic", durable=True, auto_delete=False).bind(channel)
            exchange.declare()
            queue.bind_to(exchange=exchange, routing_key="#")
