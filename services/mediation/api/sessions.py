"""Sessions on site or by video: booking without double booking, reschedule, cancel,
attendance, and the reminders handed to notify.

Double booking is refused twice over. First a friendly check reads the reservations and
answers 409 naming the sessions in the way. Then the booking itself inserts one reservation
per resource and slot under a unique index, in the same transaction as the session: of two
requests racing for the same room or mediator, one commits and the other meets the index
(or a write conflict) and gets the same 409. Intervals are half open, so back-to-back
sessions share no slot.
"""

from __future__ import annotations

from pymongo.errors import BulkWriteError, DuplicateKeyError, PyMongoError

from services.common.contracts import iso
from services.common.dependencies import every
from services.common.errors import Conflict, InvalidTransition, NotFound, ValidationFailed
from services.common.http import json_response, load_body, route
from services.mediation.api.common import (
    SCHEDULE_ROLES,
    MediationMetrics,
    case_ref,
    checked_slot,
    new_id,
    require_file,
    session_out,
    working_hours,
)
from services.mediation.domain.codes import related
from services.mediation.domain.scheduling import (
    Slot,
    describe_hours,
    next_reminder_at,
    reminder_plan,
    slot_marks,
    take_due_reminder,
    within_working_hours,
)
from services.mediation.schemas import AttendanceSchema, CancelSchema, RescheduleSchema, SessionRequestSchema
from services.mediation.store import OPEN, SCHEDULED, mediator_resource, room_resource

REMINDER_BATCH = 200
SWEEPER = "system:reminder-sweeper"


def scheduled_data(session: dict, *, rescheduled: bool) -> dict:
    return {
        "session_id": session["_id"],
        "kind": session["kind"],
        "purpose": session["purpose"],
        "starts_at": iso(session["starts_at"]),
        "ends_at": iso(session["ends_at"]),
        "room_id": session["room_id"],
        "place": session["place"],
        "join_link": session["join_link"],
        "mediator_id": session["mediator_id"],
        "departments": session["departments"],
        "rescheduled": rescheduled,
    }


def reminder_data(session: dict, reminder: str) -> dict:
    data = scheduled_data(session, rescheduled=False)
    del data["rescheduled"]
    return {**data, "reminder": reminder}


def lost_race(exc: PyMongoError) -> bool:
    """A concurrent booking got there first: the unique index refused our reservation (a bulk
    insert reports it as a BulkWriteError of duplicate keys), or the transactions collided and
    the retries ran out."""
    if isinstance(exc, DuplicateKeyError):
        return True
    if isinstance(exc, BulkWriteError):
        errors = exc.details.get("writeErrors") or []
        return bool(errors) and all(error.get("code") == 11000 for error in errors)
    return exc.has_error_label("TransientTransactionError")


def resources_of(session: dict) -> list[str]:
    held = [mediator_resource(session["mediator_id"])]
    if session["room_id"]:
        held.append(room_resource(session["room_id"]))
    return held


