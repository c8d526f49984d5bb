"""The vendor panel of an incident page (engagements with each vendor's contact protocol and
response clock, the engage form), its own page for browsers without scripts, and its forms."""

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
from tocsin.catalog import service as catalog
from tocsin.db.session import get_session
from tocsin.incidents import service as incidents
from tocsin.incidents.vendors import service
from tocsin.incidents.vendors.schemas import EngageIn, EngagementPatch
from tocsin.web import forms
from tocsin.web.templating import is_htmx, render

router = APIRouter(include_in_schema=False)

READ = Depends(Requires(Permission.INCIDENT_READ))
WRITE = Depends(Requires(Permission.INCIDENT_WRITE))
DB = Depends(get_session)


async def _page(
    request: Request,
    session: AsyncSession,
    principal: Principal,
    ref: str,
    errors: forms.FormErrors | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    incident = await incidents.get_incident(session, principal, ref)
    name = "incidents/vendors/_panel.html" if is_htmx(request) else "incidents/vendors/page.html"
    return render(
        request,
        name,
        status_code=status_code,
        incident=incident,
        engagements=await service.list_engagements(session, principal, ref),
        vendors=await catalog.list_vendors(session),
        may_write=principal.can(Permission.INCIDENT_WRITE),
        errors=errors or forms.FormErrors(),
    )


@router.get("/incidents/{ref}/vendors")
async def vendors_page(
    request: Request, ref: str, principal: Principal = READ, session: AsyncSession = DB
) -> HTMLResponse:
    """The panel alone for the incident page (and its live refresh), else a page of its own."""
    return await _page(request, session, principal, ref)


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
    return RedirectResponse(f"/incidents/{ref}", status_code=303)


@router.post("/incidents/{ref}/vendors")
async def engage_submit(
    request: Request, ref: str, principal: Principal = WRITE, session: AsyncSession = DB
) -> Response:
    async def go(form: FormData) -> None:
        body = EngageIn.model_validate(
            {
                "vendor": forms.text(form, "vendor"),
                "case_id": forms.optional(form, "case_id"),
                "notes": forms.text(form, "notes"),
            }
        )
        await service.engage(session, principal, ref, body)

    return await _act(request, session, principal, ref, go)


@router.post("/incidents/{ref}/vendors/{engagement_id}")
async def engagement_submit(
    request: Request,
    ref: str,
    engagement_id: int,
    principal: Principal = WRITE,
    session: AsyncSession = DB,
) -> Response:
    async def go(form: FormData) -> None:
        body = EngagementPatch.model_validate(
            {
                "case_id": forms.optional(form, "case_id"),
                "acknowledged": bool(forms.text(form, "acknowledged")),
                "resolved": bool(forms.text(form, "resolved")),
                "notes": forms.optional(form, "notes"),
            }
        )
        await service.update_engagement(session, principal, ref, engagement_id, body)

    return await _act(request, session, principal, ref, go)
