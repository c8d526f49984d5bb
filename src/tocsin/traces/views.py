"""The traces page (service figures, dependency map against the catalog) and the isolation
panel of an incident page."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.ext.asyncio import AsyncSession

from tocsin.auth.dependencies import Requires
from tocsin.auth.permissions import Permission
from tocsin.auth.principal import Principal
from tocsin.clock import utcnow
from tocsin.db.session import get_session
from tocsin.incidents import service as incidents
from tocsin.traces import service
from tocsin.web.templating import is_htmx, render

router = APIRouter(include_in_schema=False)

READ = Depends(Requires(Permission.TRACES_READ))
DB = Depends(get_session)

WINDOWS = {
    "15m": timedelta(minutes=15),
    "1h": timedelta(hours=1),
    "6h": timedelta(hours=6),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
}


@router.get("/traces")
async def traces_page(
    request: Request,
    window: str = Query("1h", pattern="^(15m|1h|6h|24h|7d)$"),
    principal: Principal = READ,
    session: AsyncSession = DB,
) -> HTMLResponse:
    end = utcnow()
    start = end - WINDOWS[window]
    return render(
        request,
        "traces/page.html",
        window=window,
        windows=list(WINDOWS),
        figures=await service.service_figures(session, start, end),
        dependencies=await service.dependency_map(session, start, end),
        isolation=await service.isolate(session, start, end),
    )


@router.get("/incidents/{ref}/isolation")
async def isolation_panel(
    request: Request, ref: str, principal: Principal = READ, session: AsyncSession = DB
) -> HTMLResponse:
    """The panel alone for the incident page, else a page of its own."""
    incident = await incidents.get_incident(session, principal, ref)
    name = "traces/_isolation_panel.html" if is_htmx(request) else "traces/isolation.html"
    return render(
        request,
        name,
        incident=incident,
        isolation=await service.incident_isolation(session, principal, ref),
    )
