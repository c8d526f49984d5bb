"""The dependency graph kept between reads: read once while the catalog is unchanged, and
never stale after a committed change, whichever way the change was written."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.test_alert_ingest_helpers import SYSTEM, make_service
from tocsin.catalog import service as catalog
from tocsin.catalog.graph import DependencyGraph
from tocsin.catalog.graph_cache import cached_dependency_graph
from tocsin.catalog.models import ServiceDependency
from tocsin.catalog.schemas import DependencyIn

pytestmark = pytest.mark.asyncio


async def read(sessionmaker: async_sessionmaker[AsyncSession]) -> DependencyGraph:
    """As another process would: its own session and transaction."""
    async with sessionmaker() as session:
        graph = await cached_dependency_graph(session)
        await session.commit()
    return graph


def edges(graph: DependencyGraph) -> set[tuple[str, str]]:
    return {(e.source, e.target) for e in graph.edges}


async def test_unchanged_catalog_is_read_once_and_changes_are_seen_at_once(
    session: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await make_service(session, "payments")
    await make_service(session, "storefront")
    first = await read(sessionmaker)
    assert await read(sessionmaker) is first, "unchanged: the kept graph"
    assert edges(first) == set()

    await catalog.add_dependency(session, SYSTEM, "storefront", DependencyIn(service="payments"))
    after_add = await read(sessionmaker)
    assert edges(after_add) == {("storefront", "payments")}

    await make_service(session, "search", dependencies=[DependencyIn(service="storefront")])
    assert edges(await read(sessionmaker)) == {
        ("storefront", "payments"),
        ("search", "storefront"),
    }

    await catalog.remove_dependency(session, SYSTEM, "storefront", "payments")
    assert edges(await read(sessionmaker)) == {("search", "storefront")}


async def test_a_bulk_statement_also_renews_the_graph(
    session: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await make_service(session, "payments")
    await make_service(session, "storefront", dependencies=[DependencyIn(service="payments")])
    assert edges(await read(sessionmaker)) == {("storefront", "payments")}

    await session.execute(sa.delete(ServiceDependency))
    await session.commit()
    assert edges(await read(sessionmaker)) == set()


async def test_a_rolled_back_change_leaves_no_trace_in_the_kept_graph(
    session: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await make_service(session, "payments")
    await make_service(session, "storefront")
    await read(sessionmaker)

    await catalog.add_dependency(
        session, SYSTEM, "storefront", DependencyIn(service="payments"), commit=False
    )
    inside = await cached_dependency_graph(session)
    assert edges(inside) == {("storefront", "payments")}, "the writer sees its own change"
    await session.rollback()
    assert edges(await read(sessionmaker)) == set()
