"""Communications pages: the panel on an incident page (cadence per group, messages and their
approval, writing an update with a preview per audience), its own page for browsers without
scripts, and the comms log page for admins. Forms go through the same use cases as the API."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from tocsin.auth.dependencies import Requires
from tocsin.auth.permissions import Permission
from tocsin.auth.principal import Principal
from tocsin.comms import log, service
from tocsin.comms.schemas import MessageIn, PreviewIn, Rendering
from tocsin.comms.templates import Audience
from tocsin.db.session import get_session
from tocsin.incidents import service as incidents
from tocsin.web import forms
from tocsin.web.templating import is_htmx, render

router = APIRouter(include_in_schema=False)

READ = Depends(Requires(Permission.INCIDENT_READ))
WRITE = Depends(Requires(Permission.COMMS_WRITE))
APPROVE = Depends(Requires(Permission.COMMS_APPROVE))
AUDIT = Depends(Requires(Permission.COMMS_AUDIT))
DB = Depends(get_session)

UPDATE_FIELDS = ("technical_details", "customers_affected", "customer_experience", "workaround")
MESSAGE_FIELDS = ("audience", "channel", "recipients", "text")


async def _panel(
    request: Request,
    session: AsyncSession,
    principal: Principal,
    ref: str,
    *,
    errors: forms.FormErrors | None = None,
    values: dict[str, str] | None = None,
    previews: list[Rendering] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    incident = await incidents.get_incident(session, principal, ref)
    name = "comms/_incident_panel.html" if is_htmx(request) else "comms/incident_page.html"
    return render(
        request,
        name,
        status_code=status_code,
        incident=incident,
        cadence=await service.cadence(session, principal, ref),
        messages=await service.list_messages(session, principal, ref),
        may_write=principal.can(Permission.COMMS_WRITE),
        may_approve=principal.can(Permission.COMMS_APPROVE),
        audiences=list(Audience),
        errors=errors or forms.FormErrors(),
        values=values or {},
        previews=previews or [],
    )


@router.get("/incidents/{ref}/comms")
async def incident_panel(
    request: Request, ref: str, principal: Principal = READ, session: AsyncSession = DB
) -> HTMLResponse:
    """The panel alone for the incident page (and its live refresh), else a page of its own."""
    return await _panel(request, session, principal, ref)


@router.post("/incidents/{ref}/comms/preview")
async def preview_submit(
    request: Request, ref: str, principal: Principal = WRITE, session: AsyncSession = DB
) -> Response:
    """Preview the update for every audience; with `save`, store it too."""
    form = await request.form()
    values = {name: forms.text(form, name) for name in UPDATE_FIELDS}

    async def _preview() -> list[Rendering]:
        body = PreviewIn.model_validate(values)
        if forms.text(form, "save"):
            await service.add_update(session, principal, ref, body)
        return await service.preview(session, principal, ref, body)

    previews, errors = await forms.attempt(session, _preview)
    return await _panel(
        request,
        session,
        principal,
        ref,
        errors=errors,
        values=values,
        previews=previews,
        status_code=422 if errors else 200,
    )


@router.post("/incidents/{ref}/comms/messages")
async def message_submit(
    request: Request, ref: str, principal: Principal = WRITE, session: AsyncSession = DB
) -> Response:
    form = await request.form()
    values = {name: forms.text(form, name) for name in MESSAGE_FIELDS}

    async def _create() -> Any:
        return await service.create_message(
            session, principal, ref, MessageIn.model_validate(values)
        )

    _, errors = await forms.attempt(session, _create)
    if errors:
        return await _panel(
            request, session, principal, ref, errors=errors, values=values, status_code=422
        )
    return RedirectResponse(f"/incidents/{ref}/comms", status_code=303)


async def _act(
    request: Request,
    session: AsyncSession,
    principal: Principal,
    ref: str,
    action: Callable[[], Awaitable[Any]],
) -> Response:
    _, errors = await forms.attempt(session, action)
    if errors:
        return await _panel(request, session, principal, ref, errors=errors, status_code=409)
    return RedirectResponse(f"/incidents/{ref}/comms", status_code=303)


@router.post("/incidents/{ref}/comms/messages/{message_id}/approve")
async def approve_submit(
    request: Request,
    ref: str,
    message_id: int,
    principal: Principal = APPROVE,
    session: AsyncSession = DB,
) -> Response:
    return await _act(
        request,
        session,
        principal,
        ref,
        lambda: service.approve_message(session, principal, ref, message_id),
    )


@router.post("/incidents/{ref}/comms/messages/{message_id}/publish")
async def publish_submit(
    request: Request,
    ref: str,
    message_id: int,
    principal: Principal = WRITE,
    session: AsyncSession = DB,
) -> Response:
    """External audiences need `comms:approve` too; the use case checks it."""
    return await _act(
        request,
        session,
        principal,
        ref,
        lambda: service.publish_message(session, principal, ref, message_id),
    )


@router.get("/comms/log")
async def log_page(
    request: Request, principal: Principal = AUDIT, session: AsyncSession = DB
) -> HTMLResponse:
    """Newest first, with the chain's verdict."""
    count, broken = await log.verify(session)
    entries = list(reversed(await log.entries(session)))[:500]
    return render(request, "comms/log.html", entries=entries, count=count, broken=broken)
