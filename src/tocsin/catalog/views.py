"""Catalog pages: services (list, detail, edit, dependency graph), teams, customers, vendors.

Pages read and write through the catalog's service layer only, so what a page saves is
validated, permission-checked and audited exactly like an API call.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from tocsin.auth.dependencies import Requires
from tocsin.auth.permissions import Permission
from tocsin.auth.principal import Principal
from tocsin.catalog import service as catalog
from tocsin.catalog.graph import DependencyKind
from tocsin.catalog.schemas import (
    TIER_LABELS,
    GraphEdge,
    ServiceOut,
    ServiceUpdate,
    Tier,
)
from tocsin.catalog.service.common import require_owner
from tocsin.db.session import get_session
from tocsin.errors import ProblemError
from tocsin.policy import service as policy
from tocsin.web import forms, graph_layout
from tocsin.web.templating import render

router = APIRouter(include_in_schema=False)

MAX_GRAPH_DEPTH = 10


def _tier_context() -> dict[str, Any]:
    return {
        "tiers": list(Tier),
        "tier_labels": {t.value: label for t, label in TIER_LABELS.items()},
    }


async def _may_edit(session: AsyncSession, principal: Principal, service: ServiceOut) -> bool:
    """The same rule the service layer enforces on save, asked before showing an Edit button."""
    if not principal.can(Permission.CATALOG_WRITE):
        return False
    owner = await catalog.team_id(session, service.owner_team) if service.owner_team else None
    try:
        require_owner(principal, service.slug, [owner])
    except catalog.Forbidden:
        return False
    return True


# --- services list ---------------------------------------------------------------------------


@router.get("/services")
async def services_page(
    request: Request,
    team: str | None = Query(default=None, max_length=100),
    tier: str | None = Query(default=None, max_length=16),
    tag: str | None = Query(default=None, max_length=64),
    _: Principal = Depends(Requires(Permission.CATALOG_READ)),
    session: AsyncSession = Depends(get_session),
) -> HTMLResponse:
    notices: list[str] = []
    tier_value: Tier | None = None
    if tier:
        try:
            tier_value = Tier(tier)
        except ValueError:
            notices.append(f"There is no tier {tier!r}; showing every tier.")
    all_teams = await catalog.list_teams(session)
    if team and team not in {t.slug for t in all_teams}:
        notices.append(f"There is no team {team!r}; showing every team.")
        team = None
    everything = await catalog.list_services(session)
    shown = await catalog.list_services(
        session, team=team or None, tag=tag or None, tier=tier_value
    )
    all_tags = sorted({t for s in everything for t in s.tags})
    team_names = {t.slug: t.name for t in all_teams}
    return render(
        request,
        "catalog/services.html",
        services=shown,
        total=len(everything),
        teams=all_teams,
        team_names=team_names,
        all_tags=all_tags,
        filters={
            "team": team or "",
            "tier": tier_value.value if tier_value else "",
            "tag": tag or "",
        },
        notices=notices,
        **_tier_context(),
    )


# --- dependency graph ------------------------------------------------------------------------


def _elements(
    nodes: list[dict[str, Any]], edges: list[GraphEdge], focus: str | None = None
) -> dict[str, list[dict[str, Any]]]:
    return graph_layout.elements(
        nodes, [(e.source, e.target, e.kind.value) for e in edges], focus=focus
    )


async def _graph_data(
    session: AsyncSession, focus: str | None, depth: int | None
) -> dict[str, list[dict[str, Any]]]:
    nodes: list[dict[str, Any]]
    if focus is None:
        services = await catalog.list_services(session)
        nodes = [
            {"slug": s.slug, "name": s.name, "tier": s.tier.value, "team": s.owner_team}
            for s in services
        ]
        edges = [
            GraphEdge(source=s.slug, target=d.service, kind=d.kind)
            for s in services
            for d in s.dependencies
        ]
        return _elements(nodes, edges)
    centre = await catalog.get_service(session, focus)
    around = await catalog.service_graph(session, focus, depth=depth)
    nodes = [
        {
            "slug": centre.slug,
            "name": centre.name,
            "tier": centre.tier.value,
            "team": centre.owner_team,
            "side": "focus",
        }
    ]
    seen = {centre.slug}
    for side, members in (("upstream", around.upstream), ("downstream", around.downstream)):
        for n in members:
            if n.slug not in seen:
                seen.add(n.slug)
                nodes.append(
                    {
                        "slug": n.slug,
                        "name": n.name,
                        "tier": n.tier.value,
                        "team": n.owner_team,
                        "side": side,
                        "distance": n.distance,
                        "impact": n.impact.value,
                    }
                )
    return _elements(nodes, around.edges, focus=focus)


@router.get("/services/graph.json")
async def graph_json(
    service: str | None = Query(default=None, max_length=100),
    depth: int | None = Query(default=None, ge=1, le=MAX_GRAPH_DEPTH),
    _: Principal = Depends(Requires(Permission.CATALOG_READ)),
    session: AsyncSession = Depends(get_session),
) -> JSONResponse:
    return JSONResponse(await _graph_data(session, service or None, depth))


@router.get("/services/graph")
async def graph_page(
    request: Request,
    service: str | None = Query(default=None, max_length=100),
    depth: int | None = Query(default=None, ge=1, le=MAX_GRAPH_DEPTH),
    _: Principal = Depends(Requires(Permission.CATALOG_READ)),
    session: AsyncSession = Depends(get_session),
) -> HTMLResponse:
    everything = await catalog.list_services(session)
    focus = await catalog.get_service(session, service) if service else None
    query = "&".join(
        part
        for part in (f"service={service}" if service else "", f"depth={depth}" if depth else "")
        if part
    )
    cycles = (await catalog.catalog_graph(session)).cycles
    if focus is not None:
        cycles = [c for c in cycles if focus.slug in c]
    listed = [focus] if focus else everything
    return render(
        request,
        "catalog/graph.html",
        services=everything,
        focus=focus,
        depth=depth or "",
        data_url="/services/graph.json" + (f"?{query}" if query else ""),
        listed=listed,
        cycles=cycles,
        max_depth=MAX_GRAPH_DEPTH,
    )


# --- one service -----------------------------------------------------------------------------


@router.get("/services/{slug}")
async def service_page(
    request: Request,
    slug: str,
    saved: bool = False,
    principal: Principal = Depends(Requires(Permission.CATALOG_READ)),
    session: AsyncSession = Depends(get_session),
) -> HTMLResponse:
    service = await catalog.get_service(session, slug)
    radius = await catalog.blast_radius(session, slug)
    around = await catalog.service_graph(session, slug)
    owner = await catalog.get_team(session, service.owner_team) if service.owner_team else None
    return render(
        request,
        "catalog/service.html",
        service=service,
        owner=owner,
        radius=radius,
        cycles=around.cycles,
        upstream_count=len(around.upstream),
        downstream_count=len(around.downstream),
        may_edit=await _may_edit(session, principal, service),
        saved=saved,
        **_tier_context(),
    )


def _service_form_values(service: ServiceOut) -> dict[str, Any]:
    return {
        "name": service.name,
        "description": service.description,
        "owner_team": service.owner_team or "",
        "tier": service.tier.value,
        "tags": ", ".join(service.tags),
        "runbooks": [{"title": r.title, "url": r.url} for r in service.runbooks],
        "dependencies": [
            {"service": d.service, "kind": d.kind.value, "note": d.note}
            for d in service.dependencies
        ],
    }


async def _edit_form(
    request: Request,
    session: AsyncSession,
    service: ServiceOut,
    values: dict[str, Any],
    errors: forms.FormErrors,
    status_code: int = 200,
) -> HTMLResponse:
    others = [s for s in await catalog.list_services(session) if s.slug != service.slug]
    return render(
        request,
        "catalog/service_edit.html",
        status_code=status_code,
        service=service,
        values=values,
        errors=errors,
        teams=await catalog.list_teams(session),
        other_services=others,
        kinds=list(DependencyKind),
        **_tier_context(),
    )


@router.get("/services/{slug}/edit")
async def service_edit_form(
    request: Request,
    slug: str,
    principal: Principal = Depends(Requires(Permission.CATALOG_WRITE)),
    session: AsyncSession = Depends(get_session),
) -> HTMLResponse:
    service = await catalog.get_service(session, slug)
    if not await _may_edit(session, principal, service):
        raise catalog.Forbidden(
            f"service {slug} can only be changed by an admin or a member of the team that owns it"
        )
    return await _edit_form(
        request, session, service, _service_form_values(service), forms.FormErrors()
    )


def parse_service_form(form: Any) -> dict[str, Any]:
    """The form as the API's update body: every field is sent, so the form is the whole truth."""
    return {
        "name": forms.text(form, "name"),
        "description": forms.text(form, "description"),
        "owner_team": forms.optional(form, "owner_team"),
        "tier": forms.text(form, "tier"),
        "tags": forms.split_list(forms.text(form, "tags")),
        "runbooks": [
            {"title": r["runbook_title"], "url": r["runbook_url"]}
            for r in forms.rows(form, "runbook_title", "runbook_url")
        ],
        "dependencies": [
            {"service": r["dep_service"], "kind": r["dep_kind"] or "hard", "note": r["dep_note"]}
            for r in forms.rows(
                form,
                "dep_service",
                "dep_kind",
                "dep_note",
                blank_unless=("dep_service", "dep_note"),
            )
        ],
    }


