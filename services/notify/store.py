"""Notify's repository: the delivery log (`notifications`), the in-app inbox
(`inbox_messages`; `inbox` is the platform's consumed-events record) and notify's view of
each case's handling unit (`cases`). Every query path has its index."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from pymongo import ASCENDING, DESCENDING, IndexModel, ReturnDocument

from services.common.mongo import Repository
from services.notify.domain import delivery


class NotifyRepository(Repository):
    indexes = {
        "notifications": [
            IndexModel([("dedupe_key", ASCENDING)], unique=True),
            # the dispatcher's claim: one channel's due messages
            IndexModel([("channel", ASCENDING), ("status", ASCENDING), ("next_attempt_at", ASCENDING)]),
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
    def claim_due(self, channel: str, now: datetime, lease_seconds: float) -> dict | None:
        """Atomically take the next due message of a channel: safe with several replicas."""
        return self.db.notifications.find_one_and_update(
            delivery.claim_filter(channel, now),
            delivery.claim_update(now, lease_seconds),
            sort=[("next_attempt_at", ASCENDING)],
            return_document=ReturnDocument.AFTER,
        )

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
