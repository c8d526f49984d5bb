"""The few places where SQLite and PostgreSQL must be spoken to differently.

Every dialect branch in the code base lives here so that the rest reads as plain SQLAlchemy.
"""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession

S = TypeVar("S", bound=Select[Any])


def dialect_name(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


def is_postgres(session: AsyncSession) -> bool:
    return dialect_name(session) == "postgresql"


def lock_skip_locked(session: AsyncSession, stmt: S) -> S:
    """Row locks that let concurrent claimers pass each other (PostgreSQL).

    SQLite has a single writer and BEGIN IMMEDIATE, so the claim is already exclusive there.
    """
    if is_postgres(session):
        return stmt.with_for_update(skip_locked=True)
    return stmt


def insert_ignoring_conflicts(session: AsyncSession, model: Any, index_elements: list[str]) -> Any:
    """INSERT … ON CONFLICT DO NOTHING: a concurrent duplicate waits, then is skipped."""
    if is_postgres(session):
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(model).on_conflict_do_nothing(index_elements=index_elements)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(model).on_conflict_do_nothing(index_elements=index_elements)


def psycopg_conninfo(database_url: str) -> str | None:
    """A libpq connection string for a raw psycopg connection; None when not PostgreSQL."""
    from sqlalchemy.engine import make_url

    url = make_url(database_url)
    if url.get_backend_name() != "postgresql":
        return None
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


async def notify(session: AsyncSession, channel: str, payload: str = "") -> None:
    """Queue a PostgreSQL notification; it is delivered only if the transaction commits.

    Identical notifications in one transaction are folded into one by the server, so a use
    case that enqueues a thousand jobs wakes each listener once. A no-op elsewhere.
    """
    if is_postgres(session):
        from sqlalchemy import text

        await session.execute(
            text("SELECT pg_notify(:channel, :payload)"), {"channel": channel, "payload": payload}
        )


async def listen(connection: Any, channels: list[str]) -> None:
    """Subscribe a raw psycopg connection (autocommit) to notification channels."""
    from psycopg import sql

    for channel in channels:
        await connection.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))


async def notify_now(connection: Any, channel: str, payload: str) -> None:
    """Send a notification at once over a raw psycopg connection (autocommit)."""
    await connection.execute("SELECT pg_notify(%s, %s)", (channel, payload))


PG_NOTIFY_MAX_BYTES = 7999
"""PostgreSQL refuses notification payloads of 8000 bytes or more."""