@router.post("/services/{slug}/edit")
async def service_edit_submit(
    request: Request,
    slug: str,
    principal: Principal = Depends(Requires(Permission.CATALOG_WRITE)),
    session: AsyncSession = Depends(get_session),
) -> Response:
    service = await catalog.get_service(session, slug)
    form = await request.form()
    values = parse_service_form(form)
    try:
        body = ServiceUpdate.model_validate(values)
        await catalog.update_service(session, principal, slug, body)
    except ValidationError as exc:
        errors = forms.from_validation(exc)
    except ProblemError as exc:
        await session.rollback()
        errors = forms.from_problem(exc)
        status = exc.status if exc.status in (403, 409, 422) else 422
        return await _edit_form(
            request, session, service, _redisplay(values), errors, status_code=status
        )
    else:
        return RedirectResponse(f"/services/{slug}?saved=1", status_code=303)
    return await _edit_form(request, session, service, _redisplay(values), errors, status_code=422)


def _redisplay(values: dict[str, Any]) -> dict[str, Any]:
    """What the person typed goes back into the form, so a typo costs one correction."""
    return {**values, "owner_team": values["owner_team"] or "", "tags": ", ".join(values["tags"])}


# --- teams -----------------------------------------------------------------------------------


@router.get("/teams")
async def teams_page(
    request: Request,
    _: Principal = Depends(Requires(Permission.CATALOG_READ)),
    session: AsyncSession = Depends(get_session),
) -> HTMLResponse:
    return render(request, "catalog/teams.html", teams=await catalog.list_teams(session))