class SessionsApi:
    # -- booking ------------------------------------------------------------------------------
    @route("POST", "/api/v1/mediations/<code>/sessions", roles=SCHEDULE_ROLES, request_schema=SessionRequestSchema,
           summary="book a session on site (a room) or by video; purpose mediation, legal_aid or counselling",
           responses={201: "booked", 409: "room or mediator taken, or mediator off duty (fields say what)",
                      422: "outcome recorded, or the case is kept by another mediator"})
    def schedule_session(self, request, code):
        found = require_file(self.store, request.principal, code)
        body = load_body(request, SessionRequestSchema())
        now = self.clock.now()
        slot = checked_slot(body["starts_at"], body["ends_at"], now, self.rules)
        self._refuse_after_outcome(found, body["purpose"])
        session_id = new_id("ses")
        mediator = self._usable_mediator(found, body["mediator_id"], body["purpose"], slot, body["change_mediator"])
        room, place, join_link = self._venue(found, body["kind"], body["room_id"], body["expected_attendees"],
                                             session_id)
        departments = body["departments"] if body["departments"] is not None else found["departments"]
        session = {
            "_id": session_id,
            "file_id": found["_id"],
            **case_ref(found),
            "kind": body["kind"],
            "purpose": body["purpose"],
            "mediator_id": mediator["_id"],
            "room_id": room["_id"] if room else None,
            "place": place,
            "join_link": join_link,
            "starts_at": slot.starts_at,
            "ends_at": slot.ends_at,
            "expected_attendees": body["expected_attendees"],
            "departments": departments,
            "note": body["note"],
            "status": SCHEDULED,
            "attendance": None,
            "created_at": now,
            "created_by": request.principal.sub,
            "version": 1,
            "history": [],
            **self._reminders(slot, now),
        }

        def book(uow):
            self._reserve(uow, session)
            self.store.db.sessions.insert_one(session, session=uow.session)
            if session["purpose"] == "mediation":
                self._keep_lead(uow, found, mediator["_id"], now)
            uow.emit("session_scheduled", case=case_ref(found), data=scheduled_data(session, rescheduled=False))
            uow.audit(request.principal, "session.schedule", case_code=found["case_code"], details={
                "session_id": session_id, "kind": session["kind"], "purpose": session["purpose"],
                "room_id": session["room_id"], "mediator_id": session["mediator_id"]})

        self._book(book, session)
        MediationMetrics(self.metrics).sessions.labels(session["kind"]).inc()
        return json_response(session_out(session), status=201)

    @route("POST", "/api/v1/mediations/<code>/sessions/<session_id>/reschedule", roles=SCHEDULE_ROLES,
           request_schema=RescheduleSchema, summary="move a booked session (and optionally its room or mediator)",
           responses={409: "room or mediator taken", 422: "not a scheduled session"})
    def reschedule_session(self, request, code, session_id):
        found = require_file(self.store, request.principal, code)
        current = self._scheduled_session(found, session_id, "moved")
        body = load_body(request, RescheduleSchema())
        now = self.clock.now()
        slot = checked_slot(body["starts_at"], body["ends_at"], now, self.rules)
        self._refuse_after_outcome(found, current["purpose"])
        mediator_id = body["mediator_id"] or current["mediator_id"]
        # moving a session at its own mediator is no hand-over, whoever keeps the case now
        handover = body["change_mediator"] or mediator_id == current["mediator_id"]
        mediator = self._usable_mediator(found, mediator_id, current["purpose"], slot, handover)
        room, place, join_link = self._venue(found, current["kind"], body["room_id"] or current["room_id"],
                                             current["expected_attendees"], session_id)
        if room is None:
            join_link = current["join_link"]  # a video session keeps the link the parties were sent
        changes = {
            "mediator_id": mediator["_id"], "room_id": room["_id"] if room else None, "place": place,
            "join_link": join_link, "starts_at": slot.starts_at, "ends_at": slot.ends_at,
            **self._reminders(slot, now), "version": current["version"] + 1,
        }
        moved = {**current, **changes}
        entry = {"at": now, "what": "rescheduled", "by": request.principal.sub,
                 "from": current["starts_at"], "reason": body["reason"]}

        def move(uow):
            self.store.db.reservations.delete_many({"session_id": session_id}, session=uow.session)
            self._reserve(uow, moved)
            result = self.store.db.sessions.update_one(
                {"_id": session_id, "status": SCHEDULED, "version": current["version"]},
                {"$set": changes, "$push": {"history": entry}}, session=uow.session)
            if result.matched_count == 0:
                raise Conflict("the session changed meanwhile; reload it", {"session_id": ["changed meanwhile"]})
            if moved["purpose"] == "mediation" and moved["mediator_id"] != current["mediator_id"]:
                self._keep_lead(uow, found, moved["mediator_id"], now)
            uow.emit("session_scheduled", case=case_ref(found), data=scheduled_data(moved, rescheduled=True))
            uow.audit(request.principal, "session.reschedule", case_code=found["case_code"], details={
                "session_id": session_id, "room_id": moved["room_id"], "mediator_id": moved["mediator_id"]})

        self._book(move, moved)
        return session_out({**moved, "history": [*current["history"], entry]})

    @route("POST", "/api/v1/mediations/<code>/sessions/<session_id>/cancel", roles=SCHEDULE_ROLES,
           request_schema=CancelSchema, summary="cancel a booked session (its room and mediator are freed)",
           responses={422: "not a scheduled session"})
    def cancel_session(self, request, code, session_id):
        found = require_file(self.store, request.principal, code)
        current = self._scheduled_session(found, session_id, "cancelled")
        body = load_body(request, CancelSchema())
        now = self.clock.now()

        def cancel(uow):
            if not self._cancel(uow, current, body["reason"], now, request.principal.sub, body["note"]):
                raise InvalidTransition("the session is no longer scheduled", {"session_id": ["not scheduled"]})
            uow.audit(request.principal, "session.cancel", case_code=found["case_code"],
                      details={"session_id": session_id, "reason": body["reason"]})

        self.store.transaction(cancel)
        return session_out(self.store.db.sessions.find_one({"_id": session_id}))

    @route("POST", "/api/v1/mediations/<code>/sessions/<session_id>/attendance", roles=SCHEDULE_ROLES,
           request_schema=AttendanceSchema,
           summary="record who attended (parties, departments); the session is then held, or a no-show",
           responses={422: "not begun yet, or already recorded"})
    def record_attendance(self, request, code, session_id):
        found = require_file(self.store, request.principal, code)
        current = self._scheduled_session(found, session_id, "given its attendance")
        body = load_body(request, AttendanceSchema())
        now = self.clock.now()
        if now < current["starts_at"]:
            raise InvalidTransition("the session has not begun; attendance is recorded once it has",
                                    {"session_id": [f"starts {iso(current['starts_at'])}"]})
        held = any(party["present"] for party in body["parties"])
        status = "held" if held else "no_show"
        attendance = {**body, "recorded_at": now, "recorded_by": request.principal.sub}

        def record(uow):
            result = self.store.db.sessions.update_one(
                {"_id": session_id, "status": SCHEDULED},
                {"$set": {"status": status, "attendance": attendance, "next_reminder_at": None}},
                session=uow.session)
            if result.matched_count == 0:
                raise InvalidTransition("attendance was recorded meanwhile", {"session_id": ["already recorded"]})
            first = False
            if current["purpose"] == "mediation" and held:
                first = self.store.db.files.update_one(
                    {"_id": found["_id"], "first_session_at": None},
                    {"$set": {"first_session_at": current["starts_at"]}}, session=uow.session,
                ).modified_count == 1
            uow.audit(request.principal, "session.attendance", case_code=found["case_code"], details={
                "session_id": session_id, "status": status,
                "parties_present": sum(1 for p in body["parties"] if p["present"]),
                "departments_present": sum(1 for d in body["departments"] if d["present"])})
            return first

        if self.store.transaction(record):
            waited = (current["starts_at"] - found["requested_at"]).total_seconds()
            MediationMetrics(self.metrics).time_to_first_session.observe(max(waited, 0.0))
        return session_out({**current, "status": status, "attendance": attendance})

    # -- reminders ----------------------------------------------------------------------------
    @every("MEDIATION_REMINDER_SWEEP_SECONDS", 30.0)
    def send_reminders(self):
        """Hand notify the reminders now due. Every replica runs this: each reminder is claimed
        by a conditional update on the session, in the transaction that emits it."""
        now = self.clock.now()
        for session in self.store.due_reminders(now, REMINDER_BATCH):
            self._remind(session, now)

    def _remind(self, session: dict, now) -> None:
        reminder, plan = take_due_reminder(session["reminders"], now, session["starts_at"])

        def remind(uow):
            claimed = self.store.db.sessions.update_one(
                {"_id": session["_id"], "status": SCHEDULED, "next_reminder_at": session["next_reminder_at"]},
                {"$set": {"reminders": plan, "next_reminder_at": next_reminder_at(plan)}}, session=uow.session)
            if claimed.matched_count == 0:  # another replica sent it, or the session moved meanwhile
                return None
            if reminder:
                uow.emit("session_reminder", case=case_ref(session), data=reminder_data(session, reminder))
            uow.audit(SWEEPER, "session.remind", case_code=session["case_code"],
                      details={"session_id": session["_id"], "reminder": reminder})
            return reminder

        sent = self.store.transaction(remind)
        if sent:
            MediationMetrics(self.metrics).reminders.labels(sent).inc()

    # -- shared steps -------------------------------------------------------------------------
    def _reminders(self, slot: Slot, now) -> dict:
        plan = reminder_plan(slot.starts_at, now, self.rules.reminders)
        return {"reminders": plan, "next_reminder_at": next_reminder_at(plan)}

    @staticmethod
    def _refuse_after_outcome(found: dict, purpose: str) -> None:
        if purpose == "mediation" and found["status"] != OPEN:
            raise InvalidTransition("the mediation has its outcome: no more mediation sessions "
                                    "(legal aid and counselling can still be booked)",
                                    {"purpose": ["outcome recorded"]})

    def _scheduled_session(self, found: dict, session_id: str, what: str) -> dict:
        session = self.store.db.sessions.find_one({"_id": session_id, "file_id": found["_id"]})
        if session is None:
            raise NotFound(f"no session {session_id} in this mediation")
        if session["status"] != SCHEDULED:
            raise InvalidTransition(f"only a scheduled session can be {what}; this one is {session['status']}",
                                    {"session_id": [session["status"]]})
        return session

    def _usable_mediator(self, found: dict, mediator_id: str, purpose: str, slot: Slot, change: bool) -> dict:
        mediator = self.store.db.mediators.find_one({"_id": mediator_id})
        if mediator is None or not mediator.get("active", True):
            raise ValidationFailed(f"no active mediator {mediator_id}", {"mediator_id": ["no such active mediator"]})
        allowed = self.rules.purposes[purpose]
        if mediator["type"] not in allowed:
            message = f"a {purpose} session is held by a mediator of type {', '.join(sorted(allowed))}"
            raise ValidationFailed(message, {"mediator_id": [message]})
        if not any(related(code, found["jurisdiction"]) for code in mediator["jurisdictions"]):
            raise ValidationFailed("the mediator does not serve this case's area",
                                   {"mediator_id": ["does not serve this area"]})
        lead = found.get("lead_mediator_id")
        if purpose == "mediation" and lead and lead != mediator_id and not change:
            raise InvalidTransition(
                f"the case is kept by the mediator of its first session ({lead}); "
                "send change_mediator=true to hand it over", {"mediator_id": [f"the case is kept by {lead}"]})
        hours = working_hours(mediator, self.rules)
        if not within_working_hours(slot, hours, self.rules.timezone):
            raise Conflict(f"the session falls outside the mediator's working hours ({self.rules.timezone.key})",
                           {"mediator_id": [f"works {describe_hours(hours)}"]})
        return mediator

    def _venue(self, found: dict, kind: str, room_id: str | None, attendees: int | None,
               session_id: str) -> tuple[dict | None, str | None, str | None]:
        """The room, the place parties are told, and the video link."""
        if room_id is None:
            return None, None, self.rules.video_link_template.format(session_id=session_id)
        room = self.store.db.rooms.find_one({"_id": room_id})
        if room is None or not room.get("active", True):
            raise ValidationFailed(f"no active room {room_id}", {"room_id": ["no such active room"]})
        if room["kind"] != kind:
            raise ValidationFailed(f"a {kind} session needs a {kind} room; {room_id} is {room['kind']}",
                                   {"room_id": [f"a {room['kind']} room"]})
        if not related(room["jurisdiction"], found["jurisdiction"]):
            raise ValidationFailed("the room is outside this case's area", {"room_id": ["outside the case's area"]})
        if kind == "video":
            return room, None, room["join_link"]
        if attendees and room.get("capacity") and attendees > room["capacity"]:
            raise Conflict(f"the room seats {room['capacity']}, {attendees} are expected",
                           {"room_id": [f"seats {room['capacity']}"]})
        place = room["name"] + (f"（{room['location']}）" if room.get("location") else "")
        return room, place, None

    def _reserve(self, uow, session: dict) -> None:
        marks = slot_marks(Slot(session["starts_at"], session["ends_at"]), self.rules.slot_minutes)
        self.store.db.reservations.insert_many(
            [{"resource": resource, "slot": mark, "session_id": session["_id"]}
             for resource in resources_of(session) for mark in marks],
            session=uow.session)

    def _keep_lead(self, uow, found: dict, mediator_id: str, now) -> None:
        """The first mediation session's mediator keeps the case; a hand-over (already allowed by
        `_usable_mediator`) moves it. Conditional, so a concurrent change is noticed, not lost."""
        lead = found.get("lead_mediator_id")
        update: dict = {"$set": {"updated_at": now}}
        if lead != mediator_id:
            update["$set"]["lead_mediator_id"] = mediator_id
            update["$push"] = {"history": {"at": now, "what": "lead_mediator", "mediator_id": mediator_id,
                                           "previous": lead}}
        # a concurrent booking that already made the same mediator the lead is no conflict
        result = self.store.db.files.update_one(
            {"_id": found["_id"], "status": OPEN, "lead_mediator_id": {"$in": [lead, mediator_id]}},
            update, session=uow.session)
        if result.matched_count == 0:
            raise Conflict("the mediation file changed meanwhile (an outcome, or another mediator took the case); "
                           "reload it", {"mediator_id": ["file changed meanwhile"]})

    def _cancel(self, uow, session: dict, reason: str, now, by: str, note: str | None = None) -> bool:
        result = self.store.db.sessions.update_one(
            {"_id": session["_id"], "status": SCHEDULED},
            {"$set": {"status": "cancelled", "cancelled_at": now, "cancel_reason": reason, "next_reminder_at": None},
             "$push": {"history": {"at": now, "what": "cancelled", "by": by, "reason": reason, "note": note}}},
            session=uow.session)
        if result.matched_count == 0:
            return False
        self.store.db.reservations.delete_many({"session_id": session["_id"]}, session=uow.session)
        uow.emit("session_cancelled", case=case_ref(session), data={
            "session_id": session["_id"], "kind": session["kind"], "purpose": session["purpose"],
            "starts_at": iso(session["starts_at"]), "reason": reason, "departments": session["departments"]})
        return True

    def _book(self, work, session: dict) -> None:
        clashes = self._clashes(session)
        if clashes:
            raise self._conflict(clashes)
        try:
            self.store.transaction(work)
        except PyMongoError as exc:
            if not lost_race(exc):
                raise
            raise self._conflict(self._clashes(session), raced=True) from exc

    def _clashes(self, session: dict) -> dict:
        held = self.store.reserved(resources_of(session), session["starts_at"], session["ends_at"],
                                   ignore_session=session["_id"])
        clashes = {}
        for resource, session_ids in held.items():
            field = "room_id" if resource.startswith("room:") else "mediator_id"
            others = self.store.db.sessions.find({"_id": {"$in": sorted(session_ids)}},
                                                 {"starts_at": 1, "ends_at": 1}).sort("starts_at", 1)
            clashes[field] = [{"session_id": other["_id"], "starts_at": iso(other["starts_at"]),
                               "ends_at": iso(other["ends_at"])} for other in others]
        return clashes

    def _conflict(self, clashes: dict, raced: bool = False) -> Conflict:
        # a lost race is counted as such, whatever it clashed with: how often the unique index
        # (not the friendly check) had to refuse a double booking is worth seeing on its own
        counter = MediationMetrics(self.metrics).conflicts
        for resource in ["race"] if raced else [field.removesuffix("_id") for field in clashes]:
            counter.labels(resource).inc()
        if not clashes:
            return Conflict("another booking took the same room, mediator or file at the same moment; try again",
                            {"starts_at": ["taken by a concurrent booking"]})
        taken = {"room_id": "the room is booked", "mediator_id": "the mediator has another session"}
        message = "; ".join(taken[field] for field in clashes) + " at that time"
        if raced:
            message += " (booked by a concurrent request)"
        return Conflict(message, clashes)
