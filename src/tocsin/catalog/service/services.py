"""Services and the dependency edges between them.

An edge belongs to the dependent service: whoever may change `checkout` may declare what
`checkout` depends on, without needing rights over the services it points at.
Cycles are accepted (real systems call each other) but every write that leaves the service on
a cycle says so in its answer's `warnings`; self-dependencies are refused outright.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from tocsin.catalog.graph import DependencyGraph, DependencyKind, Edge
from tocsin.catalog.models import (
    CustomerService,
    Service,
    ServiceDependency,
    Team,
    VendorService,
)
from tocsin.catalog.schemas import (
    DependenciesOut,
    DependencyIn,
    DependencyOut,
    RunbookOut,
    ServiceCreate,
    ServiceOut,
    ServiceUpdate,
    Tier,
)
from tocsin.catalog.service.common import (
    Who,
    by_slug,
    changed_fields,
    ensure_new_slug,
    finish,
    ids_by_slug,
    record,
    reject_null,
    require_owner,
    slugs_by_id,
    state,
)
from tocsin.errors import Conflict, Invalid, NotFound

_Edges = dict[int, list[tuple[int, str, str]]]
"""service id -> [(other service id, kind, note)]"""


async def _edges_of(session: AsyncSession, ids: list[int] | None) -> tuple[_Edges, _Edges]:
    stmt = sa.select(
        ServiceDependency.service_id,
        ServiceDependency.depends_on_id,
        ServiceDependency.kind,
        ServiceDependency.note,
    )
    if ids is not None:
        stmt = stmt.where(
            sa.or_(ServiceDependency.service_id.in_(ids), ServiceDependency.depends_on_id.in_(ids))
        )
    out: _Edges = defaultdict(list)
    into: _Edges = defaultdict(list)
    for source, target, kind, note in await session.execute(stmt):
        out[source].append((target, kind, note))
        into[target].append((source, kind, note))
    return out, into


async def _names(session: AsyncSession, ids: set[int]) -> dict[int, tuple[str, str]]:
    if not ids:
        return {}
    rows = await session.execute(
        sa.select(Service.id, Service.slug, Service.name).where(Service.id.in_(ids))
    )
    return {i: (slug, name) for i, slug, name in rows}


def _deps(
    edges: list[tuple[int, str, str]], names: dict[int, tuple[str, str]]
) -> list[DependencyOut]:
    deps = [
        DependencyOut(service=names[i][0], name=names[i][1], kind=DependencyKind(kind), note=note)
        for i, kind, note in edges
    ]
    return sorted(deps, key=lambda d: d.service)


async def _outs(
    session: AsyncSession, services: list[Service], *, all_rows: bool = False
) -> list[ServiceOut]:
    ids = [s.id for s in services]
    out, into = await _edges_of(session, None if all_rows else ids)
    names = await _names(
        session, {i for edges in (*out.values(), *into.values()) for i, _, _ in edges}
    )
    teams = await slugs_by_id(session, Team, (s.owner_team_id for s in services))
    return [
        ServiceOut(
            id=s.id,
            slug=s.slug,
            name=s.name,
            description=s.description,
            owner_team=teams.get(s.owner_team_id) if s.owner_team_id else None,
            tier=Tier(s.tier),
            tags=list(s.tags),
            runbooks=[RunbookOut(**r) for r in s.runbooks],
            dependencies=_deps(out.get(s.id, []), names),
            dependents=_deps(into.get(s.id, []), names),
            created_at=s.created_at,
            updated_at=s.updated_at,
        )
        for s in services
    ]


async def _state(session: AsyncSession, service: Service) -> dict[str, Any]:
    view = (await _outs(session, [service]))[0]
    return state(
        service,
        owner_team=view.owner_team,
        dependencies=[
            {"service": d.service, "kind": d.kind.value, "note": d.note} for d in view.dependencies
        ],
    )


async def list_services(
    session: AsyncSession,
    *,
    team: str | None = None,
    tag: str | None = None,
    tier: Tier | None = None,
) -> list[ServiceOut]:
    stmt = sa.select(Service).order_by(Service.slug)
    if team is not None:
        stmt = stmt.where(Service.owner_team_id == (await by_slug(session, Team, team, "team")).id)
    if tier is not None:
        stmt = stmt.where(Service.tier == tier.value)
    services = list((await session.scalars(stmt)).all())
    if tag is not None:
        # Tags are a JSON list; filtering here keeps the query the same on both databases.
        services = [s for s in services if tag.lower() in s.tags]
    return await _outs(session, services, all_rows=team is None and tag is None and tier is None)


async def get_service(session: AsyncSession, slug: str) -> ServiceOut:
    return (await _outs(session, [await by_slug(session, Service, slug)]))[0]


async def service_id(session: AsyncSession, slug: str) -> int:
    """The database id behind a slug, for domains that keep a foreign key to a service."""
    return (await by_slug(session, Service, slug)).id


async def _owner_id(session: AsyncSession, slug: str | None) -> int | None:
    if slug is None:
        return None
    return (await by_slug(session, Team, slug, "owner_team")).id


async def create_service(
    session: AsyncSession, who: Who, body: ServiceCreate, *, commit: bool = True
) -> ServiceOut:
    """Create a service; its `warnings` name any dependency cycle it closes."""
    owner = await _owner_id(session, body.owner_team)
    require_owner(who, body.slug, [owner])
    await ensure_new_slug(session, Service, body.slug)
    service = Service(
        slug=body.slug,
        name=body.name,
        description=body.description,
        owner_team_id=owner,
        tier=body.tier.value,
        tags=list(body.tags),
        runbooks=[r.as_json() for r in body.runbooks],
    )
    session.add(service)
    await session.flush()
    warnings: list[str] = []
    if body.dependencies is not None:
        warnings = await _replace_dependencies(session, service, body.dependencies)
    record(
        session,
        who,
        "catalog.service.create",
        "service",
        service.slug,
        after=await _state(session, service),
    )
    view = await get_service(session, service.slug)
    await finish(session, commit, "catalog.service.created", {"slug": service.slug})
    return view.model_copy(update={"warnings": warnings})


async def update_service(
    session: AsyncSession, who: Who, slug: str, body: ServiceUpdate, *, commit: bool = True
) -> ServiceOut:
    """Change what the body sends; its `warnings` name any dependency cycle left or closed."""
    service = await by_slug(session, Service, slug)
    changes = changed_fields(body)
    reject_null(changes, ["name", "description", "tier", "tags", "runbooks"])
    new_owner = service.owner_team_id
    if "owner_team" in changes:
        new_owner = await _owner_id(session, changes["owner_team"])
    require_owner(who, slug, [service.owner_team_id, new_owner])
    before = await _state(session, service)
    service.owner_team_id = new_owner
    if "name" in changes:
        service.name = changes["name"]
    if "description" in changes:
        service.description = changes["description"]
    if "tier" in changes:
        service.tier = changes["tier"].value
    if "tags" in changes:
        service.tags = list(changes["tags"])
    if body.runbooks is not None:
        service.runbooks = [r.as_json() for r in body.runbooks]
    warnings: list[str] = []
    if body.dependencies is not None:
        warnings = await _replace_dependencies(session, service, body.dependencies)
    await session.flush()
    record(
        session,
        who,
        "catalog.service.update",
        "service",
        slug,
        before=before,
        after=await _state(session, service),
    )
    view = await get_service(session, slug)
    await finish(session, commit, "catalog.service.updated", {"slug": slug})
    return view.model_copy(update={"warnings": warnings})


async def delete_service(
    session: AsyncSession, who: Who, slug: str, *, commit: bool = True
) -> None:
    """Refused while other services depend on it, customers use it or vendors back it: deleting
    would silently cut those links. The service's own dependencies go with it."""
    service = await by_slug(session, Service, slug)
    require_owner(who, slug, [service.owner_team_id])
    _, into = await _edges_of(session, [service.id])
    dependents = sorted(
        (await _names(session, {i for i, _, _ in into.get(service.id, [])})).values()
    )
    customers = await session.scalar(
        sa.select(sa.func.count()).where(CustomerService.service_id == service.id)
    )
    vendors = await session.scalar(
        sa.select(sa.func.count()).where(VendorService.service_id == service.id)
    )
    reasons = []
    if dependents:
        reasons.append("depended on by " + ", ".join(s for s, _ in dependents))
    if customers:
        reasons.append(f"used by {customers} customer(s)")
    if vendors:
        reasons.append(f"backed by {vendors} vendor(s)")
    if reasons:
        raise Conflict(f"service {slug} is still {'; '.join(reasons)}")
    before = await _state(session, service)
    await session.execute(
        sa.delete(ServiceDependency).where(ServiceDependency.service_id == service.id)
    )
    await session.delete(service)
    record(session, who, "catalog.service.delete", "service", slug, before=before)
    await finish(session, commit, "catalog.service.deleted", {"slug": slug})


