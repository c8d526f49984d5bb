"""Dashboard pages. Each board refreshes itself when an incident event arrives over the live
stream by re-fetching its own fragment, so what a screen shows is always filtered by the
server for the person signed in, never by the browser."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.ext.asyncio import AsyncSession

from tocsin.auth.dependencies import Requires
from tocsin.auth.permissions import Permission
from tocsin.auth.principal import Principal
from tocsin.dashboards import service as dashboards
from tocsin.db.session import get_session
from tocsin.incidents.schemas import ROLE_LABELS
from tocsin.web.templating import is_htmx, render

router = APIRouter(include_in_schema=False)

READ = Depends(Requires(Permission.INCIDENT_READ))
DB = Depends(get_session)

STAKEHOLDER_STREAM = "/events/stream?scope=public"
"""The stakeholder screen listens to public incident events only, even for an admin's session,
so not even the browser's memory of a shared screen holds a private incident's event."""


@router.get("/dashboards/command")
async def command_page(
    request: Request, principal: Principal = READ, session: AsyncSession = DB
) -> HTMLResponse:
    board = await dashboards.command_view(session, principal)
    name = "dashboards/_command_board.html" if is_htmx(request) else "dashboards/command.html"
    return render(request, name, board=board, role_labels=ROLE_LABELS)


@router.get("/dashboards/stakeholder")
async def stakeholder_page(
    request: Request, _: Principal = READ, session: AsyncSession = DB
) -> HTMLResponse:
    board = await dashboards.stakeholder_view(session)
    name = (
        "dashboards/_stakeholder_board.html" if is_htmx(request) else "dashboards/stakeholder.html"
    )
    return render(request, name, board=board, live_stream=STAKEHOLDER_STREAM)
