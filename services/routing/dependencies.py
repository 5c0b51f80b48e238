"""Routing's own dependency providers: its reference data, its clock and its replica identity."""

from __future__ import annotations

import logging
import os
import socket
import uuid
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path

import yaml
from nameko.extensions import DependencyProvider
from pymongo.errors import PyMongoError

from services.common.config import ConfigError, setting
from services.common.contracts import utcnow
from services.common.mongo import MongoConnection
from services.routing.domain import Reference, ReferenceDataError

log = logging.getLogger(__name__)
DATA_DIR = Path(__file__).resolve().parent / "data"
DEFAULT_DIRECTORY = DATA_DIR / "directory.yaml"
DEFAULT_RULES = DATA_DIR / "rules.yaml"
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _read_yaml(path: Path) -> dict:
    try:
        with open(path, encoding="utf-8") as handle:
            return yaml.load(handle, Loader=_Loader) or {}
    except OSError as exc:
        raise ConfigError(f"routing reference data {path}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"routing reference data {path} is not valid YAML: {exc}") from exc


@lru_cache(maxsize=8)
def _load(directory_path: str, directory_mtime: float, rules_path: str, rules_mtime: float) -> Reference:
    # Keyed by modification time: containers of one process share the parsed data until a file changes.
    try:
        return Reference.from_data(_read_yaml(Path(directory_path)), _read_yaml(Path(rules_path)))
    except ReferenceDataError as exc:
        raise ConfigError(f"routing reference data is unusable: {exc}") from exc


def load_reference(directory_path: str | os.PathLike, rules_path: str | os.PathLike) -> Reference:
    directory_path, rules_path = Path(directory_path), Path(rules_path)
    try:
        mtimes = directory_path.stat().st_mtime, rules_path.stat().st_mtime
    except OSError as exc:
        raise ConfigError(f"routing reference data: {exc.filename}: {exc.strerror}") from exc
    return _load(str(directory_path), mtimes[0], str(rules_path), mtimes[1])


class ReferenceData(DependencyProvider):
    """The directory and the rules, read at start from ROUTING_DIRECTORY_FILE / ROUTING_RULES_FILE."""

    def setup(self) -> None:
        config = self.container.config
        self.reference = load_reference(setting(config, "ROUTING_DIRECTORY_FILE", DEFAULT_DIRECTORY),
                                        setting(config, "ROUTING_RULES_FILE", DEFAULT_RULES))

    def get_dependency(self, worker_ctx) -> Reference:
        return self.reference


class Clock(DependencyProvider):
    """Routing's "now". ROUTING_CLOCK_OFFSET_SECONDS shifts it (development and tests only: refused in
    production), and tests move it forward with `advance` instead of sleeping until a deadline."""

    def setup(self) -> None:
        config = self.container.config
        self.offset = timedelta(seconds=float(setting(config, "ROUTING_CLOCK_OFFSET_SECONDS", 0)))
        if self.offset and str(config.get("ONESTOP_ENV", "dev")) == "prod":
            raise ConfigError("ROUTING_CLOCK_OFFSET_SECONDS is for development and tests; unset it in production")

    def now(self) -> datetime:
        return utcnow() + self.offset

    def advance(self, **delta: float) -> None:
        self.offset += timedelta(**delta)

    def get_dependency(self, worker_ctx) -> Clock:
        return self


class Replica(DependencyProvider):
    """Who this container is, to hold a lease (the sweeper's); a graceful stop hands the lease back
    so another replica, or this one restarted, takes over at once instead of when it runs out."""

    connection = MongoConnection()

    def __init__(self, lease: str):
        self.lease = lease

    def setup(self) -> None:
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

    def stop(self) -> None:
        try:
            self.connection.db.leases.delete_one({"_id": self.lease, "holder": self.holder})
        except PyMongoError as exc:
            log.warning("could not hand back the %s lease (%s); it runs out by itself", self.lease,
                        exc.__class__.__name__)

    def get_dependency(self, worker_ctx) -> str:
        return self.holder
