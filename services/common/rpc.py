"""RPC to another service with a timeout (nameko 2.x's RpcProxy waits forever).

    intake_rpc = TimedRpcProxy("intake")
    ...
    self.intake_rpc.register_case(payload)   # raises RpcTimeout after RPC_TIMEOUT_SECONDS

Only for calls whose caller must have an answer now (DESIGN.md §4); everything else is
an event.
"""

from __future__ import annotations

import eventlet
from amqp.exceptions import AccessRefused, NotAllowed
from kombu.exceptions import OperationalError
from nameko.rpc import RpcProxy

from services.common.config import setting
from services.common.errors import ServiceUnavailable


class RpcTimeout(ServiceUnavailable):
    code = "upstream_timeout"


class RpcRefused(ServiceUnavailable):
    """The broker refused the call (this agency's user may not call it) or is unreachable."""

    code = "upstream_unavailable"


class _TimedServiceProxy:
    def __init__(self, proxy, service: str, timeout: float):
        self._proxy = proxy
        self._service = service
        self._timeout = timeout

    def __getattr__(self, method_name: str):
        method = getattr(self._proxy, method_name)

        def call(*args, **kwargs):
            try:
                reply = method.call_async(*args, **kwargs)
            except (AccessRefused, NotAllowed, OperationalError, ConnectionError) as exc:
                raise RpcRefused(f"{self._service}.{method_name} cannot be called: {exc.__class__.__name__}") from exc
            try:
                with eventlet.Timeout(self._timeout):
                    return reply.result()
            except eventlet.Timeout as exc:
                raise RpcTimeout(
                    f"{self._service}.{method_name} did not answer within {self._timeout:g} s"
                ) from exc

        return call


class TimedRpcProxy(RpcProxy):
    def setup(self) -> None:
        super().setup()
        self.timeout = float(setting(self.container.config, "RPC_TIMEOUT_SECONDS", 10))

    def get_dependency(self, worker_ctx) -> _TimedServiceProxy:
        return _TimedServiceProxy(super().get_dependency(worker_ctx), self.target_service, self.timeout)
