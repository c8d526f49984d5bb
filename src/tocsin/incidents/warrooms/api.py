"""REST routes of war rooms under /api/v1/incidents/{ref}/war-room."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from tocsin.auth.dependencies import Requires
from tocsin.auth.permissions import Permission
from tocsin.auth.principal import Principal
from tocsin.db.session import get_session
from tocsin.incidents.warrooms import handlers as _handlers  # noqa: F401  (the chat jobs)
from tocsin.incidents.warrooms import service
from tocsin.incidents.warrooms.schemas import (
    MessageIn,
    MessageOut,
    OpenIn,
    PinIn,
    PinQueued,
    WarRoomOut,
    WarRoomsOut,
)

router = APIRouter(prefix="/api/v1/incidents", tags=["incident war rooms"])

READ = Depends(Requires(Permission.INCIDENT_READ))
WRITE = Depends(Requires(Permission.INCIDENT_WRITE))
NOTE = Depends(Requires(Permission.INCIDENT_NOTE))
DB = Depends(get_session)


@router.get("/{ref}/war-room", response_model=WarRoomsOut)
async def get_war_room(
    request: Request, ref: str, who: Principal = READ, session: AsyncSession = DB
) -> WarRoomsOut:
    """The incident's chat rooms, the web room's messages and what was pinned from chat."""
    return await service.overview(session, who, ref, request.app.state.settings)


@router.post("/{ref}/war-room", response_model=list[WarRoomOut], status_code=202)
async def open_war_room(
    request: Request,
    ref: str,
    body: OpenIn | None = None,
    who: Principal = WRITE,
    session: AsyncSession = DB,
) -> list[WarRoomOut]:
    """Accepted: the rooms are created by a job, so they show `pending` until the platform
    answers."""
    return await service.open_rooms(session, who, ref, body or OpenIn(), request.app.state.settings)


@router.post("/{ref}/war-room/messages", response_model=MessageOut, status_code=201)
async def post_message(
    ref: str, body: MessageIn, who: Principal = NOTE, session: AsyncSession = DB
) -> MessageOut:
    return await service.post_message(session, who, ref, body)


@router.post("/{ref}/war-room/messages/{message_id}/pin", response_model=MessageOut)
async def pin_message(
    ref: str, message_id: int, who: Principal = NOTE, session: AsyncSession = DB
) -> MessageOut:
    return await service.pin_message(session, who, ref, message_id)


@router.post("/{ref}/war-room/pins", response_model=PinQueued, status_code=202)
async def pin_chat_message(
    ref: str, body: PinIn, who: Principal = NOTE, session: AsyncSession = DB
) -> PinQueued:
    """Pin a Slack or Matrix message (by id or permalink) to the timeline; a job fetches it."""
    job_id = await service.request_pin(session, who, ref, body)
    return PinQueued(status="queued", job_id=job_id)
