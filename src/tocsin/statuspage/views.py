"""The admin page of status pages: components and their states, incidents and their updates,
and the form that resolves through (or, for admins, overrides) the resolution guard."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from tocsin.auth.dependencies import Requires
from tocsin.auth.permissions import Permission
from tocsin.auth.principal import Principal
from tocsin.db.session import get_session
from tocsin.statuspage import handlers as _handlers  # noqa: F401  (fan-out and deliveries)
from tocsin.statuspage import service
from tocsin.statuspage.schemas import (
    AffectedIn,
    ComponentCreate,
    ComponentUpdate,
    IncidentCreate,
    PageCreate,
    UpdateCreate,
)
from tocsin.web import forms
from tocsin.web.forms import FormErrors
from tocsin.web.templating import render

router = APIRouter(include_in_schema=False)

READ = Depends(Requires(Permission.STATUSPAGE_READ))
MANAGE = Depends(Requires(Permission.STATUSPAGE_MANAGE))
DB = Depends(get_session)


async def _page(
    request: Request,
    session: AsyncSession,
    principal: Principal,
    slug: str | None,
    errors: FormErrors | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    pages = await service.list_pages(session)
    current = next((p for p in pages if p.slug == slug), None) if slug else None
    if current is None and slug is None:
        current = next((p for p in pages if p.is_default), None)
    context: dict[str, Any] = {"pages": pages, "current": current, "errors": errors or FormErrors()}
    if current is not None:
        context["components"] = await service.list_components(session, current.slug)
        context["groups"] = await service.list_groups(session, current.slug)
        context["incidents"] = await service.list_incidents(session, principal, current.slug)
        context["subscribers"] = await service.subscriber_counts(session, current.slug)
    return render(
        request,
        "statuspage/admin.html",
        status_code=status_code,
        may_manage=principal.can(Permission.STATUSPAGE_MANAGE),
        may_override=principal.can(Permission.STATUSPAGE_OVERRIDE),
        **context,
    )


@router.get("/status-pages")
async def admin_default(
    request: Request, principal: Principal = READ, session: AsyncSession = DB
) -> HTMLResponse:
    return await _page(request, session, principal, None)


@router.get("/status-pages/{slug}")
async def admin_page(
    request: Request, slug: str, principal: Principal = READ, session: AsyncSession = DB
) -> HTMLResponse:
    await service.page_row(session, slug)
    return await _page(request, session, principal, slug)


async def _act(
    request: Request,
    session: AsyncSession,
    principal: Principal,
    slug: str | None,
    action: Callable[[Any], Awaitable[Any]],
) -> Response:
    form = await request.form()
    result, errors = await forms.attempt(session, lambda: action(form))
    if errors:
        return await _page(request, session, principal, slug, errors, 422)
    target = slug or getattr(result, "slug", "")
    return RedirectResponse(f"/status-pages/{target}", status_code=303)


@router.post("/status-pages")
async def page_submit(
    request: Request, principal: Principal = MANAGE, session: AsyncSession = DB
) -> Response:
    async def action(form: Any) -> Any:
        body = PageCreate(
            slug=forms.text(form, "slug"),
            name=forms.text(form, "name"),
            url=forms.text(form, "url"),
            is_default=forms.text(form, "is_default") == "on",
        )
        return await service.create_page(session, principal, body)

    return await _act(request, session, principal, None, action)


@router.post("/status-pages/{slug}/components")
async def component_submit(
    request: Request, slug: str, principal: Principal = MANAGE, session: AsyncSession = DB
) -> Response:
    async def action(form: Any) -> Any:
        group = forms.optional(form, "group_id")
        body = ComponentCreate(
            name=forms.text(form, "name"),
            description=forms.text(form, "description"),
            service=forms.optional(form, "service"),
            group_id=int(group) if group and group.isdigit() else None,
        )
        return await service.create_component(session, principal, slug, body)

    return await _act(request, session, principal, slug, action)


@router.post("/status-pages/{slug}/components/{component_id}")
async def component_state_submit(
    request: Request,
    slug: str,
    component_id: int,
    principal: Principal = MANAGE,
    session: AsyncSession = DB,
) -> Response:
    async def action(form: Any) -> Any:
        body = ComponentUpdate(status=forms.text(form, "status"))
        return await service.update_component(session, principal, slug, component_id, body)

    return await _act(request, session, principal, slug, action)


@router.post("/status-pages/{slug}/incidents")
async def incident_submit(
    request: Request, slug: str, principal: Principal = MANAGE, session: AsyncSession = DB
) -> Response:
    async def action(form: Any) -> Any:
        state = forms.text(form, "component_status") or "partial_outage"
        body = IncidentCreate(
            name=forms.text(form, "name"),
            impact=forms.text(form, "impact") or "minor",
            body=forms.text(form, "body"),
            incident=forms.optional(form, "incident"),
            components=[
                AffectedIn(component_id=int(c), status=state)
                for c in forms.texts(form, "components")
                if c.isdigit()
            ],
        )
        return await service.create_incident(session, principal, slug, body)

    return await _act(request, session, principal, slug, action)


@router.post("/status-pages/{slug}/incidents/{incident_id}/updates")
async def update_submit(
    request: Request,
    slug: str,
    incident_id: int,
    principal: Principal = MANAGE,
    session: AsyncSession = DB,
) -> Response:
    async def action(form: Any) -> Any:
        body = UpdateCreate(
            status=forms.text(form, "status"),
            body=forms.text(form, "body"),
            override=forms.text(form, "override") == "on",
            justification=forms.text(form, "justification"),
        )
        return await service.post_update(session, principal, slug, incident_id, body)

    return await _act(request, session, principal, slug, action)
