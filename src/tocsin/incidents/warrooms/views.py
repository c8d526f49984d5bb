"""The war-room panel of an incident page (chat rooms, the web room's chat, pin buttons), its
own page for browsers without scripts, and its forms."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import FormData

from tocsin.auth.dependencies import Requires
from tocsin.auth.permissions import Permission
from tocsin.auth.principal import Principal
from tocsin.db.session import get_session
from tocsin.incidents import service as incidents
from tocsin.incidents.warrooms import service
from tocsin.incidents.warrooms.schemas import MessageIn, OpenIn
from tocsin.web import forms
from tocsin.web.templating import is_htmx, render

router = APIRouter(include_in_schema=False)

READ = Depends(Requires(Permission.INCIDENT_READ))
WRITE = Depends(Requires(Permission.INCIDENT_WRITE))
NOTE = Depends(Requires(Permission.INCIDENT_NOTE))
DB = Depends(get_session)


async def _context(
    request: Request, session: AsyncSession, principal: Principal, ref: str
) -> dict[str, Any]:
    return {
        "incident": await incidents.get_incident(session, principal, ref),
        "room": await service.overview(session, principal, ref, request.app.state.settings),
        "may_write": principal.can(Permission.INCIDENT_WRITE),
        "may_note": principal.can(Permission.INCIDENT_NOTE),
    }


async def _page(
    request: Request,
    session: AsyncSession,
    principal: Principal,
    ref: str,
    errors: forms.FormErrors | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    name = "incidents/warrooms/_panel.html" if is_htmx(request) else "incidents/warrooms/page.html"
    return render(
        request,
        name,
        status_code=status_code,
        errors=errors or forms.FormErrors(),
        **await _context(request, session, principal, ref),
    )


@router.get("/incidents/{ref}/war-room")
async def war_room_page(
    request: Request, ref: str, principal: Principal = READ, session: AsyncSession = DB
) -> HTMLResponse:
    """The panel alone for the incident page, else a page of its own."""
    return await _page(request, session, principal, ref)


@router.get("/incidents/{ref}/war-room/messages")
async def war_room_messages(
    request: Request, ref: str, principal: Principal = READ, session: AsyncSession = DB
) -> HTMLResponse:
    """The chat alone: the incident page re-reads it when a live event says it changed."""
    return render(
        request,
        "incidents/warrooms/_messages.html",
        **await _context(request, session, principal, ref),
    )


async def _act(
    request: Request,
    session: AsyncSession,
    principal: Principal,
    ref: str,
    action: Callable[[FormData], Awaitable[Any]],
) -> Response:
    form = await request.form()
    _, errors = await forms.attempt(session, lambda: action(form))
    if errors:
        return await _page(request, session, principal, ref, errors, 422)
    return RedirectResponse(f"/incidents/{ref}#war-room", status_code=303)


@router.post("/incidents/{ref}/war-room/open")
async def open_submit(
    request: Request, ref: str, principal: Principal = WRITE, session: AsyncSession = DB
) -> Response:
    async def go(form: FormData) -> None:
        body = OpenIn.model_validate({"platform": forms.optional(form, "platform")})
        await service.open_rooms(session, principal, ref, body, request.app.state.settings)

    return await _act(request, session, principal, ref, go)


@router.post("/incidents/{ref}/war-room/messages")
async def message_submit(
    request: Request, ref: str, principal: Principal = NOTE, session: AsyncSession = DB
) -> Response:
    async def go(form: FormData) -> None:
        body = MessageIn.model_validate({"body": forms.text(form, "body")})
        await service.post_message(session, principal, ref, body)

    return await _act(request, session, principal, ref, go)


@router.post("/incidents/{ref}/war-room/messages/{message_id}/pin")
async def pin_submit(
    request: Request,
    ref: str,
    message_id: int,
    principal: Principal = NOTE,
    session: AsyncSession = DB,
) -> Response:
    async def go(form: FormData) -> None:
        await service.pin_message(session, principal, ref, message_id)

    return await _act(request, session, principal, ref, go)
