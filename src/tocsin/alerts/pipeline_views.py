"""Pages of the pipeline: alert groups with their members, silences (list, create,
expire) and maintenance windows (list, create, end). The forms call the same service
functions as the API, so every change is checked and audited the same way."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from tocsin.alerts.schemas import MaintenanceCreate, MatcherIn, SilenceCreate
from tocsin.alerts.service import settings as pipeline
from tocsin.auth.dependencies import Requires
from tocsin.auth.permissions import Permission
from tocsin.auth.principal import Principal
from tocsin.catalog import service as catalog
from tocsin.clock import utcnow
from tocsin.db.session import get_session
from tocsin.errors import Invalid
from tocsin.web import forms
from tocsin.web.templating import render

router = APIRouter(include_in_schema=False)

READ = Depends(Requires(Permission.ALERTS_READ))
MANAGE = Depends(Requires(Permission.ALERTS_MANAGE))
DB = Depends(get_session)
MATCHER_SYNTAX = ("=~", "!~", "!=", "=")


@router.get("/alert-groups")
async def groups_page(
    request: Request, _: Principal = READ, session: AsyncSession = DB
) -> HTMLResponse:
    return render(request, "alerts/groups.html", groups=await pipeline.list_groups(session))


async def _silences_page(
    request: Request,
    session: AsyncSession,
    principal: Principal,
    *,
    errors: forms.FormErrors | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    return render(
        request,
        "alerts/silences.html",
        status_code=status_code,
        silences=await pipeline.list_silences(session),
        may_manage=principal.can(Permission.ALERTS_MANAGE),
        errors=errors or forms.FormErrors(),
    )


@router.get("/silences")
async def silences_page(
    request: Request, principal: Principal = READ, session: AsyncSession = DB
) -> HTMLResponse:
    return await _silences_page(request, session, principal)


def parse_matcher(line: str) -> MatcherIn:
    """`name=value`, `name!=value`, `name=~regex`, `name!~regex`, as typed in amtool."""
    for op in MATCHER_SYNTAX:
        name, found, value = line.partition(op)
        if found and name.strip():
            return MatcherIn(name=name.strip(), op=op, value=value.strip().strip('"'))
    raise Invalid("matchers", f"cannot read {line!r}; write name=value, name!=value, name=~regex")


@router.post("/silences")
async def create_silence_form(
    request: Request, principal: Principal = MANAGE, session: AsyncSession = DB
) -> Response:
    form = await request.form()

    async def create() -> None:
        lines = [line for line in forms.text(form, "matchers").splitlines() if line.strip()]
        try:
            hours = float(forms.text(form, "hours") or "0")
        except ValueError:
            raise Invalid("hours", "must be a number") from None
        if hours <= 0:
            raise Invalid("hours", "must be a positive number of hours")
        body = SilenceCreate(
            matchers=[parse_matcher(line) for line in lines],
            ends_at=utcnow() + timedelta(hours=hours),
            comment=forms.text(form, "comment"),
        )
        await pipeline.create_silence(session, principal, body)

    _, errors = await forms.attempt(session, create, forms.PAGE_REFUSALS)
    if errors:
        return await _silences_page(
            request, session, principal, errors=errors, status_code=errors.status
        )
    return RedirectResponse("/silences", status_code=303)


@router.post("/silences/{silence_id}/expire")
async def expire_silence_form(
    silence_id: int, principal: Principal = MANAGE, session: AsyncSession = DB
) -> Response:
    await pipeline.expire_silence(session, principal, silence_id)
    return RedirectResponse("/silences", status_code=303)


async def _maintenance_page(
    request: Request,
    session: AsyncSession,
    principal: Principal,
    *,
    errors: forms.FormErrors | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    return render(
        request,
        "alerts/maintenance.html",
        status_code=status_code,
        windows=await pipeline.list_maintenance(session),
        services=await catalog.list_services(session),
        may_manage=principal.can(Permission.ALERTS_MANAGE),
        errors=errors or forms.FormErrors(),
    )


@router.get("/maintenance-windows")
async def maintenance_page(
    request: Request, principal: Principal = READ, session: AsyncSession = DB
) -> HTMLResponse:
    return await _maintenance_page(request, session, principal)


@router.post("/maintenance-windows")
async def create_maintenance_form(
    request: Request, principal: Principal = MANAGE, session: AsyncSession = DB
) -> Response:
    form = await request.form()

    async def create() -> None:
        body = MaintenanceCreate(
            service=forms.text(form, "service"),
            starts_at=forms.text(form, "starts_at"),
            duration_minutes=forms.text(form, "duration_minutes"),
            timezone=forms.text(form, "timezone") or "UTC",
            rrule=forms.optional(form, "rrule"),
            comment=forms.text(form, "comment"),
        )
        await pipeline.create_maintenance(session, principal, body)

    _, errors = await forms.attempt(session, create, forms.PAGE_REFUSALS)
    if errors:
        return await _maintenance_page(
            request, session, principal, errors=errors, status_code=errors.status
        )
    return RedirectResponse("/maintenance-windows", status_code=303)


@router.post("/maintenance-windows/{window_id}/end")
async def end_maintenance_form(
    window_id: int, principal: Principal = MANAGE, session: AsyncSession = DB
) -> Response:
    await pipeline.end_maintenance(session, principal, window_id)
    return RedirectResponse("/maintenance-windows", status_code=303)
