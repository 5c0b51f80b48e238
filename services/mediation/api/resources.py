"""Rooms (调解室, on site or video) and mediators: CRUD scoped by jurisdiction.

A room or mediator is never erased: DELETE retires it (active = false) so past sessions keep
what they point at; retiring one that still has sessions ahead is refused with 409.
"""

from __future__ import annotations

from marshmallow import ValidationError

from services.common.errors import Conflict, NotFound, ValidationFailed
from services.common.http import json_response, load_body, load_query, route
from services.mediation.api.common import (
    MANAGE_ROLES,
    READ_ROLES,
    mediator_out,
    new_id,
    page,
    room_out,
    scope,
    sees_any,
)
from services.mediation.domain.scheduling import floor_to_slot
from services.mediation.schemas import (
    MediatorQuerySchema,
    MediatorSchema,
    RoomQuerySchema,
    RoomSchema,
)
from services.mediation.store import room_resource

ROOM_FIELDS = tuple(RoomSchema().fields)
MEDIATOR_FIELDS = tuple(MediatorSchema().fields)
FREE_SEARCH_LIMIT = 1000


def _changes(request, schema_cls, stored: dict, editable: tuple[str, ...]) -> tuple[dict, dict]:
    """A PATCH body checked on its own and merged with what is stored, checked again as a whole."""
    changes = load_body(request, schema_cls(partial=True))
    if not changes:
        raise ValidationFailed("nothing to change", {"body": ["give at least one field"]})
    merged = {key: stored[key] for key in editable if key in stored}
    merged.update(changes)
    try:
        return changes, schema_cls().load(merged)
    except ValidationError as exc:
        raise ValidationFailed("the change leaves invalid fields", exc.normalized_messages()) from exc


