"""Notify's entrypoints: the right message to the right person, with proof of delivery.

Events become messages (one per recipient and channel, under a unique key, in the same
transaction that records the event as consumed); one timer per channel sends what is
due, so a gateway that is down or slow holds up only its own channel.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass, replace
from datetime import datetime

from nameko.dependency_providers import Config
from nameko.exceptions import RemoteError, UnknownService
from pymongo.errors import BulkWriteError, DuplicateKeyError

from services.common.auth import Principal
from services.common.config import setting
from services.common.consumers import consumes
from services.common.contracts import case_ref
from services.common.dependencies import Store, every
from services.common.errors import Forbidden, NotFound, ValidationFailed
from services.common.http import load_query, route
from services.common.mongo import ALREADY_APPLIED
from services.common.platform import PlatformService
from services.common.rpc import RpcTimeout, TimedRpcProxy
from services.notify.channels import Channel, Gateways, Outgoing
from services.notify.clock import Clock
from services.notify.domain import caseview, delivery, recipients
from services.notify.domain.recipients import PARTY, Recipient, Target
from services.notify.domain.text import MessageTooLong, canonical_case_code, mask_address
from services.notify.metrics import NotifyMetrics
from services.notify.rulebook import Rulebook
from services.notify.schemas import (
    InboxMessageSchema,
    InboxQuerySchema,
    InboxSchema,
    NotificationListSchema,
    NotificationQuerySchema,
    NotificationSchema,
)
from services.notify.store import Claim, NotifyRepository

log = logging.getLogger(__name__)

LOG_ROLES = ("dispatcher", "leader", "intake_clerk")
SUPERVISOR_ROLES = ("dispatcher", "leader")
DISPATCHER = "system:notify-dispatcher"
LOOKUP_ERRORS = (RpcTimeout, RemoteError, UnknownService)
# A batch stops taking new sends after this share of its lease: what is left goes back in time.
LEASE_SHARE_FOR_SENDING = 0.5


def scope_filter(principal: Principal) -> dict:
    """Mongo condition: records in divisions the principal covers (admin: all)."""
    if principal.has_role("admin"):
        return {}
    prefixes = principal.scope_prefixes()
    if not prefixes:
        return {"jurisdiction": {"$in": []}}
    return {"jurisdiction": {"$regex": "^(?:" + "|".join(prefixes) + ")"}}


@dataclass(frozen=True)
class Attempt:
    """One message's attempt in a batch, ready to be recorded."""

    document: dict
    result: delivery.AttemptResult
    step: delivery.Next
    number: int
    at: datetime
    update: dict
    inbox_message: dict | None = None

    @property
    def unavailable(self) -> bool:
        """The gateway (or a lookup) did not answer: retrying the rest of the batch now cannot help."""
        return not (self.result.ok or self.result.permanent)


class Lookups:
    """intake's and routing's answers during one dispatch pass, each asked once."""

    def __init__(self, intake, routing):
        self.intake, self.routing = intake, routing
        self._contacts: dict[tuple[str, str | None], list] = {}
        self._units: dict[str, dict | None] = {}

    def contacts(self, case_id: str, role: str | None) -> list:
        key = (case_id, role)
        if key not in self._contacts:
            self._contacts[key] = self.intake.contacts(case_id, [role] if role else None) or []
        return self._contacts[key]

    def unit(self, unit_id: str) -> dict | None:
        if unit_id not in self._units:
            self._units[unit_id] = self.routing.lookup_unit(unit_id)
        return self._units[unit_id]


