"""What every OneStop service has: health, readiness, metrics, its OpenAPI document, and
the timers that relay the outbox and watch the dead-letter queue."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST
from werkzeug.wrappers import Response

from services.common.dependencies import Health, Outbox, every
from services.common.http import route
from services.common.metrics import Metrics
from services.common.openapi import OpenApiDocument


class PlatformService:
    name: str

    health = Health()
    outbox = Outbox()
    metrics = Metrics()
    openapi_document = OpenApiDocument()

    @route("GET", "/healthz", public=True, summary="alive")
    def healthz(self, request):
        return {"status": "ok", "service": self.name}

    @route("GET", "/readyz", public=True, summary="broker and database reachable",
           responses={503: "not ready"})
    def readyz(self, request):
        readiness = self.health.readiness()
        return (200 if readiness["ready"] else 503), readiness

    @route("GET", "/metrics", public=True, summary="Prometheus metrics")
    def prometheus_metrics(self, request):
        return Response(self.metrics.exposition(), content_type=CONTENT_TYPE_LATEST)

    @route("GET", "/api/v1/openapi.json", public=True, summary="this service's OpenAPI document")
    def openapi(self, request):
        return self.openapi_document

    @every("OUTBOX_SWEEP_SECONDS", 1.0)
    def relay_outbox(self):
        self.outbox.sweep()

    @every("HOUSEKEEPING_SECONDS", 15.0, eager=True)
    def housekeeping(self):
        self.health.readiness()
        self.health.refresh_dead_letter_depth()
