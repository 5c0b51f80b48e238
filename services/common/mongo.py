"""MongoDB for one service: the client, indexes, repositories and the unit of work.

Each service owns one database (`<prefix>_<service>`) and never reads another's. Every
write goes through `Repository.transaction`, which keeps the state change, the events it
causes (the outbox), the audit record and, for a consumer, the consumed event's id (the
inbox) in one transaction: all of them or none.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Any, ClassVar, TypeVar

import eventlet
from nameko.extensions import SharedExtension
from pymongo import ASCENDING, IndexModel, MongoClient, ReturnDocument
from pymongo.errors import ConnectionFailure, DuplicateKeyError, PyMongoError

from services.common import outbox_state
from services.common.auth import Principal
from services.common.config import setting
from services.common.contracts import make_envelope, utcnow
from services.common.metrics import ServiceMetrics

log = logging.getLogger(__name__)
T = TypeVar("T")

ALREADY_APPLIED = object()  # what `transaction` answers for an event it has applied before
TRANSACTION_ATTEMPTS = 5

PLATFORM_INDEXES: dict[str, list[IndexModel]] = {
    "outbox": [
        IndexModel([("status", ASCENDING), ("lease_until", ASCENDING)]),
        IndexModel([("status", ASCENDING), ("created_at", ASCENDING)]),
        IndexModel([("sent_at", ASCENDING)], expireAfterSeconds=7 * 24 * 3600),
    ],
    "inbox": [IndexModel([("received_at", ASCENDING)], expireAfterSeconds=90 * 24 * 3600)],
    "audit_log": [
        IndexModel([("case_code", ASCENDING), ("at", ASCENDING)]),
        IndexModel([("at", ASCENDING)]),
    ],
}


def database_name(config: dict, service: str) -> str:
    return f"{setting(config, 'MONGO_DATABASE_PREFIX', 'onestop')}_{service}"


def make_client(uri: str) -> MongoClient:
    # Short timeouts: a dead database must answer 503 quickly, never freeze the event loop.
    return MongoClient(
        uri,
        tz_aware=True,
        serverSelectionTimeoutMS=3000,
        connectTimeoutMS=3000,
        socketTimeoutMS=20000,
        maxPoolSize=32,
        appname="onestop",
    )


class MongoConnection(SharedExtension):
    """The container's client and database; creates indexes at start, retrying until it can."""

    def __init__(self) -> None:
        super().__init__()
        self.index_specs: dict[str, list[IndexModel]] = {}
        self.indexes_ready = False

    def setup(self) -> None:
        config = self.container.config
        self.client = make_client(config["MONGO_URI"])
        self.db = self.client[database_name(config, self.container.service_name)]

    def register_indexes(self, specs: dict[str, list[IndexModel]]) -> None:
        for collection, models in specs.items():
            self.index_specs.setdefault(collection, []).extend(models)

    def start(self) -> None:
        if not self.ensure_indexes():
            self.container.spawn_managed_thread(self._retry_indexes)

    def stop(self) -> None:
        self.client.close()

    def ensure_indexes(self) -> bool:
        specs = dict(PLATFORM_INDEXES)
        for collection, models in self.index_specs.items():
            specs[collection] = specs.get(collection, []) + models
        try:
            for collection, models in specs.items():
                if models:
                    self.db[collection].create_indexes(models)
        except PyMongoError as exc:
            log.warning("cannot create indexes yet (%s); will retry", exc.__class__.__name__)
            return False
        self.indexes_ready = True
        return True

    def _retry_indexes(self) -> None:
        while not self.ensure_indexes():
            eventlet.sleep(5)

    def ping(self) -> bool:
        try:
            self.client.admin.command("ping")
            return True
        except PyMongoError:
            return False


