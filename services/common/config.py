"""Configuration: one YAML file with ${VAR:default} substitution, as `nameko run --config` reads it.

The same loader serves `onestop serve`, the tests and `nameko run`, so a deployment's
environment variables mean the same thing everywhere.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from nameko.cli.main import setup_yaml_parser

DEFAULT_CONFIG_PATH = Path(__file__).resolve().parents[2] / "config" / "onestop.yaml"

SERVICE_PORTS = {
    "intake": 8001,
    "routing": 8002,
    "mediation": 8003,
    "court_bridge": 8004,
    "notify": 8005,
}



def embedded_store_uri(port: int) -> str:
    """The embedded SecantusDB server on loopback. Retryable writes are off for it: it keeps a
    record of each one and scans them all on every later write (measured 3-5x slower writes);
    a real MongoDB keeps the driver's default (on)."""
    return f"mongodb://127.0.0.1:{port}/?directConnection=true&retryWrites=false"


def service_ports(environ: dict | None = None) -> dict[str, int]:
    """The ports of this system: 8001-8005, moved by ONESTOP_PORT_OFFSET so that a second
    system (the end-to-end tests beside a `make run`) can run on the same machine."""
    offset = int((environ if environ is not None else os.environ).get("ONESTOP_PORT_OFFSET") or 0)
    return {service: port + offset for service, port in SERVICE_PORTS.items()}


# Development-only secrets: a production deployment refuses to start with any of these.
DEV_JWT_SECRET = "onestop-dev-jwt-secret-not-for-production"
DEV_PII_KEY = "onestop-dev-pii-key-not-for-production"
MIN_SECRET_LENGTH = 32

_yaml_ready = False


class ConfigError(Exception):
    """The configuration cannot be used; the message says what to change."""


def _ensure_yaml_parser() -> None:
    global _yaml_ready
    if not _yaml_ready:
        setup_yaml_parser()
        _yaml_ready = True


def load_config(path: str | os.PathLike | None = None, service: str | None = None) -> dict:
    """Read the YAML config with environment substitution and per-service defaults."""
    _ensure_yaml_parser()
    config_path = Path(path or os.environ.get("ONESTOP_CONFIG") or DEFAULT_CONFIG_PATH)
    with open(config_path, encoding="utf-8") as handle:
        config = yaml.safe_load(handle) or {}
    if service:
        apply_service_defaults(config, service)
    return config


def apply_service_defaults(config: dict, service: str) -> dict:
    if service not in SERVICE_PORTS:
        raise ConfigError(f"unknown service {service!r}; one of {sorted(SERVICE_PORTS)}")
    if not config.get("WEB_SERVER_ADDRESS"):
        host = config.get("WEB_SERVER_HOST") or "0.0.0.0"
        config["WEB_SERVER_ADDRESS"] = f"{host}:{service_ports()[service]}"
    config["SERVICE_NAME"] = service
    return config


def check_production_safety(config: dict) -> None:
    """In `prod`, refuse development or weak secrets; the error names each problem."""
    if str(config.get("ONESTOP_ENV", "dev")) != "prod":
        return
    problems = []
    for key, dev_value in (("ONESTOP_JWT_SECRET", DEV_JWT_SECRET), ("ONESTOP_PII_KEY", DEV_PII_KEY)):
        value = str(config.get(key) or "")
        if not value:
            problems.append(f"{key} is not set")
        elif value == dev_value:
            problems.append(f"{key} is the development default")
        elif len(value) < MIN_SECRET_LENGTH:
            problems.append(f"{key} is shorter than {MIN_SECRET_LENGTH} characters")
    if problems:
        raise ConfigError(
            "refusing to start in production mode (ONESTOP_ENV=prod): "
            + "; ".join(problems)
            + ". Set strong, unique secrets in the environment."
        )


def setting(config: dict, key: str, default: Any) -> Any:
    value = config.get(key)
    return default if value in (None, "") else value
