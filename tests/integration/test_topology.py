"""Every consumer's queue exists before the first event: a subscriber that starts late still
gets what was published while it was away (mandatory routing alone cannot tell, once another
subscriber's queue exists)."""

from nameko.testing.utils import get_extension

from services.common.cli import SERVICE_CLASSES, service_class
from services.common.consumers import ReliableEventHandler
from services.common.contracts import SUBSCRIBERS
from services.common.topology import declare_handler_queues, every_handler_queue, handler_queues
from services.intake.service import IntakeService
from services.routing.service import RoutingService
from tests.support.broker import queue_depth
from tests.support.infra import wait_for
from tests.support.samples import case_payload

CLERK = {"roles": ("intake_clerk",), "jurisdictions": ("140106",)}
DISPATCHER = {"roles": ("dispatcher",), "jurisdictions": ("140106",)}
CLASSES = [service_class(name) for name in SERVICE_CLASSES]


def test_the_queues_declared_up_front_are_the_ones_nameko_consumes_from(container_factory, config_factory):
    for cls in CLASSES:
        container = container_factory(cls, config_factory(cls.name))
        consumed_from = set()
        for entrypoint in container.entrypoints:
            if isinstance(entrypoint, ReliableEventHandler):
                entrypoint.setup()
                consumed_from.add(entrypoint.queue.name)
        assert {queue.name for queue in handler_queues(cls)} == consumed_from, cls.name


def test_the_declared_queues_cover_every_subscription():
    declared = {(queue.source, queue.event_type, queue.service) for queue in every_handler_queue()}
    wanted = {(source, event_type, service) for (source, event_type), services in SUBSCRIBERS.items()
              for service in services}
    assert declared == wanted


def test_a_subscriber_that_starts_late_gets_what_was_published_before(start_service, amqp_uri):
    queues = every_handler_queue()
    declare_handler_queues(amqp_uri, queues)
    intake = start_service(IntakeService)  # only intake runs: court_bridge, notify, routing do not
    created = intake.post("/api/v1/cases", case_payload(), auth=CLERK).json()
    wait_for(lambda: intake.db.outbox.find_one({"envelope.case_id": created["case_id"]})["status"] == "sent",
             message="the event confirmed and marked sent")
    registered = [queue for queue in queues if (queue.source, queue.event_type) == ("intake", "case_registered")]
    assert {queue.service for queue in registered} == {"court_bridge", "notify", "routing"}
    assert [queue_depth(amqp_uri, queue.name) for queue in registered] == [1, 1, 1]

    routing = start_service(RoutingService)  # declares the same queue again: same arguments, no error
    wait_for(lambda: routing.get(f"/api/v1/routing/cases/{created['case_code']}", auth=DISPATCHER).status_code == 200,
             timeout=20, message="routing to take the case it missed")
    handler = get_extension(routing.container, ReliableEventHandler, event_type="case_registered")
    assert handler.queue.name in {queue.name for queue in registered}