class ResourcesApi:
    # -- rooms --------------------------------------------------------------------------------
    @route("GET", "/api/v1/rooms", roles=READ_ROLES, query_schema=RoomQuerySchema,
           summary="rooms in the caller's jurisdiction; free_from/free_to keep only rooms free then")
    def list_rooms(self, request):
        query = load_query(request, RoomQuerySchema())
        prefixes = scope(request.principal, query["jurisdiction"])
        if query["free_from"] is None:
            rooms = self.store.find_rooms(prefixes=prefixes, kind=query["kind"], active=query["active"],
                                          limit=query["limit"], offset=query["offset"])
            return page([room_out(room) for room in rooms], query["limit"], query["offset"])
        rooms = self.store.find_rooms(prefixes=prefixes, kind=query["kind"], active=True,
                                      limit=FREE_SEARCH_LIMIT, offset=0)
        start = floor_to_slot(query["free_from"], self.rules.slot_minutes)
        busy = self.store.busy_resources([room_resource(room["_id"]) for room in rooms], start,
                                         query["free_to"])
        free = [room for room in rooms if room_resource(room["_id"]) not in busy]
        window = free[query["offset"]:query["offset"] + query["limit"]]
        return page([room_out(room) for room in window], query["limit"], query["offset"])

    @route("POST", "/api/v1/rooms", roles=MANAGE_ROLES, request_schema=RoomSchema,
           summary="add a room (on site with capacity and equipment, or video with its join link)",
           responses={201: "created"})
    def create_room(self, request):
        body = load_body(request, RoomSchema())
        request.principal.require_jurisdiction(body["jurisdiction"])
        now = self.clock.now()
        room = {"_id": new_id("room"), **body, "created_at": now, "updated_at": now}

        def create(uow):
            self.store.db.rooms.insert_one(room, session=uow.session)
            uow.audit(request.principal, "room.create", details={"room_id": room["_id"], "kind": room["kind"]})

        self.store.transaction(create)
        return json_response(room_out(room), status=201)

    def _room(self, request, room_id: str) -> dict:
        room = self.store.db.rooms.find_one({"_id": room_id})
        if room is None or not request.principal.covers(room["jurisdiction"]):
            raise NotFound(f"no room {room_id}")
        return room

    @route("GET", "/api/v1/rooms/<room_id>", roles=READ_ROLES, summary="one room")
    def get_room(self, request, room_id):
        return room_out(self._room(request, room_id))

    @route("PATCH", "/api/v1/rooms/<room_id>", roles=MANAGE_ROLES, request_schema=RoomSchema,
           summary="change a room (send only the fields that change)")
    def update_room(self, request, room_id):
        room = self._room(request, room_id)
        changes, merged = _changes(request, RoomSchema, room, ROOM_FIELDS)
        request.principal.require_jurisdiction(merged["jurisdiction"])
        retiring = room.get("active", True) and not merged["active"]
        if retiring or merged["kind"] != room["kind"]:
            self._refuse_if_room_booked(room_id)
        return self._save_room(request, room, merged, sorted(changes))

    @route("DELETE", "/api/v1/rooms/<room_id>", roles=MANAGE_ROLES,
           summary="retire a room (it stays on past sessions)", responses={409: "sessions ahead"})
    def retire_room(self, request, room_id):
        room = self._room(request, room_id)
        self._refuse_if_room_booked(room_id)
        return self._save_room(request, room, {"active": False}, ["active"])

    def _refuse_if_room_booked(self, room_id: str) -> None:
        ahead = self.store.future_sessions_in_room(room_id, self.clock.now())
        if ahead:
            raise Conflict(f"the room has {ahead} session(s) booked ahead; move or cancel them first",
                           {"room_id": [f"{ahead} session(s) ahead"]})

    def _save_room(self, request, room: dict, values: dict, changed: list[str]) -> dict:
        values = {**values, "updated_at": self.clock.now()}

        def save(uow):
            self.store.db.rooms.update_one({"_id": room["_id"]}, {"$set": values}, session=uow.session)
            uow.audit(request.principal, "room.update", details={"room_id": room["_id"], "fields": changed})

        self.store.transaction(save)
        return room_out({**room, **values})

    # -- mediators ----------------------------------------------------------------------------
    @route("GET", "/api/v1/mediators", roles=READ_ROLES, query_schema=MediatorQuerySchema,
           summary="mediators serving the caller's jurisdiction (filters: type, speciality, active)")
    def list_mediators(self, request):
        query = load_query(request, MediatorQuerySchema())
        prefixes = scope(request.principal, query["jurisdiction"])
        found = self.store.find_mediators(prefixes=prefixes, mediator_type=query["type"],
                                          speciality=query["speciality"], active=query["active"],
                                          limit=query["limit"], offset=query["offset"])
        return page([mediator_out(doc) for doc in found], query["limit"], query["offset"])

    @route("POST", "/api/v1/mediators", roles=MANAGE_ROLES, request_schema=MediatorSchema,
           summary="add a mediator (people's, industry, administrative, judicial, lawyer, psychologist)",
           responses={201: "created"})
    def create_mediator(self, request):
        body = load_body(request, MediatorSchema())
        for code in body["jurisdictions"]:
            request.principal.require_jurisdiction(code)
        now = self.clock.now()
        mediator = {"_id": new_id("med"), **body, "created_at": now, "updated_at": now}

        def create(uow):
            self.store.db.mediators.insert_one(mediator, session=uow.session)
            uow.audit(request.principal, "mediator.create",
                      details={"mediator_id": mediator["_id"], "type": mediator["type"]})

        self.store.transaction(create)
        return json_response(mediator_out(mediator), status=201)

    def _mediator(self, request, mediator_id: str) -> dict:
        mediator = self.store.db.mediators.find_one({"_id": mediator_id})
        if mediator is None or not sees_any(request.principal, mediator["jurisdictions"]):
            raise NotFound(f"no mediator {mediator_id}")
        return mediator

    @route("GET", "/api/v1/mediators/<mediator_id>", roles=READ_ROLES, summary="one mediator")
    def get_mediator(self, request, mediator_id):
        return mediator_out(self._mediator(request, mediator_id))

    @route("PATCH", "/api/v1/mediators/<mediator_id>", roles=MANAGE_ROLES, request_schema=MediatorSchema,
           summary="change a mediator (send only the fields that change)")
    def update_mediator(self, request, mediator_id):
        mediator = self._mediator(request, mediator_id)
        self._require_manages(request, mediator)
        changes, merged = _changes(request, MediatorSchema, mediator, MEDIATOR_FIELDS)
        for code in merged["jurisdictions"]:
            request.principal.require_jurisdiction(code)
        if mediator.get("active", True) and not merged["active"]:
            self._refuse_if_mediator_booked(mediator_id)
        return self._save_mediator(request, mediator, merged, sorted(changes))

    @route("DELETE", "/api/v1/mediators/<mediator_id>", roles=MANAGE_ROLES,
           summary="retire a mediator (kept on past sessions)", responses={409: "sessions ahead"})
    def retire_mediator(self, request, mediator_id):
        mediator = self._mediator(request, mediator_id)
        self._require_manages(request, mediator)
        self._refuse_if_mediator_booked(mediator_id)
        return self._save_mediator(request, mediator, {"active": False}, ["active"])

    @staticmethod
    def _require_manages(request, mediator: dict) -> None:
        """Changing a mediator takes a token that covers every area the mediator serves."""
        for code in mediator["jurisdictions"]:
            request.principal.require_jurisdiction(code)

    def _refuse_if_mediator_booked(self, mediator_id: str) -> None:
        ahead = self.store.future_sessions_of_mediator(mediator_id, self.clock.now())
        if ahead:
            raise Conflict(f"the mediator has {ahead} session(s) ahead; move or cancel them first",
                           {"mediator_id": [f"{ahead} session(s) ahead"]})

    def _save_mediator(self, request, mediator: dict, values: dict, changed: list[str]) -> dict:
        values = {**values, "updated_at": self.clock.now()}

        def save(uow):
            self.store.db.mediators.update_one({"_id": mediator["_id"]}, {"$set": values}, session=uow.session)
            uow.audit(request.principal, "mediator.update",
                      details={"mediator_id": mediator["_id"], "fields": changed})

        self.store.transaction(save)
        return mediator_out({**mediator, **values})
