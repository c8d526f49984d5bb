"""Check pages: the list with live status, a check's history with its latency chart, and the
panel on an incident page that runs the affected services' checks on demand."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from tocsin.auth.dependencies import Requires
from tocsin.auth.permissions import Permission
from tocsin.auth.principal import Principal
from tocsin.checks import incident, service
from tocsin.db.session import get_session
from tocsin.incidents import service as incidents
from tocsin.web.templating import is_htmx, render

router = APIRouter(include_in_schema=False)

READ = Depends(Requires(Permission.CHECKS_READ))
RUN = Depends(Requires(Permission.CHECKS_RUN))
DB = Depends(get_session)


@router.get("/checks")
async def checks_page(
    request: Request, principal: Principal = READ, session: AsyncSession = DB
) -> HTMLResponse:
    checks = await service.list_checks(session)
    name = "checks/_list.html" if is_htmx(request) else "checks/list.html"
    return render(request, name, checks=checks)


@router.get("/checks/{slug}")
async def check_page(
    request: Request, slug: str, principal: Principal = READ, session: AsyncSession = DB
) -> HTMLResponse:
    detail = await service.check_detail(session, slug, limit=200)
    chart = [
        {"at": r.started_at.isoformat(), "ms": r.latency_ms, "ok": r.ok}
        for r in reversed(detail.results)
    ]
    name = "checks/_detail.html" if is_htmx(request) else "checks/detail.html"
    return render(
        request,
        name,
        check=detail,
        chart=chart,
        may_run=principal.can(Permission.CHECKS_RUN),
    )


@router.post("/checks/{slug}/run")
async def run_submit(slug: str, principal: Principal = RUN, session: AsyncSession = DB) -> Response:
    await service.run_now(session, principal, slug)
    return RedirectResponse(f"/checks/{slug}", status_code=303)


@router.get("/incidents/{ref}/checks")
async def incident_panel(
    request: Request, ref: str, principal: Principal = READ, session: AsyncSession = DB
) -> HTMLResponse:
    """The panel alone for the incident page (and its live refresh), else a page of its own."""
    found = await incidents.get_incident(session, principal, ref)
    name = "checks/_incident_panel.html" if is_htmx(request) else "checks/incident_page.html"
    return render(
        request,
        name,
        incident=found,
        items=await incident.incident_checks(session, principal, ref),
        may_run=principal.can(Permission.CHECKS_RUN),
    )


@router.post("/incidents/{ref}/checks/run")
async def incident_run_submit(
    ref: str, principal: Principal = RUN, session: AsyncSession = DB
) -> Response:
    await incident.run_for_incident(session, principal, ref)
    return RedirectResponse(f"/incidents/{ref}/checks", status_code=303)