# --- dependencies ----------------------------------------------------------------------------


async def get_dependencies(session: AsyncSession, slug: str) -> DependenciesOut:
    view = await get_service(session, slug)
    return DependenciesOut(service=slug, dependencies=view.dependencies, dependents=view.dependents)


async def set_dependencies(
    session: AsyncSession, who: Who, slug: str, deps: list[DependencyIn], *, commit: bool = True
) -> DependenciesOut:
    """Make the service's dependencies exactly `deps`."""
    service = await by_slug(session, Service, slug)
    require_owner(who, slug, [service.owner_team_id])
    before = await _state(session, service)
    warnings = await _replace_dependencies(session, service, deps, field="dependencies")
    return await _dependency_write(session, who, service, before, warnings, commit)


async def add_dependency(
    session: AsyncSession, who: Who, slug: str, dep: DependencyIn, *, commit: bool = True
) -> DependenciesOut:
    """Declare one dependency, or change the kind and note of an existing one."""
    service = await by_slug(session, Service, slug)
    require_owner(who, slug, [service.owner_team_id])
    before = await _state(session, service)
    current = [
        DependencyIn(service=d["service"], kind=d["kind"], note=d["note"])
        for d in before["dependencies"]
        if d["service"] != dep.service
    ]
    await by_slug(session, Service, dep.service, "service")
    warnings = await _replace_dependencies(session, service, [*current, dep], field=None)
    return await _dependency_write(session, who, service, before, warnings, commit)


