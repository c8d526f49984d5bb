"""Alert pages: the live alert list, and integrations (list, create, rotate, disable).

The forms post to the same service functions as the API, so every change is checked and
audited the same way; a new or rotated key is shown once, on the page that answers the form.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from tocsin.alerts import service as alerts
from tocsin.alerts.normalized import AlertStatus, SourceKind
from tocsin.alerts.schemas import IntegrationCreate, IntegrationUpdate, IntegrationWithKey
from tocsin.auth.dependencies import Requires
from tocsin.auth.permissions import Permission
from tocsin.auth.principal import Principal
from tocsin.catalog import service as catalog
from tocsin.db.session import get_session
from tocsin.web import forms
from tocsin.web.templating import render

router = APIRouter(include_in_schema=False)

READ = Depends(Requires(Permission.ALERTS_READ))
MANAGE = Depends(Requires(Permission.INTEGRATIONS_MANAGE))
DB = Depends(get_session)


@router.get("/alerts")
async def alerts_page(
    request: Request,
    status: AlertStatus | None = None,
    service: str | None = None,
    _: Principal = READ,
    session: AsyncSession = DB,
) -> HTMLResponse:
    found = await alerts.list_alerts(session, status=status, service=service, limit=200)
    return render(
        request,
        "alerts/alerts.html",
        alerts=found,
        status=status.value if status else "",
        service=service or "",
        statuses=list(AlertStatus),
    )


async def _integrations_page(
    request: Request,
    session: AsyncSession,
    principal: Principal,
    *,
    created: IntegrationWithKey | None = None,
    errors: forms.FormErrors | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    return render(
        request,
        "alerts/integrations.html",
        status_code=status_code,
        integrations=await alerts.list_integrations(session),
        services=await catalog.list_services(session),
        kinds=list(SourceKind),
        may_manage=principal.can(Permission.INTEGRATIONS_MANAGE),
        created=created,
        errors=errors or forms.FormErrors(),
    )


@router.get("/integrations")
async def integrations_page(
    request: Request, principal: Principal = READ, session: AsyncSession = DB
) -> HTMLResponse:
    return await _integrations_page(request, session, principal)


@router.post("/integrations")
async def create_integration_form(
    request: Request, principal: Principal = MANAGE, session: AsyncSession = DB
) -> HTMLResponse:
    form = await request.form()

    async def create() -> IntegrationWithKey:
        body = IntegrationCreate(
            service=forms.text(form, "service"),
            kind=forms.text(form, "kind"),
            name=forms.text(form, "name"),
            rate_limit_per_minute=forms.text(form, "rate_limit_per_minute") or 600,
        )
        return await alerts.create_integration(session, principal, body)

    created, errors = await forms.attempt(session, create, forms.PAGE_REFUSALS)
    if errors:
        return await _integrations_page(
            request, session, principal, errors=errors, status_code=errors.status
        )
    return await _integrations_page(request, session, principal, created=created)


@router.post("/integrations/{integration_id}/rotate")
async def rotate_integration_form(
    request: Request,
    integration_id: int,
    principal: Principal = MANAGE,
    session: AsyncSession = DB,
) -> HTMLResponse:
    rotated = await alerts.rotate_key(session, principal, integration_id)
    return await _integrations_page(request, session, principal, created=rotated)


@router.post("/integrations/{integration_id}/enabled")
async def toggle_integration_form(
    request: Request,
    integration_id: int,
    principal: Principal = MANAGE,
    session: AsyncSession = DB,
) -> Response:
    form = await request.form()
    enabled = forms.text(form, "enabled") == "true"
    await alerts.update_integration(
        session, principal, integration_id, IntegrationUpdate(enabled=enabled)
    )
    return RedirectResponse("/integrations", status_code=303)