class UnitOfWork:
    """What one transaction writes besides the state itself: events and audit records.

    Both are collected while the work runs and written just before commit, one insert each,
    so a transaction that emits and audits several things costs two commands, not one per item.
    """

    def __init__(self, repository: Repository, session) -> None:
        self.repository = repository
        self.session = session
        self.outbox_entries: list[dict] = []
        self.audit_records: list[dict] = []

    def emit(self, event_type: str, *, case: dict, data: dict, occurred_at=None) -> dict:
        envelope = make_envelope(
            self.repository.service, event_type, case=case, data=data, occurred_at=occurred_at
        )
        self.outbox_entries.append(
            outbox_state.new_entry(envelope, utcnow(), self.repository.relay.lease_seconds)
        )
        return envelope

    def emit_many(self, event_type: str, events: Iterable[tuple[dict, dict]]) -> list[dict]:
        """`emit` for each (case, data) pair."""
        return [self.emit(event_type, case=case, data=data) for case, data in events]

    def audit(
        self,
        actor: Principal | str,
        action: str,
        *,
        case_code: str | None = None,
        details: dict | None = None,
    ) -> None:
        if isinstance(actor, Principal):
            who = actor.as_actor()
        else:
            who = {"sub": actor, "agency": self.repository.service, "roles": []}
        self.audit_records.append(
            {"at": utcnow(), "actor": who, "action": action, "case_code": case_code, "details": details or {}}
        )

    def flush(self) -> None:
        db = self.repository.db
        if self.outbox_entries:
            db.outbox.insert_many(self.outbox_entries, session=self.session)
        if self.audit_records:
            db.audit_log.insert_many(self.audit_records, session=self.session)


class Repository:
    """Base of each service's store: its collections, its indexes, and transactions."""

    indexes: ClassVar[dict[str, list[IndexModel]]] = {}

    def __init__(self, connection: MongoConnection, relay, metrics: ServiceMetrics, worker_ctx=None):
        self.connection = connection
        self.client = connection.client
        self.db = connection.db
        self.relay = relay
        self.metrics = metrics
        self.service = metrics.service
        self.worker_ctx = worker_ctx

    def transaction(
        self, work: Callable[[UnitOfWork], T], *, consumed: dict | None = None
    ) -> T | object:
        """Run `work` in a transaction and publish its events after commit.

        With `consumed` (an event envelope) the event id is recorded in the same
        transaction, first: an event applied before fails that insert on the inbox's unique
        _id, returns ALREADY_APPLIED and changes nothing.
        """
        for attempt in range(1, TRANSACTION_ATTEMPTS + 1):
            try:
                result, uow = self._run_once(work, consumed)
                break
            except DuplicateKeyError:
                if consumed is not None and self._seen(consumed["event_id"]):
                    return self._duplicate(consumed)
                raise
            except ConnectionFailure:
                raise
            except PyMongoError as exc:
                if attempt < TRANSACTION_ATTEMPTS and exc.has_error_label("TransientTransactionError"):
                    eventlet.sleep(0.01 * 2**attempt)
                    continue
                raise
        if uow.outbox_entries:
            self.relay.publish_soon(uow.outbox_entries)
        return result

    def _run_once(self, work, consumed) -> tuple[Any, UnitOfWork]:
        with self.client.start_session() as session:
            session.start_transaction()
            try:
                uow = UnitOfWork(self, session)
                if consumed is not None:
                    self.db.inbox.insert_one(
                        {
                            "_id": consumed["event_id"],
                            "source": consumed["source"],
                            "event_type": consumed["event_type"],
                            "case_id": consumed["case_id"],
                            "received_at": utcnow(),
                        },
                        session=session,
                    )
                result = work(uow)
                uow.flush()
            except BaseException:
                if session.in_transaction:
                    session.abort_transaction()
                raise
            self._commit(session)
        return result, uow

    @staticmethod
    def _commit(session) -> None:
        for attempt in range(1, TRANSACTION_ATTEMPTS + 1):
            try:
                session.commit_transaction()
                return
            except PyMongoError as exc:
                if attempt < TRANSACTION_ATTEMPTS and exc.has_error_label(
                    "UnknownTransactionCommitResult"
                ):
                    continue
                raise

    def _seen(self, event_id: str) -> bool:
        return self.db.inbox.find_one({"_id": event_id}, {"_id": 1}) is not None

    def _duplicate(self, consumed: dict) -> object:
        if self.worker_ctx is not None:
            self.worker_ctx.onestop_duplicate = True
        return ALREADY_APPLIED

    def claim_lease(self, name: str, holder: str, seconds: float) -> bool:
        """Hold a named lease (one replica runs a job); true when `holder` has it now."""
        now = utcnow()
        try:
            doc = self.db.leases.find_one_and_update(
                {"_id": name, "$or": [{"until": {"$lte": now}}, {"holder": holder}]},
                {"$set": {"holder": holder, "until": now + timedelta(seconds=seconds)}},
                upsert=True,
                return_document=ReturnDocument.AFTER,
            )
        except DuplicateKeyError:
            return False
        if doc is None:
            # SecantusDB may answer None to a raced upsert it did apply: read what holds.
            doc = self.db.leases.find_one({"_id": name})
        return doc is not None and doc.get("holder") == holder
