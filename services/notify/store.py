"""Notify's repository: the delivery log (`notifications`), the in-app inbox
(`inbox_messages`; `inbox` is the platform's consumed-events record) and notify's view of
each case's handling unit (`cases`). Every query path has its index.

Dispatching works in batches, so that a message costs the store a fraction of a command:
a batch is claimed in two commands (three when another replica raced for it) and its
results are recorded in one transaction of a few commands (docs/notify.md, "Store load").
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from pymongo import ASCENDING, DESCENDING, IndexModel, UpdateOne

from services.common.mongo import Repository
from services.notify.domain import delivery

# What sending needs of a message; the history (which grows with every attempt) stays in the store.
DISPATCH_FIELDS = {"history": 0}


@dataclass(frozen=True)
class Claim:
    """Messages one dispatcher holds under `token` until their lease runs out."""

    token: str
    documents: list[dict]


class NotifyRepository(Repository):
    indexes = {
        "notifications": [
            IndexModel([("dedupe_key", ASCENDING)], unique=True),
            # the dispatcher's claim: one channel's due messages, a single range (settled ones are null)
            IndexModel([("channel", ASCENDING), ("claimable_at", ASCENDING)]),
            IndexModel([("case_code", ASCENDING), ("created_at", ASCENDING)]),
            IndexModel([("jurisdiction", ASCENDING), ("created_at", DESCENDING)]),
            IndexModel([("status", ASCENDING), ("created_at", DESCENDING)]),
            # a later event replacing pending messages on the same topic (a rescheduled session)
            IndexModel([("topic", ASCENDING), ("kind", ASCENDING), ("status", ASCENDING)]),
        ],
        "inbox_messages": [
            IndexModel([("notification_id", ASCENDING)], unique=True),
            IndexModel([("recipient_id", ASCENDING), ("created_at", DESCENDING)]),
            IndexModel([("recipient_id", ASCENDING), ("read_at", ASCENDING), ("created_at", DESCENDING)]),
        ],
    }

    # -- consuming ------------------------------------------------------------------------------
    def consumed_before(self, event_id: str) -> bool:
        """Whether an event was applied; checked before asking intake or routing anything."""
        return self.db.inbox.find_one({"_id": event_id}, {"_id": 1}) is not None

    def case_view(self, case_id: str, session=None) -> dict | None:
        return self.db.cases.find_one({"_id": case_id}, session=session)

    def newer_on_topic(self, topic: str, kinds: Iterable[str], occurred_at: datetime, session=None) -> bool:
        return self.db.notifications.find_one(
            {"topic": topic, "kind": {"$in": sorted(kinds)}, "occurred_at": {"$gt": occurred_at}},
            {"_id": 1}, session=session,
        ) is not None

    def waiting_on_topic(self, topic: str, kinds: Iterable[str], before: datetime, session=None) -> list[dict]:
        return list(self.db.notifications.find(
            {"topic": topic, "kind": {"$in": sorted(kinds)}, "status": delivery.QUEUED,
             "occurred_at": {"$lt": before}},
            {"_id": 1, "kind": 1, "channel": 1}, session=session,
        ))

    # -- dispatching ----------------------------------------------------------------------------
    def claim_batch(self, channel: str, now: datetime, lease_seconds: float, limit: int) -> Claim:
        """Take up to `limit` due messages of a channel: safe with several replicas, since the claim
        is conditional on each message still being claimable, under a token of this claim's own."""
        token = uuid.uuid4().hex
        due = list(self.db.notifications.find(delivery.claimable(channel, now), DISPATCH_FIELDS)
                   .sort("claimable_at", ASCENDING).limit(limit))
        if not due:
            return Claim(token, [])
        ids = [document["_id"] for document in due]
        taken = self.db.notifications.update_many(delivery.still_claimable(ids, now),
                                                  delivery.claim_update(token, now, lease_seconds))
        if taken.modified_count < len(ids):  # another replica took some first
            held = {document["_id"] for document in
                    self.db.notifications.find({"_id": {"$in": ids}, "claim_token": token}, {"_id": 1})}
            due = [document for document in due if document["_id"] in held]
        return Claim(token, due)

    def record_attempts(self, token: str, updates: Sequence[tuple[str, dict]], session) -> set[str]:
        """Apply each message's result in one command; answers the ids this claim still held."""
        if not updates:
            return set()
        ids = [notification_id for notification_id, _ in updates]
        result = self.db.notifications.bulk_write(
            [UpdateOne(delivery.held_by(notification_id, token), update) for notification_id, update in updates],
            ordered=False, session=session)
        if result.matched_count == len(ids):
            return set(ids)
        # Some lease ran out mid-batch and another replica holds those now: it records its own attempts.
        return {document["_id"] for document in self.db.notifications.find(
            {"_id": {"$in": ids}, "claim_token": token}, {"_id": 1}, session=session)}

    def release(self, token: str, notification_ids: Sequence[str], now: datetime, session) -> None:
        if notification_ids:
            self.db.notifications.update_many(delivery.held_by_claim(notification_ids, token),
                                              delivery.release_update(now), session=session)

    def delivered_to_inbox(self, notification_ids: Iterable[str]) -> dict[str, str]:
        """Inbox messages already written for these notifications: notification id → message id."""
        return {message["notification_id"]: message["_id"] for message in self.db.inbox_messages.find(
            {"notification_id": {"$in": list(notification_ids)}}, {"notification_id": 1})}

    # -- reading --------------------------------------------------------------------------------
    def find_notifications(self, query: dict, limit: int, offset: int) -> tuple[list[dict], int]:
        cursor = self.db.notifications.find(query).sort("created_at", ASCENDING).skip(offset).limit(limit)
        return list(cursor), self.db.notifications.count_documents(query)

    def find_notification(self, notification_id: str) -> dict | None:
        return self.db.notifications.find_one({"_id": notification_id})

    def inbox_page(self, query: dict, limit: int, offset: int) -> tuple[list[dict], int, int]:
        """One page of an inbox, newest first, with its total and unread counts."""
        cursor = self.db.inbox_messages.find(query).sort("created_at", DESCENDING).skip(offset).limit(limit)
        total = self.db.inbox_messages.count_documents(query)
        unread = self.db.inbox_messages.count_documents({**query, "read_at": None})
        return list(cursor), total, unread

    def inbox_message(self, recipient_id: str, message_id: str) -> dict | None:
        return self.db.inbox_messages.find_one({"_id": message_id, "recipient_id": recipient_id})
