"""The escalation panel of an incident page (missing commander, post-mortem flag, thresholds
crossed, escalations sent, next crossing, customer SLAs) and its own page for browsers without
scripts."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.ext.asyncio import AsyncSession

from tocsin.auth.dependencies import Requires
from tocsin.auth.permissions import Permission
from tocsin.auth.principal import Principal
from tocsin.db.session import get_session
from tocsin.incidents import service as incidents
from tocsin.incidents.escalation import service
from tocsin.incidents.service import figures
from tocsin.web.templating import is_htmx, render

router = APIRouter(include_in_schema=False)

READ = Depends(Requires(Permission.INCIDENT_READ))
DB = Depends(get_session)


@router.get("/incidents/{ref}/escalations")
async def escalations_page(
    request: Request, ref: str, principal: Principal = READ, session: AsyncSession = DB
) -> HTMLResponse:
    """The panel alone for the incident page (and its live refresh), else a page of its own."""
    incident = await incidents.get_incident(session, principal, ref)
    name = (
        "incidents/escalation/_panel.html" if is_htmx(request) else "incidents/escalation/page.html"
    )
    return render(
        request,
        name,
        incident=incident,
        figures=await service.get_escalations(session, principal, ref),
        slas=await figures.get_slas(session, principal, ref),
    )
