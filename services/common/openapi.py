"""OpenAPI documents generated from each service's routes and marshmallow schemas (apispec)."""

from __future__ import annotations

import re

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from nameko.extensions import DependencyProvider

from services.common.http import Route

ERROR_SCHEMA = {
    "type": "object",
    "required": ["error", "message", "fields"],
    "properties": {
        "error": {"type": "string"},
        "message": {"type": "string"},
        "fields": {"type": "object"},
    },
}
_CONVERTER = re.compile(r"<(?:[a-z]+:)?([a-zA-Z_][a-zA-Z0-9_]*)>")


def openapi_path(url: str) -> str:
    return _CONVERTER.sub(r"{\1}", url)


def _schema_name(schema) -> str:
    name = (schema if isinstance(schema, type) else type(schema)).__name__
    return name[:-6] if name.endswith("Schema") and len(name) > 6 else name


def build_openapi(service: str, routes: list[Route], version: str = "1.0.0") -> dict:
    spec = APISpec(
        title=f"OneStop {service}",
        version=version,
        openapi_version="3.0.3",
        plugins=[MarshmallowPlugin(schema_name_resolver=_schema_name)],
    )
    spec.components.security_scheme(
        "bearer", {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    )
    spec.components.schema("Error", ERROR_SCHEMA)
    paths: dict[str, dict] = {}
    for route in sorted(routes, key=lambda r: (r.url, r.method)):
        path = openapi_path(route.url)
        parameters = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in _CONVERTER.findall(route.url)
        ]
        if route.query_schema is not None:
            parameters.append({"in": "query", "schema": route.query_schema})
        success = {"description": "OK"}
        if route.response_schema is not None:
            success["content"] = {"application/json": {"schema": route.response_schema}}
        responses = {"200": success}
        for status, description in route.responses.items():
            responses[str(status)] = {"description": description}
        error_ref = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
        for status in ("400", "401", "403", "404", "409", "413", "422"):
            if status in responses:
                responses[status]["content"] = error_ref
        if not route.public:
            responses.setdefault("401", {"description": "no or bad token", "content": error_ref})
            responses.setdefault("403", {"description": "role or jurisdiction", "content": error_ref})
        operation = {
            "operationId": f"{route.method.lower()}_{route.method_name}",
            "summary": route.summary or route.method_name.replace("_", " "),
            "parameters": parameters,
            "responses": responses,
        }
        if route.roles:
            operation["description"] = "Roles: " + ", ".join(route.roles)
            # machine-readable for clients and for the security checks that try every route
            operation["x-onestop-roles"] = list(route.roles)
        if route.request_schema is not None:
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": route.request_schema}},
            }
            responses.setdefault("400", {"description": "invalid input", "content": error_ref})
            responses.setdefault("413", {"description": "body too large", "content": error_ref})
        if not route.public:
            operation["security"] = [{"bearer": []}]
        for method in route.method.split(","):
            paths.setdefault(path, {})[method.lower()] = operation
    for path, operations in paths.items():
        spec.path(path=path, operations=operations)
    return spec.to_dict()


class OpenApiDocument(DependencyProvider):
    """Builds the service's OpenAPI document once, from the container's routes."""

    def start(self) -> None:
        routes = [ep for ep in self.container.entrypoints if isinstance(ep, Route)]
        self.document = build_openapi(self.container.service_name, routes)

    def get_dependency(self, worker_ctx) -> dict:
        return self.document
