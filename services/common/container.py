"""The container image's entry point: run the service named by $SERVICE, or probe it.

    python -m services.common.container              # serve $SERVICE
    python -m services.common.container healthcheck  # exit 0 when its /healthz answers
"""

from __future__ import annotations

import os
import sys
import urllib.request

from services.common.config import SERVICE_PORTS

SIMULATOR = "court_simulator"


def service_port(service: str) -> int:
    address = os.environ.get("WEB_SERVER_ADDRESS", "")
    if address.rpartition(":")[2].isdigit():
        return int(address.rpartition(":")[2])
    if service == SIMULATOR:
        return int(os.environ.get("COURT_SIMULATOR_PORT", "8010"))
    return SERVICE_PORTS[service]


def healthcheck(service: str) -> int:
    path = "/healthz" if service != SIMULATOR else "/"
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{service_port(service)}{path}", timeout=3) as reply:
            return 0 if reply.status == 200 else 1
    except OSError:
        return 1


def main(argv: list[str]) -> int:
    service = os.environ.get("SERVICE", "")
    if service != SIMULATOR and service not in SERVICE_PORTS:
        print(f"SERVICE must be one of {sorted(SERVICE_PORTS) + [SIMULATOR]}, not {service!r}", file=sys.stderr)
        return 2
    if argv[:1] == ["healthcheck"]:
        return healthcheck(service)
    if service == SIMULATOR:
        os.execvp(sys.executable, [sys.executable, "-m", "services.court_bridge.simulator",
                                   "--host", "0.0.0.0", "--port", str(service_port(service))])
    from services.common.cli import main as cli_main

    return cli_main(["serve", service])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
