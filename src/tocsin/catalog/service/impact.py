"""Read-only views over the dependency graph: neighbourhoods, the whole map, blast radius."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from tocsin.catalog.graph import Reach
from tocsin.catalog.models import (
    BusinessUnit,
    Customer,
    CustomerService,
    CustomerTier,
    Service,
    Team,
    Vendor,
    VendorService,
)
from tocsin.catalog.schemas import (
    AffectedCustomer,
    BlastRadiusOut,
    CatalogGraphOut,
    GraphEdge,
    GraphNode,
    ServiceGraphOut,
    Tier,
)
from tocsin.catalog.service.common import by_slug, slugs_by_id
from tocsin.catalog.service.services import dependency_graph


async def _nodes(session: AsyncSession, reached: dict[str, Reach]) -> list[GraphNode]:
    if not reached:
        return []
    rows = list(
        (await session.scalars(sa.select(Service).where(Service.slug.in_(list(reached))))).all()
    )
    teams = await slugs_by_id(session, Team, (s.owner_team_id for s in rows))
    nodes = [
        GraphNode(
            slug=s.slug,
            name=s.name,
            tier=Tier(s.tier),
            owner_team=teams.get(s.owner_team_id) if s.owner_team_id else None,
            distance=reached[s.slug].distance,
            impact=reached[s.slug].impact,
        )
        for s in rows
    ]
    return sorted(nodes, key=lambda n: (n.distance, n.slug))


async def service_graph(
    session: AsyncSession, slug: str, *, depth: int | None = None
) -> ServiceGraphOut:
    """The service's neighbourhood, up to `depth` hops each way (all of it when None)."""
    await by_slug(session, Service, slug)
    graph = await dependency_graph(session)
    upstream = graph.upstream(slug, depth)
    downstream = graph.downstream(slug, depth)
    members = {slug, *upstream, *downstream}
    edges = [
        GraphEdge(source=e.source, target=e.target, kind=e.kind)
        for e in graph.edges
        if e.source in members and e.target in members
    ]
    return ServiceGraphOut(
        service=slug,
        upstream=await _nodes(session, upstream),
        downstream=await _nodes(session, downstream),
        edges=edges,
        cycles=[c for c in graph.cycles() if slug in c],
    )


async def catalog_graph(session: AsyncSession) -> CatalogGraphOut:
    graph = await dependency_graph(session)
    return CatalogGraphOut(
        nodes=sorted(graph.nodes),
        edges=[GraphEdge(source=e.source, target=e.target, kind=e.kind) for e in graph.edges],
        cycles=graph.cycles(),
    )


async def blast_radius(session: AsyncSession, slug: str) -> BlastRadiusOut:
    """Who is hurt when this service fails: dependent services (failing or degraded), the
    customers using any of them, their business units, and the vendors to call."""
    service = await by_slug(session, Service, slug)
    graph = await dependency_graph(session)
    radius = graph.blast_radius(slug)
    affected = [slug, *radius.all]
    rows = await session.execute(
        sa.select(Customer, Service.slug)
        .join(CustomerService, CustomerService.customer_id == Customer.id)
        .join(Service, Service.id == CustomerService.service_id)
        .where(Service.slug.in_(affected))
        .order_by(Customer.slug, Service.slug)
    )
    via: dict[str, list[str]] = {}
    customers: dict[str, Customer] = {}
    for customer, service_slug in rows:
        customers[customer.slug] = customer
        via.setdefault(customer.slug, []).append(service_slug)
    tiers = await slugs_by_id(session, CustomerTier, (c.tier_id for c in customers.values()))
    units = await slugs_by_id(
        session, BusinessUnit, (c.business_unit_id for c in customers.values())
    )
    vendors = await session.scalars(
        sa.select(Vendor.slug)
        .join(VendorService, VendorService.vendor_id == Vendor.id)
        .where(VendorService.service_id == service.id)
        .order_by(Vendor.slug)
    )
    return BlastRadiusOut(
        service=slug,
        hard=list(radius.hard),
        soft=list(radius.soft),
        customers=[
            AffectedCustomer(
                slug=c.slug,
                name=c.name,
                tier=tiers.get(c.tier_id) if c.tier_id else None,
                business_unit=units.get(c.business_unit_id) if c.business_unit_id else None,
                via=via[c.slug],
            )
            for c in customers.values()
        ],
        business_units=sorted(
            {units[c.business_unit_id] for c in customers.values() if c.business_unit_id}
        ),
        vendors=list(vendors.all()),
    )
