"""Migrations build exactly the schema the models describe, on both databases."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.cli import tocsin
from tests.conftest import DEFAULT_PG
from tocsin.config import load_settings
from tocsin.db.engine import make_engine
from tocsin.db.migrate import alembic_config, drift, upgrade
from tocsin.db.models import Base


def _plain_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture
def empty_database_url(db_kind: str, tmp_path: Path) -> Iterator[str]:
    """A database nothing has touched yet."""
    if db_kind == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
        return
    server = os.environ.get("TOCSIN_TEST_POSTGRES_URL", DEFAULT_PG)
    name = f"tocsin_empty_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_plain_dsn(server), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(_plain_dsn(server), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
async def empty_engine(empty_database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(load_settings(database_url=empty_database_url))
    yield engine
    await engine.dispose()


async def tables(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as connection:
        names = await connection.run_sync(lambda c: sa.inspect(c).get_table_names())
    return set(names) - {"alembic_version"}


async def downgrade_to_base(engine: AsyncEngine) -> None:
    def _down(connection: Connection) -> None:
        cfg = alembic_config()
        cfg.attributes["connection"] = connection
        command.downgrade(cfg, "base")

    async with engine.begin() as connection:
        await connection.run_sync(_down)


async def test_migrations_on_an_empty_database_equal_the_models(
    empty_engine: AsyncEngine,
) -> None:
    await upgrade(empty_engine)
    assert await drift(empty_engine) == []
    assert await tables(empty_engine) == set(Base.metadata.tables)


async def test_db_check_passes_and_notices_drift(
    empty_database_url: str, empty_engine: AsyncEngine
) -> None:
    agreed = await tocsin("db", "check", database_url=empty_database_url)
    assert agreed.code == 0, agreed.err
    assert "models and migrations agree" in agreed.out
    # A table the models do not know is drift: the check is not vacuous.
    async with empty_engine.begin() as connection:
        await connection.execute(sa.text("CREATE TABLE stray (id INTEGER PRIMARY KEY)"))
    drifted = await tocsin("db", "check", database_url=empty_database_url)
    assert drifted.code == 1
    assert "drift:" in drifted.err and "stray" in drifted.err


async def test_downgrade_then_upgrade_round_trips(empty_engine: AsyncEngine) -> None:
    await upgrade(empty_engine)
    await downgrade_to_base(empty_engine)
    assert await tables(empty_engine) == set()
    await upgrade(empty_engine)
    assert await drift(empty_engine) == []


async def test_upgrade_is_a_no_op_the_second_time(empty_engine: AsyncEngine) -> None:
    await upgrade(empty_engine)
    await upgrade(empty_engine)
    async with empty_engine.connect() as connection:
        heads = (await connection.execute(sa.text("SELECT version_num FROM alembic_version"))).all()
    assert len(heads) == 1