async def remove_dependency(
    session: AsyncSession, who: Who, slug: str, depends_on: str, *, commit: bool = True
) -> DependenciesOut:
    service = await by_slug(session, Service, slug)
    require_owner(who, slug, [service.owner_team_id])
    target = await by_slug(session, Service, depends_on)
    edge = await session.scalar(
        sa.select(ServiceDependency).where(
            ServiceDependency.service_id == service.id, ServiceDependency.depends_on_id == target.id
        )
    )
    if edge is None:
        raise NotFound(f"dependency of {slug} on", depends_on)
    before = await _state(session, service)
    await session.delete(edge)
    await session.flush()
    return await _dependency_write(session, who, service, before, [], commit)


async def _dependency_write(
    session: AsyncSession,
    who: Who,
    service: Service,
    before: dict[str, Any],
    warnings: list[str],
    commit: bool,
) -> DependenciesOut:
    record(
        session,
        who,
        "catalog.service.dependencies",
        "service",
        service.slug,
        before=before,
        after=await _state(session, service),
    )
    view = await get_dependencies(session, service.slug)
    await finish(session, commit, "catalog.service.updated", {"slug": service.slug})
    return view.model_copy(update={"warnings": warnings})


async def _replace_dependencies(
    session: AsyncSession,
    service: Service,
    deps: list[DependencyIn],
    field: str | None = "dependencies",
) -> list[str]:
    """Validate every edge before touching any, then swap the set; returns cycle warnings."""
    for i, dep in enumerate(deps):
        if dep.service == service.slug:
            where = f"{field}.{i}.service" if field else "service"
            raise Invalid(where, f"a service cannot depend on itself ({service.slug})")
    targets = await ids_by_slug(
        session, Service, [d.service for d in deps], field or "dependencies", "service"
    )
    await session.execute(
        sa.delete(ServiceDependency).where(ServiceDependency.service_id == service.id)
    )
    for dep in deps:
        session.add(
            ServiceDependency(
                service_id=service.id,
                depends_on_id=targets[dep.service],
                kind=dep.kind.value,
                note=dep.note,
            )
        )
    await session.flush()
    graph = await dependency_graph(session)
    warnings = []
    for dep in deps:
        loop = graph.path(dep.service, service.slug)
        if loop is not None:
            warnings.append(
                "dependency cycle: "
                + " -> ".join([service.slug, *loop])
                + " (accepted; a failure anywhere on it can feed back on itself)"
            )
    return warnings


async def dependency_graph(session: AsyncSession) -> DependencyGraph:
    """The whole catalog's dependency graph by slug, for queries in pure code."""
    slugs = {row[0]: row[1] for row in await session.execute(sa.select(Service.id, Service.slug))}
    rows = await session.execute(
        sa.select(
            ServiceDependency.service_id, ServiceDependency.depends_on_id, ServiceDependency.kind
        )
    )
    edges = [Edge(slugs[s], slugs[t], DependencyKind(k)) for s, t, k in rows]
    return DependencyGraph(edges, slugs.values())
