"""JSON HTTP entrypoints: auth, body limits, the error shape, metrics (DESIGN.md §5, §8).

`@route("POST", "/api/v1/cases", roles=("intake_clerk",))` declares a route; the handler
gets the werkzeug request with `request.principal` set (None on public routes) and
returns a dict/list (200), a `(status, body)` tuple, or a werkzeug Response. Any
exception becomes a JSON error; an unexpected one is logged and answered 500 without
a stack trace.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal

from marshmallow import Schema, ValidationError
from nameko.web.handlers import HttpRequestHandler
from nameko.web.server import WebServer, WsgiApp
from pymongo.errors import ConnectionFailure, ExecutionTimeout, ServerSelectionTimeoutError
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge
from werkzeug.exceptions import MethodNotAllowed as WerkzeugMethodNotAllowed
from werkzeug.exceptions import NotFound as WerkzeugNotFound
from werkzeug.wrappers import Request, Response

from services.common.auth import principal_from_header
from services.common.config import setting
from services.common.contracts import iso
from services.common.errors import (
    ApiError,
    Forbidden,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    ServiceUnavailable,
    ValidationFailed,
)
from services.common.metrics import ServiceMetrics

log = logging.getLogger(__name__)

DEFAULT_MAX_BODY_BYTES = 1024 * 1024
MAX_JSON_DEPTH = 32


def _json_default(value):
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, set | frozenset):
        return sorted(value)
    return str(value)


def json_response(payload, status: int = 200, headers: dict | None = None) -> Response:
    body = json.dumps(payload, ensure_ascii=False, default=_json_default)
    return Response(body, status=status, headers=headers, mimetype="application/json")


def error_response(error: ApiError) -> Response:
    return json_response(error.as_body(), status=error.status)


class JsonWsgiApp(WsgiApp):
    """Unknown routes and wrong methods answer in the JSON error shape too."""

    def __call__(self, environ, start_response):
        request = Request(environ, shallow=True)
        adapter = self.url_map.bind_to_environ(environ)
        try:
            provider, values = adapter.match()
            request.path_values = values
            response = provider.handle_request(request)
        except WerkzeugNotFound:
            response = error_response(NotFound("no such route"))
        except WerkzeugMethodNotAllowed:
            response = error_response(MethodNotAllowed("method not allowed on this route"))
        except HTTPException as exc:
            response = json_response(
                {"error": "http_error", "message": exc.description, "fields": {}},
                status=exc.code or 400,
            )
        return response(environ, start_response)


class AnswerNotFault(logging.Filter):
    """nameko logs every expected exception at WARNING with its traceback: a 404 or a 400 would
    put a stack trace in the log for each bad request (hundreds under a scan). An answered error
    is one INFO line with its reason; the access log has its status."""

    PREFIX = "(expected) error handling worker"

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str) and record.msg.startswith(self.PREFIX):
            record.levelno, record.levelname = logging.INFO, "INFO"
            record.exc_info, record.exc_text = None, None
            return logging.getLogger(record.name).isEnabledFor(logging.INFO)
        return True

    @classmethod
    def install(cls) -> None:
        logger = logging.getLogger("nameko.containers")
        if not any(isinstance(existing, cls) for existing in logger.filters):
            logger.addFilter(cls())


class JsonWebServer(WebServer):
    def get_wsgi_app(self):
        return JsonWsgiApp(self)


class Route(HttpRequestHandler):
    server = JsonWebServer()
    service_metrics = ServiceMetrics()

    def __init__(
        self,
        method: str,
        url: str,
        *,
        roles: Iterable[str] = (),
        public: bool = False,
        summary: str = "",
        request_schema: type[Schema] | None = None,
        query_schema: type[Schema] | None = None,
        response_schema: type[Schema] | None = None,
        responses: dict[int, str] | None = None,
        **kwargs,
    ):
        # ApiErrors are answers, not faults (nameko logs them as expected; see AnswerNotFault).
        kwargs.setdefault("expected_exceptions", (ApiError,))
        super().__init__(method, url, **kwargs)
        self.roles = tuple(roles)
        self.public = public
        self.summary = summary
        self.request_schema = request_schema
        self.query_schema = query_schema
        self.response_schema = response_schema
        self.responses = responses or {}

    def setup(self) -> None:
        super().setup()
        AnswerNotFault.install()
        config = self.container.config
        self.jwt_secret = config["ONESTOP_JWT_SECRET"]
        self.max_body = int(setting(config, "MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES))

    def handle_request(self, request):
        started = time.perf_counter()
        try:
            self._admit(request)
            response = super().handle_request(request)
        except Exception as exc:
            response = self.response_from_exception(exc)
        service = self.container.service_name
        self.service_metrics.http_requests.labels(
            service, self.method, self.url, str(response.status_code)
        ).inc()
        self.service_metrics.http_latency.labels(service, self.method, self.url).observe(
            time.perf_counter() - started
        )
        return response

    def _admit(self, request) -> None:
        if request.content_length is not None and request.content_length > self.max_body:
            raise PayloadTooLarge(f"request body is over {self.max_body} bytes")
        request.max_content_length = self.max_body
        request.principal = None
        if self.public:
            return
        principal = principal_from_header(self.jwt_secret, request.headers.get("Authorization"))
        if self.roles and not principal.has_role("admin", *self.roles):
            raise Forbidden(
                f"this route needs one of the roles: {', '.join(self.roles)}",
                code="role_forbidden",
            )
        request.principal = principal

    def response_from_result(self, result):
        if isinstance(result, Response):
            return result
        if isinstance(result, tuple):
            status, payload = result
            return json_response(payload, status=status)
        return json_response(result)

    def response_from_exception(self, exc):
        if isinstance(exc, ApiError):
            error = exc
        elif isinstance(exc, RequestEntityTooLarge):
            error = PayloadTooLarge(f"request body is over {self.max_body} bytes")
        elif isinstance(exc, ConnectionFailure | ServerSelectionTimeoutError | ExecutionTimeout):
            log.warning("database unavailable during %s %s: %s", self.method, self.url, exc)
            error = ServiceUnavailable("the database is unavailable; try again shortly")
        else:
            log.error("unexpected error in %s %s", self.method, self.url, exc_info=exc)
            return json_response(
                {"error": "internal", "message": "internal error; it has been logged",
                 "fields": {}},
                status=500,
            )
        if error.status in (401, 403):
            self.service_metrics.auth_refusals.labels(
                self.container.service_name, error.code
            ).inc()
        return error_response(error)


route = Route.decorator


def _is_text(value: str) -> bool:
    """JSON may escape a lone surrogate (\\ud800) that no UTF-8 store or driver can hold."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _check_keys(value, path: str = "", depth: int = 0) -> None:
    if depth > MAX_JSON_DEPTH:
        raise ValidationFailed("JSON is nested too deeply", {path or "body": ["too deep"]})
    if isinstance(value, dict):
        for key, item in value.items():
            if key.startswith("$") or "\x00" in key:
                raise ValidationFailed(
                    "field names may not start with '$'", {f"{path}{key}": ["forbidden name"]}
                )
            if not _is_text(key):
                raise ValidationFailed("a field name is not valid text", {path or "body": ["invalid text"]})
            _check_keys(item, f"{path}{key}.", depth + 1)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_keys(item, f"{path}{index}.", depth + 1)
    elif isinstance(value, str) and not _is_text(value):
        raise ValidationFailed("a value is not valid text (a lone surrogate)",
                               {path.rstrip(".") or "body": ["invalid text"]})


def parse_json(request) -> object:
    raw = request.get_data(cache=True)
    if not raw:
        raise ValidationFailed("a JSON body is required", {"body": ["missing"]}, code="invalid_json")
    try:
        value = json.loads(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ValidationFailed("the body is not valid JSON", {"body": [str(exc)[:200]]},
                               code="invalid_json") from exc
    except RecursionError as exc:  # the decoder recurses per level: thousands of "[" exhaust the stack
        raise ValidationFailed("JSON is nested too deeply", {"body": ["too deep"]}) from exc
    _check_keys(value)
    return value


def load_body(request, schema: Schema) -> dict:
    value = parse_json(request)
    if not isinstance(value, dict):
        raise ValidationFailed("the body must be a JSON object", {"body": ["not an object"]})
    try:
        return schema.load(value)
    except ValidationError as exc:
        raise ValidationFailed("the request has invalid fields", exc.normalized_messages()) from exc


def load_query(request, schema: Schema) -> dict:
    args = {key: values[-1] for key, values in request.args.lists()}
    _check_keys(args)
    try:
        return schema.load(args)
    except ValidationError as exc:
        raise ValidationFailed("the query has invalid parameters", exc.normalized_messages()) from exc
