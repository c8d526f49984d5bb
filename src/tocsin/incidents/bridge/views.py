"""The bridge panel of an incident page, its own page (for browsers without scripts) and the
form that posts a structured update through the same use case as the API."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from tocsin.auth.dependencies import Requires
from tocsin.auth.permissions import Permission
from tocsin.auth.principal import Principal
from tocsin.db.session import get_session
from tocsin.errors import ProblemError
from tocsin.incidents import service as incidents
from tocsin.incidents.bridge import service as bridge
from tocsin.incidents.bridge.schemas import UpdateIn
from tocsin.web import forms
from tocsin.web.templating import is_htmx, render

router = APIRouter(include_in_schema=False)

READ = Depends(Requires(Permission.INCIDENT_READ))
NOTE = Depends(Requires(Permission.INCIDENT_NOTE))
DB = Depends(get_session)


async def _page(
    request: Request,
    session: AsyncSession,
    principal: Principal,
    ref: str,
    errors: forms.FormErrors | None = None,
    values: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    incident = await incidents.get_incident(session, principal, ref)
    name = "incidents/bridge/_panel.html" if is_htmx(request) else "incidents/bridge/page.html"
    return render(
        request,
        name,
        status_code=status_code,
        incident=incident,
        bridge=await bridge.get_bridge(session, principal, ref),
        updates=(await bridge.list_updates(session, principal, ref))[:5],
        may_note=principal.can(Permission.INCIDENT_NOTE),
        errors=errors or forms.FormErrors(),
        values=values or {},
    )


@router.get("/incidents/{ref}/bridge")
async def bridge_page(
    request: Request, ref: str, principal: Principal = READ, session: AsyncSession = DB
) -> HTMLResponse:
    """The panel alone for the incident page (and its live refresh), else a page of its own."""
    return await _page(request, session, principal, ref)


@router.post("/incidents/{ref}/updates")
async def update_submit(
    request: Request, ref: str, principal: Principal = NOTE, session: AsyncSession = DB
) -> Response:
    form = await request.form()
    values = {
        name: forms.text(form, name)
        for name in ("current_status", "actions", "next_steps", "next_due")
    }
    try:
        body = UpdateIn.model_validate({**values, "next_due": values["next_due"] or None})
        await bridge.post_update(session, principal, ref, body)
    except ValidationError as exc:
        await session.rollback()
        errors = forms.from_validation(exc)
        return await _page(request, session, principal, ref, errors, values, 422)
    except ProblemError as exc:
        await session.rollback()
        if exc.status not in {409, 422}:
            raise
        errors = forms.from_problem(exc)
        return await _page(request, session, principal, ref, errors, values, 422)
    return RedirectResponse(f"/incidents/{ref}", status_code=303)
