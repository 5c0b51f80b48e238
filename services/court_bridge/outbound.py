"""Work the timer does, safe with replicas: deliver queued messages to the courts, ask the
courts about pending applications and filings, close referrals whose period has run out,
and warn about confirmation windows closing.

Each item is claimed atomically (its `due_at` pushed past a lease) before anyone calls a
court about it, and every state change is conditional, so two replicas never act twice.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import eventlet

from services.common.contracts import iso
from services.common.mongo import Repository
from services.court_bridge.adapters import CourtError, CourtRefused, CourtUnavailable
from services.court_bridge.dependencies import Clock, CourtLink
from services.court_bridge.domain import confirmation as conf_rules
from services.court_bridge.domain import delivery
from services.court_bridge.domain import filing as filing_rules
from services.court_bridge.domain import referrals as ref_rules
from services.court_bridge.flows import Flows, case_fields
from services.court_bridge.metrics import CourtMetrics

log = logging.getLogger(__name__)
ACTOR = "system:court-bridge"


@dataclass(frozen=True)
class OutboundSettings:
    retry_delays: list[float]
    stuck_after: int
    lease_seconds: float
    poll_seconds: float
    concurrency: int = 8
    per_tick: int = 200


class Outbound:
    def __init__(self, store: Repository, link: CourtLink, clock: Clock, metrics: CourtMetrics,
                 settings: OutboundSettings):
        self.store = store
        self.db = store.db
        self.link = link
        self.clock = clock
        self.metrics = metrics
        self.settings = settings

    # -- claiming -------------------------------------------------------------------------
    def _claim(self, collection: str) -> dict | None:
        now = self.clock.now()
        return self.store.claim_due(collection, now, now + timedelta(seconds=self.settings.lease_seconds))

    def _drain(self, collection: str, handle) -> int:
        handled = []

        def worker() -> None:
            while len(handled) < self.settings.per_tick:
                item = self._claim(collection)
                if item is None:
                    return
                handled.append(item["_id"])
                try:
                    handle(item)
                except Exception:
                    # The item keeps its lease and is taken again when it runs out; this
                    # worker stops so that a failing database is not hammered in a loop.
                    log.exception("court_bridge: handling %s %s failed", collection, item["_id"])
                    return

        if not self.store.any_due(collection, self.clock.now()):
            return 0  # a plain read: an idle tick writes nothing
        pool = eventlet.GreenPool(self.settings.concurrency)
        for _ in range(self.settings.concurrency):
            pool.spawn(worker)
        pool.waitall()
        return len(handled)

    # -- messages to courts ---------------------------------------------------------------
    def deliver_due(self) -> int:
        return self._drain("messages", self._deliver)

    def _deliver(self, message: dict) -> None:
        try:
            adapter = self.link.adapter(message["court_id"])
        except KeyError:
            self._refused(message, CourtRefused(message["court_id"], message["operation"],
                                                "the court is no longer configured"))
            return
        try:
            answer = adapter.send(message["operation"], message["_id"], message["payload"])
        except CourtUnavailable as exc:
            self._retry_later(message, exc)
        except CourtRefused as exc:
            self._refused(message, exc)
        else:
            self._delivered(message, answer)

    def _delivered(self, message: dict, answer: dict) -> None:
        after_commit = []

        def settle(uow) -> None:
            after_commit.clear()
            now = self.clock.now()
            result = self.db.messages.update_one(
                {"_id": message["_id"], "state": delivery.PENDING},
                {"$set": {"state": delivery.DELIVERED, "delivered_at": now, "response": answer,
                          "stuck": False, "attempts": message["attempts"] + 1}},
                session=uow.session)
            if not result.modified_count:
                return  # another replica settled it after our lease ran out
            effect = getattr(self, f"_on_{message['operation']}_delivered")
            effect(uow, message, answer, now, after_commit)
            uow.audit(ACTOR, f"court.{message['operation']}.delivered", case_code=message["case_code"],
                      details={"court_id": message["court_id"], "message_id": message["_id"]})

        self.store.transaction(settle)
        for action in after_commit:
            action()

    def _on_feedback_delivered(self, uow, message, answer, now, after_commit) -> None:
        referral = self.db.referrals.find_one_and_update(
            {"_id": message["referral_key"], "feedback.message_id": message["_id"]},
            {"$set": {"feedback.state": delivery.DELIVERED, "feedback.delivered_at": now,
                      "feedback.receipt_id": answer.get("receipt_id")}},
            session=uow.session)
        if referral is None:
            return
        uow.emit("referral_feedback_sent", case=message["case"], data={
            "court_id": message["court_id"], "referral_id": referral["referral_id"],
            "outcome": message["payload"]["outcome"]})
        after_commit.append(self.metrics.feedback_delivered.inc)

    def _on_extension_delivered(self, uow, message, answer, now, after_commit) -> None:
        self.db.referrals.update_one(
            {"_id": message["referral_key"], "extensions.to": message["payload"]["deadline"]},
            {"$set": {"extensions.$.court_notified_at": now}}, session=uow.session)

    def _on_confirmation_delivered(self, uow, message, answer, now, after_commit) -> None:
        rules = self.link.reference.rules.confirmation
        application_id = str(answer["application_id"])
        result = self.db.cases.update_one(
            {"_id": message["case_code"], "confirmation.message_id": message["_id"],
             "confirmation.state": conf_rules.REQUESTED},
            {"$set": {"confirmation.state": conf_rules.APPLIED, "confirmation.application_id": application_id,
                      "confirmation.applied_at": now,
                      "confirmation.acceptance_due": conf_rules.acceptance_due(now, rules),
                      "confirmation.warning": None, "confirmation.next_check_at": None, "updated_at": now}},
            session=uow.session)
        if not result.modified_count:
            return
        self._start_poll(uow, "confirmation", message, application_id, now)
        uow.emit("confirmation_applied", case=message["case"],
                 data={"court_id": message["court_id"], "application_id": application_id})
        after_commit.append(self.metrics.confirmations.labels("applied").inc)

    def _on_filing_delivered(self, uow, message, answer, now, after_commit) -> None:
        filing_id = str(answer["filing_id"])
        case = self.db.cases.find_one_and_update(
            {"_id": message["case_code"], "filing.message_id": message["_id"],
             "filing.state": filing_rules.REQUESTED},
            {"$set": {"filing.state": filing_rules.SUBMITTED, "filing.filing_id": filing_id,
                      "filing.submitted_at": now, "updated_at": now}},
            session=uow.session)
        if case is None:
            return
        track = case["filing"]["track"]
        self._start_poll(uow, "filing", message, filing_id, now)
        uow.emit("filing_requested", case=message["case"], data={"court_id": message["court_id"], "track": track})
        after_commit.append(self.metrics.filings.labels(track).inc)

    def _on_enforcement_delivered(self, uow, message, answer, now, after_commit) -> None:
        application_id = str(answer["application_id"])
        result = self.db.cases.update_one(
            {"_id": message["case_code"], "enforcements": {"$elemMatch": {
                "message_id": message["_id"], "state": "requested"}}},
            {"$set": {"enforcements.$.state": "applied", "enforcements.$.application_id": application_id,
                      "enforcements.$.docket_number": answer.get("docket_number"),
                      "enforcements.$.applied_at": now, "updated_at": now}},
            session=uow.session)
        if result.modified_count:
            uow.emit("enforcement_applied", case=message["case"],
                     data={"court_id": message["court_id"], "application_id": application_id})

    def _retry_later(self, message: dict, error: CourtError) -> None:
        failures = message["attempts"] + 1
        stuck = delivery.is_stuck(failures, self.settings.stuck_after)
        self.metrics.adapter_errors.labels(message["court_id"], error.operation).inc()

        def settle(uow) -> bool:
            now = self.clock.now()
            result = self.db.messages.update_one(
                {"_id": message["_id"], "state": delivery.PENDING},
                {"$set": {"attempts": failures, "last_error": str(error), "last_failed_at": now, "stuck": stuck,
                          "due_at": delivery.next_attempt(now, failures, self.settings.retry_delays)}},
                session=uow.session)
            newly_stuck = bool(result.modified_count) and stuck and not message.get("stuck")
            if newly_stuck:
                self._now_stuck(uow, message, failures, error)
            return newly_stuck

        if self.store.transaction(settle):
            log.error("court message %s (%s to %s) is stuck after %d attempts: %s", message["_id"],
                      message["operation"], message["court_id"], failures, error)
        else:
            log.warning("court message %s (%s to %s) failed (attempt %d): %s", message["_id"],
                        message["operation"], message["court_id"], failures, error)

    @staticmethod
    def _now_stuck(uow, message: dict, attempts: int, error: CourtError) -> None:
        """A message has just reached the stuck list: audit it and tell whoever must look
        (`message_stuck`, in the same transaction) — once each time it gets there."""
        uow.audit(ACTOR, "court.message.stuck", case_code=message["case_code"],
                  details={"court_id": message["court_id"], "operation": message["operation"],
                           "message_id": message["_id"], "attempts": attempts})
        uow.emit("message_stuck", case=message["case"], data={
            "court_id": message["court_id"], "message_id": message["_id"], "operation": message["operation"],
            "attempts": attempts, "last_error": str(error), "referral_id": message["payload"].get("referral_id")})

    def _refused(self, message: dict, error: CourtError) -> None:
        self.metrics.adapter_errors.labels(message["court_id"], error.operation).inc()
        log.error("court %s refused message %s (%s): %s", message["court_id"], message["_id"],
                  message["operation"], error)

        def settle(uow) -> None:
            now = self.clock.now()
            result = self.db.messages.update_one(
                {"_id": message["_id"], "state": delivery.PENDING},
                {"$set": {"state": delivery.REFUSED, "stuck": True, "last_error": str(error),
                          "last_failed_at": now, "attempts": message["attempts"] + 1}},
                session=uow.session)
            if not result.modified_count:
                return
            if not message.get("stuck"):
                self._now_stuck(uow, message, message["attempts"] + 1, error)
            operation, code = message["operation"], message["case_code"]
            if operation == delivery.FEEDBACK:
                self.db.referrals.update_one({"_id": message["referral_key"], "feedback.message_id": message["_id"]},
                                             {"$set": {"feedback.state": delivery.REFUSED}}, session=uow.session)
            elif operation == delivery.CONFIRMATION:
                self.db.cases.update_one(
                    {"_id": code, "confirmation.message_id": message["_id"],
                     "confirmation.state": conf_rules.REQUESTED},
                    {"$set": {"confirmation.state": conf_rules.FAILED, "confirmation.error": str(error)}},
                    session=uow.session)
            elif operation == delivery.FILING:
                self.db.cases.update_one(
                    {"_id": code, "filing.message_id": message["_id"], "filing.state": filing_rules.REQUESTED},
                    {"$set": {"filing.state": filing_rules.FAILED, "filing.error": str(error)}},
                    session=uow.session)
            elif operation == delivery.ENFORCEMENT:
                self.db.cases.update_one(
                    {"_id": code, "enforcements": {"$elemMatch": {"message_id": message["_id"],
                                                                  "state": "requested"}}},
                    {"$set": {"enforcements.$.state": "failed", "enforcements.$.error": str(error)}},
                    session=uow.session)
            uow.audit(ACTOR, f"court.{operation}.refused", case_code=code,
                      details={"court_id": message["court_id"], "message_id": message["_id"]})

        self.store.transaction(settle)

    # -- asking the court about applications and filings ----------------------------------
    def _start_poll(self, uow, kind: str, message: dict, remote_id: str, now: datetime) -> None:
        self.db.polls.insert_one({
            "_id": uuid.uuid4().hex, "kind": kind, "court_id": message["court_id"], "remote_id": remote_id,
            "case": message["case"], "case_code": message["case_code"], "jurisdiction": message["jurisdiction"],
            "state": "active", "failures": 0, "stuck": False, "created_at": now,
            "due_at": now + timedelta(seconds=self.settings.poll_seconds),
        }, session=uow.session)

    def poll_due(self) -> int:
        return self._drain("polls", self._poll)

    def _poll(self, poll: dict) -> None:
        operation = f"{poll['kind']}_status"
        try:
            adapter = self.link.adapter(poll["court_id"])
            status = (adapter.confirmation_status if poll["kind"] == "confirmation"
                      else adapter.filing_status)(poll["remote_id"])
        except KeyError:
            self._poll_failed(poll, CourtRefused(poll["court_id"], operation, "the court is no longer configured"))
        except CourtError as exc:
            self._poll_failed(poll, exc)
        else:
            self._poll_answered(poll, status)

    def _poll_failed(self, poll: dict, error: CourtError) -> None:
        self.metrics.adapter_errors.labels(poll["court_id"], error.operation).inc()
        failures = poll["failures"] + 1
        permanent = isinstance(error, CourtRefused)
        log.warning("asking %s about %s %s failed (%d): %s", poll["court_id"], poll["kind"], poll["remote_id"],
                    failures, error)

        def settle(uow) -> None:
            now = self.clock.now()
            changes = {"failures": failures, "last_error": str(error), "last_failed_at": now,
                       "stuck": permanent or delivery.is_stuck(failures, self.settings.stuck_after),
                       "due_at": delivery.next_attempt(now, failures, self.settings.retry_delays)}
            if permanent:
                changes["state"] = "failed"
            self.db.polls.update_one({"_id": poll["_id"], "state": "active"}, {"$set": changes},
                                     session=uow.session)

        self.store.transaction(settle)

    def _poll_answered(self, poll: dict, status: dict) -> None:
        after_commit = []
        apply = self._confirmation_answer if poll["kind"] == "confirmation" else self._filing_answer

        def settle(uow) -> None:
            after_commit.clear()
            now = self.clock.now()
            done = apply(uow, poll, status, now, after_commit)
            changes = ({"state": "done", "done_at": now} if done else
                       {"due_at": now + timedelta(seconds=self.settings.poll_seconds)})
            self.db.polls.update_one({"_id": poll["_id"], "state": "active"},
                                     {"$set": {**changes, "failures": 0, "stuck": False}}, session=uow.session)

        self.store.transaction(settle)
        for action in after_commit:
            action()

    def _confirmation_answer(self, uow, poll, status, now, after_commit) -> bool:
        case = self.db.cases.find_one({"_id": poll["case_code"]}, session=uow.session)
        confirmation = (case or {}).get("confirmation") or {}
        if confirmation.get("application_id") != poll["remote_id"]:
            return True  # a newer application replaced this one
        if confirmation["state"] not in conf_rules.AWAITING_COURT:
            return True
        changes = conf_rules.court_decision(confirmation, status, now)
        if (not changes and confirmation["state"] == conf_rules.APPLIED and now > confirmation["acceptance_due"]
                and not confirmation.get("acceptance_overdue")):
            changes = {"acceptance_overdue": True}
            log.warning("court %s has not accepted confirmation application %s for %s within %d days",
                        poll["court_id"], poll["remote_id"], poll["case_code"],
                        self.link.reference.rules.confirmation.court_acceptance_days)
            uow.audit(ACTOR, "confirmation.acceptance_overdue", case_code=poll["case_code"],
                      details={"court_id": poll["court_id"], "application_id": poll["remote_id"]})
        if not changes:
            return False
        result = self.db.cases.update_one(
            {"_id": poll["case_code"], "confirmation.application_id": poll["remote_id"],
             "confirmation.state": confirmation["state"]},
            {"$set": {**{f"confirmation.{key}": value for key, value in changes.items()}, "updated_at": now}},
            session=uow.session)
        if not result.modified_count:
            return False
        state = changes.get("state")
        data = {"court_id": poll["court_id"]}
        if state == conf_rules.GRANTED:
            uow.emit("confirmation_granted", case=poll["case"],
                     data={**data, "ruling_number": changes["ruling_number"]})
        elif state == conf_rules.REJECTED:
            uow.emit("confirmation_rejected", case=poll["case"], data={**data, "reasons": changes["reasons"]})
        if state in (conf_rules.GRANTED, conf_rules.REJECTED):
            uow.audit(ACTOR, f"confirmation.{state}", case_code=poll["case_code"], details=data)
            after_commit.append(self.metrics.confirmations.labels(state).inc)
            return True
        if state == conf_rules.ACCEPTED:
            uow.audit(ACTOR, "confirmation.accepted", case_code=poll["case_code"], details=data)
        return False

    def _filing_answer(self, uow, poll, status, now, after_commit) -> bool:
        case = self.db.cases.find_one({"_id": poll["case_code"]}, session=uow.session)
        filing = (case or {}).get("filing") or {}
        if filing.get("filing_id") != poll["remote_id"] or filing["state"] != filing_rules.SUBMITTED:
            return True
        changes = filing_rules.filed_from_status(filing, status)
        if not changes:
            return False
        if changes["state"] == filing_rules.FILED and not changes.get("filed_at"):
            changes["filed_at"] = now
        result = self.db.cases.update_one(
            {"_id": poll["case_code"], "filing.filing_id": poll["remote_id"], "filing.state": filing_rules.SUBMITTED},
            {"$set": {**{f"filing.{key}": value for key, value in changes.items()}, "updated_at": now}},
            session=uow.session)
        if not result.modified_count:
            return False
        if changes["state"] == filing_rules.FILED:
            uow.emit("case_filed", case=poll["case"], data={
                "court_id": poll["court_id"], "track": filing["track"], "docket_number": changes["docket_number"],
                "on_site": filing.get("on_site", False)})
        uow.audit(ACTOR, f"filing.{changes['state']}", case_code=poll["case_code"],
                  details={"court_id": poll["court_id"], "filing_id": poll["remote_id"]})
        return True

    # -- clocks ---------------------------------------------------------------------------
    def expire_referrals(self, limit: int = 1000) -> int:
        """Close referrals whose mediation period has ended and tell their courts."""
        expired = 0
        while expired < limit:
            now = self.clock.now()
            overdue = self.store.overdue_referrals(now, 50)
            if not overdue:
                break

            def close(uow, overdue=overdue, now=now) -> int:
                flows = Flows(self.store, self.link, now)
                return sum(flows.conclude_referral(uow, referral, ref_rules.DEADLINE_PASSED, {},
                                                   referral["deadline"]) for referral in overdue)

            closed = self.store.transaction(close)
            if not closed:
                break  # another replica took these; it will go on with the rest
            expired += closed
        return expired

    def check_confirmation_windows(self, limit: int = 500) -> int:
        now = self.clock.now()
        warned = 0
        for case in self.store.confirmations_to_check(now, limit):
            confirmation = case["confirmation"]
            level = conf_rules.warning_level(confirmation, now)
            next_check = confirmation["apply_by"] if level == conf_rules.DUE_SOON else None

            def record(uow, case=case, confirmation=confirmation, level=level, next_check=next_check) -> bool:
                # Each level is announced once per agreement, however often the window is looked at
                # and whatever becomes of the application meanwhile (warned_levels remembers).
                first_time = level is not None and level not in confirmation.get("warned_levels", [])
                update: dict = {"$set": {"confirmation.warning": level, "confirmation.next_check_at": next_check}}
                if first_time:
                    update["$addToSet"] = {"confirmation.warned_levels": level}
                result = self.db.cases.update_one(
                    {"_id": case["_id"], "confirmation.next_check_at": confirmation["next_check_at"]},
                    update, session=uow.session)
                if not (result.modified_count and first_time):
                    return False
                uow.audit(ACTOR, f"confirmation.window_{level}", case_code=case["_id"],
                          details={"apply_by": confirmation["apply_by"].isoformat()})
                # court_id is empty when no court covers the case's division: someone must name one.
                uow.emit("confirmation_due", case=case_fields(case), data={
                    "court_id": confirmation.get("court_id") or "", "agreement_id": confirmation["agreement_id"],
                    "deadline": iso(confirmation["apply_by"]), "level": level})
                return True

            if self.store.transaction(record):
                warned += 1
                self.metrics.confirmation_warnings.labels(level).inc()
                log.warning("judicial confirmation for %s: window %s (apply by %s, state %s)", case["_id"], level,
                            confirmation["apply_by"].isoformat(), confirmation["state"])
        return warned

    def refresh_gauges(self) -> None:
        self.metrics.feedback_pending.set(self.store.count_messages(delivery.FEEDBACK, delivery.PENDING))
        self.metrics.stuck.set(self.store.count_stuck("messages") + self.store.count_stuck("polls"))


RETRYABLE_REFUSED = (delivery.FEEDBACK, delivery.EXTENSION)


def retry_now(store: Repository, message_id: str, now: datetime, actor, in_scope) -> dict | None:
    """Put a stuck message back at the head of the queue, after someone fixed the cause.

    A refused application or filing is not resent as it was: the court's refusal closed it
    (its state is `failed`), and a new one is made through its own route.
    """

    def release(uow) -> dict | None:
        message = store.db.messages.find_one({"_id": message_id}, session=uow.session)
        if message is None or not in_scope(message["jurisdiction"]):
            return None
        if message["state"] == delivery.DELIVERED:
            raise ref_rules.RuleViolation("the message has been delivered")
        if message["state"] == delivery.REFUSED and message["operation"] not in RETRYABLE_REFUSED:
            raise ref_rules.RuleViolation(
                f"the court refused this {message['operation']}; apply again through its route")
        result = store.db.messages.update_one(
            {"_id": message_id, "state": message["state"]},
            {"$set": {"state": delivery.PENDING, "due_at": now}}, session=uow.session)
        if not result.modified_count:
            raise ref_rules.RuleViolation("the message changed meanwhile; look again")
        uow.audit(actor, "court.message.retry", case_code=message["case_code"],
                  details={"message_id": message_id, "operation": message["operation"]})
        return {**message, "state": delivery.PENDING, "due_at": now}

    return store.transaction(release)
