"""Many rows in one PostgreSQL statement whose text does not depend on how many there are.

A multi-row `VALUES` list (what SQLAlchemy sends for an insert of many rows with
`RETURNING`) has a placeholder per value, so its text changes with the number of rows, and a
group commit's statement soon passes the length psycopg caches its parsing for: it was parsed
anew on every request. Here the rows travel as one array per column and `unnest` turns them
back into rows, so the statement is the same for one row or a thousand and is parsed once.
"""

from __future__ import annotations

import functools
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.dml import ReturningInsert


async def insert_returning_ids(
    session: AsyncSession,
    table: sa.Table,
    rows: list[dict[str, Any]],
    *,
    skip_conflicts_on: tuple[str, ...] = (),
) -> list[int]:
    """Insert `rows` (all with the same keys) and return the new ids in the order of `rows`;
    with `skip_conflicts_on`, a row whose value there is taken is skipped (ON CONFLICT DO
    NOTHING) and has no id in the answer. PostgreSQL only."""
    names = tuple(rows[0])
    stmt = _unnest_insert(table, names, skip_conflicts_on)
    arrays = {f"p_{name}": [row[name] for row in rows] for name in names}
    # Ids come from the sequence in the order the select yields rows: sorting them
    # restores the order of `rows` whatever order RETURNING lists them in.
    return sorted(int(i) for i in (await session.execute(stmt, arrays)).scalars().all())


@functools.cache
def _unnest_insert(
    table: sa.Table, names: tuple[str, ...], skip_conflicts_on: tuple[str, ...]
) -> ReturningInsert[Any]:
    """Built once per table and column list: building it per request (and computing its
    cache key) cost as much as running it."""
    columns = [table.c[name] for name in names]
    arrays = [
        sa.bindparam(f"p_{name}", type_=postgresql.ARRAY(column.type))
        for name, column in zip(names, columns, strict=True)
    ]
    source = sa.select(
        sa.func.unnest(*arrays).table_valued(*names, with_ordinality="n").render_derived()
    ).subquery()
    ordered = sa.select(*(source.c[name] for name in names)).order_by(source.c.n)
    stmt = postgresql.insert(table).from_select(columns, ordered)
    if skip_conflicts_on:
        stmt = stmt.on_conflict_do_nothing(index_elements=list(skip_conflicts_on))
    return stmt.returning(table.c.id)
