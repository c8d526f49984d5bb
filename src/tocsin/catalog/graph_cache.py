"""The dependency graph, kept between reads while the catalog stays unchanged.

The alert pipeline needs the graph for every decision, and during a storm re-reading every
service and edge cost as much as the decision itself. Each process keeps the last graph it
read, with the `catalog_graph_version` token it read just before; every flush that writes a
service or a dependency (through the ORM or a bulk statement) stores a new random token in the
same transaction (the listeners sit with the models, so that every process that writes
the catalog stamps it). The token is read before the graph, so a graph can only be newer than its
token, never older: a change committed by any process, in between or later, makes the next
reader see a different token and read the graph again. A random token (rather than a counter)
also keeps a fresh database from ever matching a graph cached from another.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from tocsin.catalog.graph import DependencyGraph
from tocsin.catalog.models import GRAPH_VERSION_ROW, GraphVersion
from tocsin.catalog.service.services import dependency_graph

_cache: dict[str, tuple[str, DependencyGraph]] = {}
"""database URL -> (token, graph)"""


async def cached_dependency_graph(session: AsyncSession) -> DependencyGraph:
    """The whole catalog's dependency graph, read again only after the catalog changed."""
    token = await session.scalar(
        sa.select(GraphVersion.token).where(GraphVersion.id == GRAPH_VERSION_ROW)
    )
    if token is None:  # no catalog write has stamped this database yet
        return await dependency_graph(session)
    key = session.get_bind().engine.url.render_as_string(hide_password=False)
    held = _cache.get(key)
    if held is not None and held[0] == token:
        return held[1]
    graph = await dependency_graph(session)
    _cache[key] = (token, graph)
    return graph
