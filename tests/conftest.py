"""Test fixtures: a real database (SQLite or PostgreSQL, chosen with --db) for every test.

SQLite: the schema is migrated once into a template file; each test gets a fresh copy.
PostgreSQL: one database with a unique name per test process, migrated once, emptied after
each test and dropped at the end. With CI=true a missing PostgreSQL server is a failure.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from tocsin.clock import FrozenClock, SystemClock, set_clock
from tocsin.config import Settings, get_settings, load_settings
from tocsin.db.engine import make_engine, make_sessionmaker
from tocsin.db.migrate import upgrade
from tocsin.db.models import Base

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"

# Property tests check behaviour, not speed: on a busy machine example generation and each
# example can take longer than Hypothesis's defaults allow, which would fail a correct test.
hypothesis_settings.register_profile(
    "tocsin", deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
hypothesis_settings.load_profile("tocsin")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--db",
        choices=["sqlite", "postgresql"],
        default="sqlite",
        help="database the suite runs against",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if config.getoption("--db") != "postgresql" and item.get_closest_marker("postgres_only"):
            item.add_marker(
                pytest.mark.skip(reason="PostgreSQL-specific: run with --db postgresql")
            )


@pytest.fixture(scope="session")
def db_kind(pytestconfig: pytest.Config) -> str:
    return str(pytestconfig.getoption("--db"))


def _psycopg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _migrate(url: str) -> None:
    async def go() -> None:
        engine = make_engine(load_settings(database_url=url))
        try:
            await upgrade(engine)
        finally:
            await engine.dispose()

    asyncio.run(go())


@pytest.fixture(scope="session")
def template_database(db_kind: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if db_kind == "sqlite":
        path = tmp_path_factory.mktemp("template") / "template.db"
        url = f"sqlite+aiosqlite:///{path}"
        _migrate(url)
        yield url
        return
    server = os.environ.get("TOCSIN_TEST_POSTGRES_URL", DEFAULT_PG)
    name = f"tocsin_test_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(_psycopg_dsn(server), autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL is required in CI and does not answer: {exc}")
        pytest.skip(f"no PostgreSQL server: {exc}")
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = make_url(server).set(database=name).render_as_string(hide_password=False)
    try:
        _migrate(url)
        yield url
    finally:
        with psycopg.connect(_psycopg_dsn(server), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def database_url(db_kind: str, template_database: str, tmp_path: Path) -> Iterator[str]:
    if db_kind == "sqlite":
        source = Path(make_url(template_database).database or "")
        target = tmp_path / "tocsin.db"
        shutil.copyfile(source, target)
        yield f"sqlite+aiosqlite:///{target}"
        return
    yield template_database
    _empty_postgres(_psycopg_dsn(template_database))


def _empty_postgres(dsn: str) -> None:
    """Leave the shared database as migrated for the next test. Only the tables this test
    wrote to are emptied (found with one query), and with DELETE: TRUNCATE makes new files for
    every table it empties, 0.1 to 1 s after each test on a busy machine, where deleting a
    test's few rows takes milliseconds. Triggers are off for the deletion (the `replica`
    role), so neither foreign keys (the order does not matter) nor the append-only guards of
    the audit trail and comms log stand in the way. Setting that role needs a superuser;
    without one, TRUNCATE does the same more slowly. Then every used sequence starts at 1."""
    names = [t.name for t in Base.metadata.sorted_tables]
    probe = " UNION ALL ".join(f"(SELECT '{name}' FROM \"{name}\" LIMIT 1)" for name in names)
    with psycopg.connect(dsn, autocommit=True) as conn:
        used = [f'"{row[0]}"' for row in conn.execute(probe)]
        if used:
            deletes = "".join(f"DELETE FROM {name};" for name in used)
            try:
                with conn.transaction():
                    conn.execute(f"SET LOCAL session_replication_role = replica;{deletes}")
            except psycopg.errors.InsufficientPrivilege:
                conn.execute(f"TRUNCATE {', '.join(used)} CASCADE")
        conn.execute(
            "SELECT setval(format('%I.%I', schemaname, sequencename), 1, false) "
            "FROM pg_sequences WHERE schemaname = current_schema() AND last_value IS NOT NULL"
        )


@pytest.fixture
def settings(database_url: str) -> Settings:
    return load_settings(database_url=database_url, log_level="warning")


Configure = Callable[[Mapping[str, str | None]], None]


@pytest.fixture
def configure() -> Iterator[Configure]:
    """Sets `TOCSIN_*` variables (None removes one) for the rest of the test, as an operator
    would before starting Tocsin. Code that reads the process settings (`get_settings`, cached:
    the worker's handlers, for one) sees them from the next call on; after the test neither the
    variables nor settings cached from them are left for the next test."""
    with pytest.MonkeyPatch.context() as patch:

        def apply(variables: Mapping[str, str | None]) -> None:
            for name, value in variables.items():
                if value is None:
                    patch.delenv(name, raising=False)
                else:
                    patch.setenv(name, value)
            get_settings.cache_clear()

        yield apply
    get_settings.cache_clear()


@pytest.fixture
async def engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(settings)
    yield engine
    await engine.dispose()


@pytest.fixture
def sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return make_sessionmaker(engine)


@pytest.fixture
async def session(sessionmaker: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    async with sessionmaker() as session:
        yield session


@pytest.fixture
def clock() -> Iterator[FrozenClock]:
    frozen = FrozenClock()
    set_clock(frozen)
    yield frozen
    set_clock(SystemClock())


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    from tocsin.app import create_app

    application = create_app(settings)
    async with LifespanManager(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://testserver") as c:
        yield c


async def count_rows(session: AsyncSession, model: Any) -> int:
    return int(await session.scalar(sa.select(sa.func.count()).select_from(model)) or 0)


async def until_a_transaction_waits_for_a_lock(session: AsyncSession) -> None:
    """PostgreSQL: return once another connection is blocked on a lock (a concurrent insert of
    the same unique key, say). The server is asked, as nothing in this process can signal it."""
    waiting = sa.text(
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    async with asyncio.timeout(10):
        while not await session.scalar(waiting):
            await session.rollback()
            await asyncio.sleep(0.01)
    await session.rollback()