class NotifyService(PlatformService):
    name = "notify"
    declare_metrics = NotifyMetrics

    store = Store(NotifyRepository)
    rulebook = Rulebook()
    gateways = Gateways()
    clock = Clock()
    config = Config()
    intake_rpc = TimedRpcProxy("intake")
    routing_rpc = TimedRpcProxy("routing")

    # -- events in -------------------------------------------------------------------------------
    @consumes("intake", "case_registered")
    def on_case_registered(self, event):
        self._notify(event)

    @consumes("routing", "case_assigned")
    def on_case_assigned(self, event):
        self._notify(event)

    @consumes("routing", "case_returned")
    def on_case_returned(self, event):
        self._notify(event)

    @consumes("routing", "departments_summoned")
    def on_departments_summoned(self, event):
        self._notify(event)

    @consumes("routing", "sla_warning")
    def on_sla_warning(self, event):
        self._notify(event)

    @consumes("routing", "case_escalated")
    def on_case_escalated(self, event):
        self._notify(event)

    @consumes("routing", "leader_assigned")
    def on_leader_assigned(self, event):
        self._notify(event)

    @consumes("mediation", "session_scheduled")
    def on_session_scheduled(self, event):
        self._notify(event)

    @consumes("mediation", "session_reminder")
    def on_session_reminder(self, event):
        self._notify(event)

    @consumes("mediation", "session_cancelled")
    def on_session_cancelled(self, event):
        self._notify(event)

    @consumes("mediation", "agreement_reached")
    def on_agreement_reached(self, event):
        self._notify(event)

    @consumes("mediation", "followup_required")
    def on_followup_required(self, event):
        self._notify(event)

    @consumes("court_bridge", "confirmation_granted")
    def on_confirmation_granted(self, event):
        self._notify(event)

    @consumes("court_bridge", "confirmation_rejected")
    def on_confirmation_rejected(self, event):
        self._notify(event)

    @consumes("court_bridge", "case_filed")
    def on_case_filed(self, event):
        self._notify(event)

    @consumes("court_bridge", "confirmation_due")
    def on_confirmation_due(self, event):
        self._notify(event)

    @consumes("court_bridge", "message_stuck")
    def on_court_message_stuck(self, event):
        self._notify(event)

    def _notify(self, event: dict) -> None:
        """Plan the event's messages and store them with the event's consumption, atomically."""
        if self.store.consumed_before(event["event_id"]):
            self.store.transaction(lambda uow: None, consumed=event)  # counted as a duplicate
            return
        rules = self.rulebook.rules
        matching = rules.for_event(event["source"], event["event_type"], event["data"])
        now = self.clock.now()
        occurred_at = caseview.occurred(event)
        view = self.store.case_view(event["case_id"]) if caseview.needed(matching) else None
        roles = recipients.needed_roles(matching)
        contacts = self.intake_rpc.contacts(event["case_id"], roles) if roles else []
        units = {unit_id: self.routing_rpc.lookup_unit(unit_id)
                 for unit_id in recipients.needed_units(matching, event, view)}
        plan = recipients.plan(matching, event, case_view=view, contacts=contacts or [], units=units)
        documents = [self._document(event, occurred_at, target, units, now) for target in plan.targets]
        replaced: list[dict] = []

        def apply(uow):
            replaced.clear()  # the transaction may run again after a conflict
            self._update_case_view(event, uow)
            replaced.extend(self._supersede(event, occurred_at, documents, now, uow))
            if documents:
                self.store.db.notifications.insert_many(documents, session=uow.session)
            for document in documents:
                if document["status"] == delivery.FAILED:
                    uow.emit(delivery.FAILED_EVENT, case=case_ref(event), data=self._outcome(document))
            uow.audit(f"event:{event['source']}.{event['event_type']}", "notification.queue",
                      case_code=event["case_code"],
                      details={"messages": len(documents), "kinds": sorted({d["kind"] for d in documents})})

        if self.store.transaction(apply, consumed=event) is ALREADY_APPLIED:
            return
        for unit_id in plan.unknown_units:
            log.warning("%s.%s for %s names unit %s, which the directory does not know",
                        event["source"], event["event_type"], event["case_code"], unit_id)
            self._count(event["event_type"], "none", "unknown_unit")
        for document in documents:
            self._count(document["kind"], document["channel"], document["status"])
            if document["deferred_until"] is not None:
                self._count(document["kind"], document["channel"], "deferred")
        for document in replaced:
            self._count(document["kind"], document["channel"], delivery.CANCELLED)

    def _document(self, event: dict, occurred_at, target: Target, units: dict, now) -> dict:
        rule, channel, recipient = target.rule, target.channel, target.recipient
        context = self.rulebook.renderer.context(rule, event, target.item, recipient, units)
        status, error, segments, next_at, deferred = delivery.QUEUED, None, None, None, False
        try:
            rendered = self.rulebook.renderer.render(rule, channel, context)
            title, body, segments = rendered.title, rendered.body, rendered.segments
        except MessageTooLong as exc:
            title, body = rule.title, ""
            status, error = delivery.FAILED, f"sms_too_long: {exc}"
        if status == delivery.QUEUED:
            if channel != "inbox" and channel not in self.gateways:
                status, error = delivery.SKIPPED, "channel_not_configured"
            elif target.address is None:
                status, error = delivery.SKIPPED, "no_address"
            else:
                next_at, deferred = self.rulebook.rules.quiet_hours.earliest(now, channel, rule.urgent)
        return delivery.new_notification(
            notification_id=uuid.uuid4().hex,
            key=delivery.dedupe_key(event["event_id"], rule.kind, target.item.key, recipient.kind, recipient.id,
                                    channel),
            event=event, occurred_at=occurred_at, kind=rule.kind, channel=channel, urgent=rule.urgent,
            topic=recipients.topic(rule, event), item_key=target.item.key,
            recipient=self._recipient_record(recipient, channel, target.address),
            title=title, body=body, link=self.rulebook.renderer.link(rule, context), segments=segments,
            status=status, now=now, next_attempt_at=next_at, deferred=deferred, error=error,
        )

    @staticmethod
    def _recipient_record(recipient: Recipient, channel: str, address: str | None) -> dict:
        return {"kind": recipient.kind, "id": recipient.id, "unit_id": recipient.unit_id, "role": recipient.role,
                "display": recipient.display, "address": mask_address(channel, address)}

    def _update_case_view(self, event: dict, uow) -> None:
        if not caseview.changes_view(event):
            return
        current = self.store.case_view(event["case_id"], session=uow.session)
        view = caseview.updated(current, event)
        if view is not None:
            self.store.db.cases.replace_one({"_id": event["case_id"]}, {**view, "_id": event["case_id"]},
                                            upsert=True, session=uow.session)

    def _supersede(self, event: dict, occurred_at, documents: list[dict], now, uow) -> list[dict]:
        """Messages on one topic (one session) replace each other: a later event cancels what is still
        waiting of the kinds it replaces, and an event that arrives after a later one is recorded but
        not sent. Returns the earlier messages it cancelled."""
        rules = self.rulebook.rules
        replaces = {rule.kind: rule.replaces for rule in rules.messages}
        cancelled: list[dict] = []
        for topic, kind in sorted({(d["topic"], d["kind"]) for d in documents if d["topic"]}):
            stale_by = rules.replaced_by(kind)
            if stale_by and self.store.newer_on_topic(topic, stale_by, occurred_at, session=uow.session):
                for document in documents:
                    if (document["topic"], document["kind"]) == (topic, kind) and document["status"] in delivery.OPEN:
                        document.update(status=delivery.CANCELLED, next_attempt_at=None, deferred_until=None,
                                        claimable_at=None, error="replaced by a later event")
                        document["history"].append({"at": now, "status": delivery.CANCELLED, "attempt": 0,
                                                    "error": "replaced"})
            if replaces[kind]:
                waiting = self.store.waiting_on_topic(topic, replaces[kind], occurred_at, session=uow.session)
                if waiting:
                    self.store.db.notifications.update_many(
                        {"_id": {"$in": [d["_id"] for d in waiting]}, "status": delivery.QUEUED},
                        delivery.cancel_update(now, event["event_id"]), session=uow.session)
                    cancelled += waiting
        return cancelled

    # -- sending ------------------------------------------------------------------------------------
    @every("NOTIFY_DISPATCH_SECONDS", 0.5)
    def dispatch_sms(self):
        self._drain("sms")

    @every("NOTIFY_DISPATCH_SECONDS", 0.5)
    def dispatch_wechat(self):
        self._drain("wechat")

    @every("NOTIFY_DISPATCH_SECONDS", 0.5)
    def dispatch_email(self):
        self._drain("email")

    @every("NOTIFY_DISPATCH_SECONDS", 0.5)
    def dispatch_inbox(self):
        self._drain("inbox")

    def _drain(self, channel: str) -> None:
        """Claim and send batches of a channel while full batches keep coming, for at most
        NOTIFY_DRAIN_SECONDS: a burst (a complex case summons six departments on four
        channels) goes out at once instead of one batch a tick."""
        batch = int(setting(self.config, "NOTIFY_BATCH", 50))
        deadline = time.monotonic() + float(setting(self.config, "NOTIFY_DRAIN_SECONDS", 5))
        while self._drain_once(channel, batch) and time.monotonic() < deadline:
            pass

    def _drain_once(self, channel: str, batch: int) -> bool:
        """One pass: claim a batch, send it, record every result in one transaction. True when
        the batch was full and went out, so that more may be waiting."""
        adapter = None if channel == "inbox" else self.gateways.get(channel)
        if adapter is None and channel != "inbox":
            return False
        lease = float(setting(self.config, "NOTIFY_LEASE_SECONDS", 60))
        claim = self.store.claim_batch(channel, self.clock.now(), lease, batch)
        if not claim.documents:
            return False
        if adapter is None:
            self._record(claim, [self._to_inbox(document) for document in claim.documents], [])
            return len(claim.documents) == batch
        attempts: list[Attempt] = []
        try:
            self._send_batch(claim.documents, adapter, lease, attempts)
        finally:
            # Whatever was sent is recorded, even when something failed mid-batch; the rest goes back.
            tried = {attempt.document["_id"] for attempt in attempts}
            self._record(claim, attempts, [d["_id"] for d in claim.documents if d["_id"] not in tried])
        return len(claim.documents) == batch and len(attempts) == batch and not attempts[-1].unavailable

    def _send_batch(self, documents: list[dict], adapter: Channel, lease: float, attempts: list[Attempt]) -> None:
        """Send one by one into `attempts` (so that what went out is known even if this raises)."""
        lookups = Lookups(self.intake_rpc, self.routing_rpc)
        started = time.monotonic()
        for document in documents:
            if attempts and time.monotonic() - started > lease * LEASE_SHARE_FOR_SENDING:
                break  # the rest goes back before the lease runs out and another replica sends it too
            attempt = self._attempt(document, adapter, lookups)
            attempts.append(attempt)
            if attempt.unavailable:
                break  # the rest waits for the next tick instead of piling onto a struggling gateway

    def _attempt(self, document: dict, adapter: Channel, lookups: Lookups) -> Attempt:
        channel = document["channel"]
        address, result = self._address(document, lookups)
        if result is None:
            result = adapter.send(self._outgoing(document, address))
            if not result.ok:
                NotifyMetrics(self.metrics).gateway_errors.labels(channel).inc()
        masked = mask_address(channel, address) if address else None
        return self._settle(document, result, masked)

    def _to_inbox(self, document: dict, existing_id: str | None = None) -> Attempt:
        """An inbox delivery is a write in the batch's own transaction, idempotent by notification id."""
        message = None
        if existing_id is None:
            existing_id = uuid.uuid4().hex
            message = {
                "_id": existing_id, "notification_id": document["_id"],
                "recipient_id": document["recipient"]["address"], "recipient_kind": document["recipient"]["kind"],
                "case_id": document["case_id"],
                "case_code": document["case_code"], "jurisdiction": document["jurisdiction"],
                "kind": document["kind"], "title": document["title"], "body": document["body"],
                "link": document.get("link"), "created_at": self.clock.now(), "read_at": None,
            }
        attempt = self._settle(document, delivery.AttemptResult(ok=True, answer=f"inbox message {existing_id}"), None)
        return replace(attempt, inbox_message=message)

    def _settle(self, document: dict, result: delivery.AttemptResult, masked: str | None) -> Attempt:
        now = self.clock.now()
        rules = self.rulebook.rules
        number = document["attempts"] + 1
        step = delivery.after_attempt(number, result, now, rules.retry, rules.quiet_hours, document["channel"],
                                      document["urgent"])
        return Attempt(document=document, result=result, step=step, number=number, at=now,
                       update=delivery.finish_update(step, result, number, now, masked))

    def _record(self, claim: Claim, attempts: list[Attempt], unsent: list[str]) -> None:
        """Every result of a batch, its outcome events and its audit in one transaction."""
        try:
            recorded = self.store.transaction(lambda uow: self._write_results(uow, claim, attempts, unsent))
        except (BulkWriteError, DuplicateKeyError):
            # An inbox message already there: a claim whose lease ran out wrote it. Deliver that one.
            existing = self.store.delivered_to_inbox(a.document["_id"] for a in attempts if a.inbox_message)
            attempts = [self._to_inbox(a.document, existing[a.document["_id"]])
                        if a.document["_id"] in existing else a for a in attempts]
            recorded = self.store.transaction(lambda uow: self._write_results(uow, claim, attempts, unsent))
        for attempt in recorded:
            self._observe(attempt)

    def _write_results(self, uow, claim: Claim, attempts: list[Attempt], unsent: list[str]) -> list[Attempt]:
        held = self.store.record_attempts(claim.token, [(a.document["_id"], a.update) for a in attempts],
                                          uow.session)
        recorded = [attempt for attempt in attempts if attempt.document["_id"] in held]
        messages = [attempt.inbox_message for attempt in recorded if attempt.inbox_message]
        if messages:
            self.store.db.inbox_messages.insert_many(messages, session=uow.session)
        for event_type in (delivery.SENT_EVENT, delivery.FAILED_EVENT):
            uow.emit_many(event_type, [
                (case_ref(a.document), self._outcome({**a.document, "error": a.result.error}))
                for a in recorded if a.step.outcome_event == event_type])
        self.store.release(claim.token, unsent, self.clock.now(), uow.session)
        by_case: dict[str, list[Attempt]] = {}
        for attempt in recorded:
            by_case.setdefault(attempt.document["case_code"], []).append(attempt)
        for case_code, group in by_case.items():
            uow.audit(DISPATCHER, "notification.dispatch", case_code=case_code,
                      details={"channel": group[0].document["channel"], "results": [
                          {"notification_id": a.document["_id"], "kind": a.document["kind"], "attempt": a.number,
                           "status": a.step.status, **({"inbox_message_id": a.inbox_message["_id"]}
                                                       if a.inbox_message else {})}
                          for a in group]})
        return recorded

    def _observe(self, attempt: Attempt) -> None:
        document, step, channel = attempt.document, attempt.step, attempt.document["channel"]
        if step.status == delivery.SENT:
            self._count(document["kind"], channel, "sent")
            NotifyMetrics(self.metrics).latency.labels(channel).observe(
                max((attempt.at - document["created_at"]).total_seconds(), 0.0))
        elif step.status == delivery.FAILED:
            self._count(document["kind"], channel, "failed")
        else:
            NotifyMetrics(self.metrics).retries.labels(channel).inc()
            if step.deferred:
                self._count(document["kind"], channel, "deferred")
        log.info("notification %s (%s, %s) attempt %d: %s%s", document["_id"], document["kind"], channel,
                 attempt.number, step.status, f" ({attempt.result.error})" if attempt.result.error else "")

    def _address(self, document: dict, lookups: Lookups) -> tuple[str | None, delivery.AttemptResult | None]:
        """The full address, asked for just before sending; or the result of not getting it."""
        recipient, channel = document["recipient"], document["channel"]
        try:
            if recipient["kind"] == PARTY:
                found = recipients.find_recipient(PARTY, recipient["id"], contacts=lookups.contacts(
                    document["case_id"], recipient["role"]))
            else:
                found = recipients.find_recipient(recipient["kind"], recipient["id"],
                                                  unit=lookups.unit(recipient["unit_id"]))
        except LOOKUP_ERRORS as exc:
            return None, delivery.AttemptResult(ok=False, error=f"address lookup failed: {exc.__class__.__name__}")
        address = found.address(channel) if found else None
        if address is None:
            return None, delivery.AttemptResult(ok=False, error="no_address", permanent=True)
        return address, None

    @staticmethod
    def _outgoing(document: dict, address: str) -> Outgoing:
        return Outgoing(notification_id=document["_id"], kind=document["kind"], channel=document["channel"],
                        address=address, title=document["title"], body=document["body"],
                        case_code=document["case_code"], link=document.get("link"), segments=document.get("segments"))

    @staticmethod
    def _outcome(document: dict) -> dict:
        return {"notification_id": document["_id"], "kind": document["kind"], "channel": document["channel"],
                "recipient_kind": document["recipient"]["kind"], "error": document.get("error")}

    def _count(self, kind: str, channel: str, result: str) -> None:
        NotifyMetrics(self.metrics).notifications.labels(kind, channel, result).inc()

    # -- HTTP ---------------------------------------------------------------------------------------
    @route("GET", "/api/v1/notifications", roles=LOG_ROLES, query_schema=NotificationQuerySchema,
           response_schema=NotificationListSchema, summary="the delivery log (masked), filtered by case code")
    def list_notifications(self, request):
        params = load_query(request, NotificationQuerySchema())
        query = scope_filter(request.principal)
        if "case_code" in params:
            code = canonical_case_code(params["case_code"])
            if code is None:
                raise ValidationFailed("not a case code", {"case_code": ["not a case code"]},
                                       code="invalid_case_code")
            query["case_code"] = code
        for key in ("status", "channel", "kind"):
            if key in params:
                query[key] = params[key]
        items, total = self.store.find_notifications(query, params["limit"], params["offset"])
        return NotificationListSchema().dump({"items": items, "total": total, "limit": params["limit"],
                                              "offset": params["offset"]})

    @route("GET", "/api/v1/notifications/<notification_id>", roles=LOG_ROLES, response_schema=NotificationSchema,
           summary="one message with its delivery attempts")
    def get_notification(self, request, notification_id):
        document = self.store.find_notification(notification_id)
        if document is None or not (request.principal.has_role("admin")
                                    or request.principal.covers(document["jurisdiction"])):
            raise NotFound(f"no notification {notification_id}")
        return NotificationSchema().dump(document)

    @route("GET", "/api/v1/inbox/<recipient_id>", query_schema=InboxQuerySchema, response_schema=InboxSchema,
           summary="an in-app inbox: its owner's, or a supervisor's view of the cases in scope")
    def get_inbox(self, request, recipient_id):
        params = load_query(request, InboxQuerySchema())
        query = {"recipient_id": recipient_id}
        if not self._owns_inbox(request.principal, recipient_id):
            if not request.principal.has_role(*SUPERVISOR_ROLES):
                raise Forbidden("only the inbox's owner, a dispatcher or a leader may read it", code="role_forbidden")
            query.update(scope_filter(request.principal))
        if params["unread"]:
            query["read_at"] = None
        items, total, unread = self.store.inbox_page(query, params["limit"], params["offset"])
        return InboxSchema().dump({"recipient_id": recipient_id, "total": total, "unread": unread, "items": items})

    @route("POST", "/api/v1/inbox/<recipient_id>/messages/<message_id>/read", response_schema=InboxMessageSchema,
           summary="mark an inbox message as read (its owner only)", responses={404: "no such message"})
    def mark_read(self, request, recipient_id, message_id):
        if not self._owns_inbox(request.principal, recipient_id):
            raise Forbidden("only the inbox's owner may mark its messages read", code="role_forbidden")
        message = self.store.inbox_message(recipient_id, message_id)
        if message is None:
            raise NotFound(f"no message {message_id} in this inbox")
        now = self.clock.now()

        def mark(uow) -> None:
            updated = self.store.db.inbox_messages.update_one(
                {"_id": message_id, "recipient_id": recipient_id, "read_at": None},
                {"$set": {"read_at": now}}, session=uow.session)
            if updated.modified_count:
                uow.audit(request.principal, "inbox.read", case_code=message["case_code"],
                          details={"message_id": message_id})

        self.store.transaction(mark)
        return InboxMessageSchema().dump(self.store.inbox_message(recipient_id, message_id))

    @staticmethod
    def _owns_inbox(principal: Principal, recipient_id: str) -> bool:
        return principal.has_role("admin") or recipient_id in (principal.sub, principal.agency)

