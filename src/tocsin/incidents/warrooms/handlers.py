"""Jobs of war rooms: create a room, make its members follow the incident, pin a message,
post the incident's news, archive and bring back, close a room, read Matrix pin reactions.

A failure is written on the room (so the incident page says why it is still pending) and then
raised, so the queue retries with back-off; a permanent one dead-letters the job at once.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from tocsin.config import get_settings
from tocsin.incidents.warrooms import adapters, follow, service
from tocsin.incidents.warrooms.adapters.base import AdapterError
from tocsin.incidents.warrooms.models import WarRoom
from tocsin.incidents.warrooms.outbox import (
    ARCHIVE_KIND,
    CREATE_KIND,
    PIN_KIND,
    POLL_KIND,
    POST_KIND,
    PRIVATE_KIND,
    SYNC_KIND,
    UNARCHIVE_KIND,
)
from tocsin.jobs.registry import JobContext, PermanentError, job_handler


async def _note_failure(ctx: JobContext, room_filter: Any, error: AdapterError) -> None:
    session = ctx.session
    await session.rollback()
    room = await session.scalar(sa.select(WarRoom).where(room_filter))
    if room is not None:
        room.last_error = str(error)[:2000]
        if error.permanent or ctx.attempt >= ctx.max_attempts:
            room.status = "failed" if room.external_id is None else room.status
        await session.commit()


def _raise(error: AdapterError) -> None:
    if error.permanent:
        raise PermanentError(str(error)) from error
    raise error


@job_handler(CREATE_KIND, timeout_seconds=120)
async def create_room(ctx: JobContext, payload: dict[str, Any]) -> None:
    settings = get_settings()
    incident_id, platform = int(payload["incident_id"]), str(payload["platform"])
    where = sa.and_(WarRoom.incident_id == incident_id, WarRoom.platform == platform)
    try:
        adapter = adapters.for_platform(platform, settings)
    except AdapterError as exc:
        await _note_failure(ctx, where, exc)
        _raise(exc)
        return
    try:
        await service.create_room(
            ctx.session, incident_id, platform, adapter, settings.warroom_name_template
        )
    except AdapterError as exc:
        await _note_failure(ctx, where, exc)
        _raise(exc)
    finally:
        await adapter.aclose()


@job_handler(SYNC_KIND, timeout_seconds=120)
async def sync_members(ctx: JobContext, payload: dict[str, Any]) -> None:
    room = await ctx.session.get(WarRoom, int(payload["war_room_id"]))
    if room is None:
        return
    adapter = adapters.for_platform(room.platform, get_settings())
    try:
        await service.sync_members(ctx.session, room.id, adapter)
    except AdapterError as exc:
        await _note_failure(ctx, WarRoom.id == room.id, exc)
        _raise(exc)
    finally:
        await adapter.aclose()


@job_handler(PIN_KIND, timeout_seconds=60)
async def pin_message(ctx: JobContext, payload: dict[str, Any]) -> None:
    room = await ctx.session.get(WarRoom, int(payload["war_room_id"]))
    if room is None:
        return
    adapter = adapters.for_platform(room.platform, get_settings())
    try:
        await service.pin_external(ctx.session, payload, adapter)
    except AdapterError as exc:
        _raise(exc)
    finally:
        await adapter.aclose()


async def _follow(ctx: JobContext, payload: dict[str, Any], use_case: Any) -> None:
    room = await ctx.session.get(WarRoom, int(payload["war_room_id"]))
    if room is None:
        return
    platform = room.platform
    adapter = adapters.for_platform(platform, get_settings())
    try:
        await use_case(ctx.session, payload, adapter)
    except AdapterError as exc:
        await _note_failure(ctx, WarRoom.id == int(payload["war_room_id"]), exc)
        _raise(exc)
    finally:
        await adapter.aclose()


@job_handler(POST_KIND, timeout_seconds=60)
async def post_event(ctx: JobContext, payload: dict[str, Any]) -> None:
    await _follow(ctx, payload, follow.post_event)


@job_handler(ARCHIVE_KIND, timeout_seconds=120)
async def archive(ctx: JobContext, payload: dict[str, Any]) -> None:
    await _follow(ctx, payload, follow.post_event)  # in order, after the news before it


@job_handler(UNARCHIVE_KIND, timeout_seconds=120)
async def unarchive(ctx: JobContext, payload: dict[str, Any]) -> None:
    await _follow(ctx, payload, follow.post_event)


@job_handler(PRIVATE_KIND, timeout_seconds=120)
async def make_private(ctx: JobContext, payload: dict[str, Any]) -> None:
    await _follow(ctx, payload, follow.make_private)


@job_handler(POLL_KIND, timeout_seconds=120)
async def poll_reactions(ctx: JobContext, payload: dict[str, Any]) -> None:
    settings = get_settings()

    async def poll(session: Any, body: dict[str, Any], adapter: Any) -> None:
        await follow.poll_reactions(session, body, adapter, settings)

    await _follow(ctx, payload, poll)
