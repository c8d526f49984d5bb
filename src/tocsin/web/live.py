"""Live updates: domain events streamed to browsers over Server-Sent Events.

Each connected page gets its own queue on the event bus and sees only the events whose
audience it may see, so a live page never leaks what the same person could not load.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

from fastapi import APIRouter, Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sse_starlette import EventSourceResponse, ServerSentEvent

from tocsin.auth.dependencies import Requires
from tocsin.auth.permissions import Permission
from tocsin.auth.principal import Principal
from tocsin.db.session import get_session
from tocsin.events import Event, bus
from tocsin.incidents.visibility import participant_hears

router = APIRouter(include_in_schema=False)

PING_SECONDS = 15.0
"""Keeps proxies from closing an idle stream and lets the browser notice a dead server."""

SSE_EVENT = "tocsin"


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


async def _stream(
    principal: Principal, sessionmaker: async_sessionmaker[AsyncSession] | None = None
) -> AsyncIterator[ServerSentEvent]:
    async with bus.stream() as queue:
        # A comment line first, so the browser (and tests) know the subscription is in place.
        yield ServerSentEvent(comment="subscribed")
        while True:
            event = await queue.get()
            if may_see(principal, event.audience) or (
                sessionmaker is not None
                and await participant_hears(sessionmaker, principal, event.audience)
            ):
                yield encode(event)


@router.get("/events/stream")
async def event_stream(
    request: Request,
    principal: Principal = Depends(Requires(Permission.AUTHENTICATED)),
    session: AsyncSession = Depends(get_session),
) -> EventSourceResponse:
    # The stream may stay open for hours: give the database connection back now, not when
    # the response ends.
    await session.close()
    return EventSourceResponse(
        _stream(principal, request.app.state.sessionmaker),
        ping=PING_SECONDS,
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
