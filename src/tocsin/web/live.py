"""Live updates: domain events streamed to browsers over Server-Sent Events.

Each connected page gets its own queue on the event bus and sees only the events whose
audience it may see, so a live page never leaks what the same person could not load.

One event reaches every open page at once (a wall of dashboards is a thousand streams), so the
work that does not depend on the viewer is done once per event and shared: the wire encoding,
and for a private incident the list of its participants, read once from the database when the
event arrives rather than once per stream (see `Fanout`).
"""

from __future__ import annotations

import asyncio
import json
from collections import OrderedDict
from collections.abc import AsyncIterator
from typing import Literal

from fastapi import APIRouter, Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sse_starlette import EventSourceResponse, ServerSentEvent

from tocsin.auth.dependencies import Requires
from tocsin.auth.permissions import Permission
from tocsin.auth.principal import Principal
from tocsin.db.session import get_session
from tocsin.events import Event, bus
from tocsin.incidents.visibility import private_incident_id

router = APIRouter(include_in_schema=False)

PING_SECONDS = 15.0
"""Keeps proxies from closing an idle stream and lets the browser notice a dead server."""

SSE_EVENT = "tocsin"

Scope = Literal["all", "public"]
"""`public` drops every private incident's event, whoever is signed in: for shared screens."""


def may_see(principal: Principal, audience: str) -> bool:
    """Audience is a permission name; anything else (a private incident, a typo) only admins see.

    Failing closed matters here: an unknown audience must never reach every browser.
    """
    try:
        permission = Permission(audience)
    except ValueError:
        return principal.is_admin
    return principal.can(permission)


def encode(event: Event) -> ServerSentEvent:
    payload = {"name": event.name, "data": event.data, "at": event.at}
    return ServerSentEvent(data=json.dumps(payload, default=str), event=SSE_EVENT)


class Shared:
    """What every stream carrying one event needs to know about it, worked out once."""

    def __init__(self, event: Event) -> None:
        self.event = event
        self._wire: bytes | None = None
        self._participants: asyncio.Future[frozenset[int]] | None = None

    @property
    def wire(self) -> bytes:
        if self._wire is None:
            self._wire = encode(self.event).encode()
        return self._wire

    async def participants(
        self, sessionmaker: async_sessionmaker[AsyncSession], incident_id: int
    ) -> frozenset[int]:
        """The private incident's participants when the event arrived: one query, shared by
        every stream that asks (the first one asking starts it; the others wait for it)."""
        if self._participants is None:
            self._participants = asyncio.ensure_future(_participants(sessionmaker, incident_id))
        if self._participants.done():
            return self._participants.result()
        # Shielded: a viewer leaving while it waits must not cancel the others' answer.
        return await asyncio.shield(self._participants)


async def _participants(
    sessionmaker: async_sessionmaker[AsyncSession], incident_id: int
) -> frozenset[int]:
    from tocsin.incidents.service.common import participant_ids

    async with sessionmaker() as session:
        return frozenset(await participant_ids(session, incident_id))


class Fanout:
    """The `Shared` record of recent events, keyed by the event object itself.

    Entries hold their event, so an id is never reused while its entry lives; a stream lagging
    further behind than `size` events simply works its answer out again.
    """

    def __init__(self, size: int = 1024) -> None:
        self._size = size
        self._entries: OrderedDict[int, Shared] = OrderedDict()

    def of(self, event: Event) -> Shared:
        key = id(event)
        entry = self._entries.get(key)
        if entry is None or entry.event is not event:
            entry = Shared(event)
            self._entries[key] = entry
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)
        return entry


fanout = Fanout()


async def hears(
    principal: Principal,
    shared: Shared,
    sessionmaker: async_sessionmaker[AsyncSession] | None,
    scope: Scope = "all",
) -> bool:
    """Does this stream carry the event? Its audience's permission, or — for a private
    incident — admins and the incident's participants who may read incidents."""
    audience = shared.event.audience
    incident_id = private_incident_id(audience)
    if incident_id is not None and scope == "public":
        return False
    if may_see(principal, audience):
        return True
    if incident_id is None or sessionmaker is None or principal.user_id is None:
        return False
    if not principal.can(Permission.INCIDENT_READ):
        return False
    return principal.user_id in await shared.participants(sessionmaker, incident_id)


async def _stream(
    principal: Principal,
    sessionmaker: async_sessionmaker[AsyncSession] | None = None,
    scope: Scope = "all",
) -> AsyncIterator[ServerSentEvent | bytes]:
    async with bus.stream() as queue:
        # A comment line first, so the browser (and tests) know the subscription is in place.
        yield ServerSentEvent(comment="subscribed")
        while True:
            shared = fanout.of(await queue.get())
            if await hears(principal, shared, sessionmaker, scope):
                yield shared.wire


@router.get("/events/stream")
async def event_stream(
    request: Request,
    scope: Scope = "all",
    principal: Principal = Depends(Requires(Permission.AUTHENTICATED)),
    session: AsyncSession = Depends(get_session),
) -> EventSourceResponse:
    # The stream may stay open for hours: give the database connection back now, not when
    # the response ends.
    await session.close()
    return EventSourceResponse(
        _stream(principal, request.app.state.sessionmaker, scope),
        ping=PING_SECONDS,
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
