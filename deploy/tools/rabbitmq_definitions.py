"""Write the vhost's exchanges and the agencies' permissions into deploy/rabbitmq/definitions.json
(users and their password hashes are kept as they are).

    python deploy/tools/rabbitmq_definitions.py          # rewrite the file
    python deploy/tools/rabbitmq_definitions.py --check  # exit 1 when the file is out of date

Each agency's user may configure only names of its own (so no agency can delete another's
exchange or queue), publish only to its own `<service>.events` exchange, bind queues only to
the exchanges of the services it subscribes to (services/common/contracts.py SUBSCRIBERS) and,
through topic permissions, only for the event types it consumes. On the shared `nameko-rpc`
exchange a caller may publish only the RPC methods it calls (RPC_CALLS) and an RPC server only
replies; every user binds there only its own RPC queue (`<service>.*`) or reply queues (a
reply's routing key is a UUID), so no agency can listen in on another's calls or replies.

Because configure is limited to its own names, a service must not (re)declare the exchanges
of others: the event exchanges and `nameko-rpc` are declared here, and the services run with
DECLARE_EVENT_EXCHANGES=false (nameko's setting).

Every consumer's queue and its bindings are declared here too (services/common/topology.py):
an event published before its last subscriber first starts is kept for it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from services.common.config import SERVICE_PORTS  # noqa: E402
from services.common.contracts import SUBSCRIBERS  # noqa: E402
from services.common.topology import every_handler_queue  # noqa: E402

DEFINITIONS = ROOT / "deploy/rabbitmq/definitions.json"
VHOST = "onestop"
RPC_EXCHANGE = "nameko-rpc"
SERVICES = tuple(SERVICE_PORTS)

# Who calls which RPC method (the TimedRpcProxy users). A call not listed here is refused
# by the broker: add it when a service starts calling it.
RPC_CALLS: dict[str, tuple[str, ...]] = {
    "notify": ("intake.contacts", "routing.lookup_unit"),  # addresses, just before sending
    "mediation": ("intake.contacts",),  # the parties' names on an agreement
    "court_bridge": ("intake.register_case",),  # a court's referrals
}
RPC_SERVERS = ("intake", "routing")  # the services with @rpc entrypoints
# nameko's reply routing key: str(uuid4()). No braces: RabbitMQ expands {…} in topic patterns.
REPLY_KEY = "[0-9a-f]+-[0-9a-f]+-[0-9a-f]+-[0-9a-f]+-[0-9a-f]+"


def one_of(patterns) -> str:
    return "^(" + "|".join(patterns) + ")$"


def escaped(name: str) -> str:
    return name.replace(".", "\\.")


def subscriptions(service: str) -> dict[str, list[str]]:
    """source -> the event types `service` consumes from it."""
    found: dict[str, list[str]] = {}
    for (source, event_type), consumers in sorted(SUBSCRIBERS.items()):
        if service in consumers:
            found.setdefault(source, []).append(event_type)
    return found


def permission(service: str) -> dict:
    own = [f"{service}\\.(dead-letter|retry-return|retry\\..*)", f"evt-.*--{service}\\..*",
           f"rpc-{service}", f"rpc\\.reply-{service}-.*"]
    # nameko declares nameko-rpc on every start (RPC server or caller alike), so every user
    # configures it; its routing keys are held by the topic permissions below.
    shared = [RPC_EXCHANGE] if service in RPC_SERVERS or service in RPC_CALLS else []
    sources = [f"{escaped(source)}\\.events" for source in subscriptions(service)]
    return {
        "user": service,
        "vhost": VHOST,
        "configure": one_of([f"{service}\\.events", *own, *shared]),
        "write": one_of([f"{service}\\.events", *own, *shared]),
        "read": one_of([*sources, *own, *shared]),
    }


def topic_permissions(service: str) -> list[dict]:
    entries = [{"user": service, "vhost": VHOST, "exchange": f"{source}.events",
                "write": "^$", "read": one_of(types)}
               for source, types in subscriptions(service).items()]
    calls = [escaped(method) for method in RPC_CALLS.get(service, ())]
    serves = service in RPC_SERVERS
    if calls or serves:
        entries.append({
            "user": service, "vhost": VHOST, "exchange": RPC_EXCHANGE,
            "write": one_of(calls + ([REPLY_KEY] if serves else [])),
            "read": one_of(([REPLY_KEY] if calls else []) + ([f"{service}\\.\\*"] if serves else [])),
        })
    return entries


def exchanges() -> list[dict]:
    names = [f"{service}.events" for service in SERVICES] + [RPC_EXCHANGE]
    topics = [{"name": name, "vhost": VHOST, "type": "topic", "durable": True, "auto_delete": False,
               "internal": False, "arguments": {}} for name in names]
    returns = [{"name": f"{service}.retry-return", "vhost": VHOST, "type": "direct", "durable": True,
                "auto_delete": False, "internal": False, "arguments": {}} for service in SERVICES]
    return topics + returns


def queues() -> list[dict]:
    return [{"name": queue.name, "vhost": VHOST, "durable": True, "auto_delete": False, "arguments": {}}
            for queue in every_handler_queue()]


def bindings() -> list[dict]:
    found = []
    for queue in every_handler_queue():
        for source, key in ((queue.exchange, queue.event_type), (f"{queue.service}.retry-return", queue.name)):
            found.append({"source": source, "vhost": VHOST, "destination": queue.name,
                          "destination_type": "queue", "routing_key": key, "arguments": {}})
    return found


def build(current: dict) -> dict:
    admin = [p for p in current["permissions"] if p["user"] == "admin"]
    return {
        **current,
        "permissions": admin + [permission(service) for service in SERVICES],
        "topic_permissions": [entry for service in SERVICES for entry in topic_permissions(service)],
        "exchanges": exchanges(),
        "queues": queues(),
        "bindings": bindings(),
    }


def render(definitions: dict) -> str:
    return json.dumps(definitions, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    current = json.loads(DEFINITIONS.read_text())
    wanted = render(build(current))
    if argv[:1] == ["--check"]:
        if DEFINITIONS.read_text() != wanted:
            print(f"{DEFINITIONS} is out of date: run python {Path(__file__).relative_to(ROOT)}", file=sys.stderr)
            return 1
        return 0
    DEFINITIONS.write_text(wanted)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