@router.get("/teams/{slug}")
async def team_page(
    request: Request,
    slug: str,
    _: Principal = Depends(Requires(Permission.CATALOG_READ)),
    session: AsyncSession = Depends(get_session),
) -> HTMLResponse:
    team = await catalog.get_team(session, slug)
    owned = await catalog.list_services(session, team=slug)
    return render(request, "catalog/team.html", team=team, services=owned, **_tier_context())


# --- customers, tiers, business units --------------------------------------------------------


@router.get("/customers")
async def customers_page(
    request: Request,
    tier: str | None = Query(default=None, max_length=100),
    _: Principal = Depends(Requires(Permission.CATALOG_READ)),
    session: AsyncSession = Depends(get_session),
) -> HTMLResponse:
    tiers = await catalog.list_customer_tiers(session)
    notices = []
    if tier and tier not in {t.slug for t in tiers}:
        notices.append(f"There is no customer tier {tier!r}; showing every customer.")
        tier = None
    severities = await policy.list_severities(session)
    return render(
        request,
        "catalog/customers.html",
        tiers=tiers,
        units=await catalog.list_business_units(session),
        customers=await catalog.list_customers(session, tier=tier or None),
        tier_names={t.slug: t.name for t in tiers},
        service_names={s.slug: s.name for s in await catalog.list_services(session)},
        severities=severities,
        filters={"tier": tier or ""},
        notices=notices,
    )


# --- vendors ---------------------------------------------------------------------------------


@router.get("/vendors")
async def vendors_page(
    request: Request,
    _: Principal = Depends(Requires(Permission.CATALOG_READ)),
    session: AsyncSession = Depends(get_session),
) -> HTMLResponse:
    return render(
        request,
        "catalog/vendors.html",
        vendors=await catalog.list_vendors(session),
        severities=await policy.list_severities(session),
    )


@router.get("/vendors/{slug}")
async def vendor_page(
    request: Request,
    slug: str,
    _: Principal = Depends(Requires(Permission.CATALOG_READ)),
    session: AsyncSession = Depends(get_session),
) -> HTMLResponse:
    vendor = await catalog.get_vendor(session, slug)
    return render(
        request,
        "catalog/vendor.html",
        vendor=vendor,
        severities=await policy.list_severities(session),
        service_names={s.slug: s.name for s in await catalog.list_services(session)},
    )
