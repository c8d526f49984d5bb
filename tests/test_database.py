"""What Tocsin relies on from its database, on whichever one the suite runs against."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.dialects.sqlite import aiosqlite as sqlite_aiosqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from tocsin.audit.service import Actor
from tocsin.auth import service as auth
from tocsin.auth.models import TeamMembership, User
from tocsin.auth.permissions import Role
from tocsin.config import Settings
from tocsin.db import jsontext
from tocsin.db.base import UTCDateTime
from tocsin.db.committed import Committed
from tocsin.db.engine import make_engine, make_sessionmaker


async def test_sqlite_runs_in_wal_mode_with_foreign_keys(engine: AsyncEngine, db_kind: str) -> None:
    if db_kind != "sqlite":
        pytest.skip("SQLite pragmas")
    async with engine.connect() as conn:
        assert (await conn.exec_driver_sql("PRAGMA journal_mode")).scalar() == "wal"
        assert (await conn.exec_driver_sql("PRAGMA foreign_keys")).scalar() == 1


async def test_a_dangling_reference_is_refused(session: AsyncSession) -> None:
    session.add(TeamMembership(team_id=4242, user_id=4242))
    with pytest.raises(IntegrityError):
        await session.commit()


async def test_times_come_back_as_aware_utc(session: AsyncSession) -> None:
    user = await auth.create_user(
        session, Actor.system("test"), email="tz@example.test", role=Role.VIEWER
    )
    moment = datetime(2026, 3, 29, 1, 30, tzinfo=timezone(timedelta(hours=2)))
    user.last_login_at = moment
    await session.commit()
    session.expunge_all()
    stored = await session.scalar(sa.select(User.last_login_at).where(User.id == user.id))
    assert stored == moment
    assert stored is not None and stored.tzinfo is not None
    assert stored.utcoffset() == UTC.utcoffset(None)


async def test_concurrent_writers_queue_instead_of_failing(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    async def create(n: int) -> None:
        async with sessionmaker() as session:
            await auth.create_user(
                session, Actor.system("test"), email=f"w{n}@example.test", role=Role.VIEWER
            )

    await asyncio.gather(*(create(n) for n in range(20)))
    async with sessionmaker() as session:
        count = await session.scalar(sa.select(sa.func.count()).select_from(User))
    assert count == 20


WRITERS = 24


async def test_sqlite_writers_of_a_process_take_turns_in_arrival_order(
    sessionmaker: async_sessionmaker[AsyncSession], db_kind: str
) -> None:
    """A page's decision queued behind a burst of ingestion writes is served after them and
    at once, not whenever its polling for SQLite's file lock happens to win."""
    if db_kind != "sqlite":
        pytest.skip("SQLite's single writer")
    order: list[int] = []
    release = asyncio.Event()

    async def write(n: int, queued: asyncio.Event) -> None:
        async with sessionmaker() as session:
            queued.set()
            await session.execute(sa.text("SELECT 1"))  # holds the one writer from here
            order.append(n)
            if n == 0:
                await release.wait()
            await session.commit()

    tasks = []
    for n in range(WRITERS):
        queued = asyncio.Event()
        tasks.append(asyncio.create_task(write(n, queued)))
        await queued.wait()
    release.set()
    await asyncio.gather(*tasks)
    assert order == list(range(WRITERS))


async def test_a_sqlite_writer_of_another_process_waits_its_turn_without_stalling(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession], db_kind: str
) -> None:
    """A second engine stands for another process (a worker beside the server): its write
    waits for the first one's commit instead of failing, and the event loop keeps serving
    other work meanwhile."""
    if db_kind != "sqlite":
        pytest.skip("SQLite's single writer")
    other = make_engine(settings)
    try:
        async with sessionmaker() as holding:
            await auth.create_user(
                holding, Actor.system("test"), email="first@example.test", role=Role.VIEWER
            )
            await holding.execute(sa.text("SELECT 1"))  # begins again: holds the lock
            waiting = asyncio.create_task(_create_user(make_sessionmaker(other), "second"))
            ticks = 0
            while ticks < 20:  # the loop runs while the other engine waits for the lock
                await asyncio.sleep(0.001)
                ticks += 1
            assert not waiting.done(), "it waited for the lock"
            await holding.commit()
        await waiting
    finally:
        await other.dispose()
    async with sessionmaker() as session:
        emails = set(await session.scalars(sa.select(User.email)))
    assert {"first@example.test", "second@example.test"} <= emails


async def _create_user(sessions: async_sessionmaker[AsyncSession], name: str) -> None:
    async with sessions() as session:
        await auth.create_user(
            session, Actor.system("test"), email=f"{name}@example.test", role=Role.VIEWER
        )


async def test_what_a_transaction_noted_is_known_only_once_it_commits(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    """Skipping work because "this process did it already" must never trust a write that
    was rolled back."""
    marks: Committed[str, int] = Committed("test.marks")
    async with sessionmaker() as session:
        await session.execute(sa.text("SELECT 1"))
        marks.note(session, "rolled back", 1)
        assert marks.known(session) == {"rolled back": 1}, "its own transaction sees it"
        await session.rollback()
        assert marks.known(session) == {}
        await session.execute(sa.text("SELECT 1"))
        marks.note(session, "committed", 2)
        await session.commit()
    async with sessionmaker() as other:
        assert marks.known(other) == {"committed": 2}


@given(
    moment=st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)),
    offset_minutes=st.one_of(st.none(), st.integers(min_value=-1439, max_value=1439)),
)
def test_sqlite_stores_a_time_as_the_generic_path_would(
    moment: datetime, offset_minutes: int | None
) -> None:
    """SQLite keeps times as text and compares them as text, so the quicker bind path must
    write exactly what SQLAlchemy's own would, for any zone (none meaning UTC)."""
    if offset_minutes is not None:
        moment = moment.replace(tzinfo=timezone(timedelta(minutes=offset_minutes)))
    dialect = sqlite_aiosqlite.dialect()
    column = UTCDateTime().dialect_impl(dialect)
    generic = sa.types.TypeDecorator.bind_processor(column, dialect)
    quick = column._cached_bind_processor(dialect)  # what statements run with
    assert generic is not None and quick is not None
    assert quick(moment) == generic(moment)
    assert quick(None) is None


@given(
    st.recursive(
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
        max_leaves=12,
    )
)
def test_a_json_column_reads_back_what_was_written(value: object) -> None:
    """Integers of any size included: a sender's number is stored exactly. (NaN and
    Infinity are not JSON: ingestion refuses them.)"""
    assert json.loads(jsontext.dumps(value)) == value


async def test_a_sqlite_statement_takes_one_trip_to_the_drivers_thread(
    engine: AsyncEngine, db_kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each trip to aiosqlite's thread costs about as much as a small statement; a read, its
    rows and its cursor are one trip, and what SQLAlchemy reads back is all there."""
    if db_kind != "sqlite":
        pytest.skip("SQLite's driver thread")
    import aiosqlite

    trips = 0
    original = aiosqlite.Connection._execute

    async def counted(self: aiosqlite.Connection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        nonlocal trips
        trips += 1
        return await original(self, fn, *args, **kwargs)

    async with engine.connect() as conn:
        await conn.exec_driver_sql("CREATE TEMP TABLE trip (n INTEGER)")
        monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
        inserted = await conn.execute(sa.text("INSERT INTO trip (n) VALUES (1), (2), (3)"))
        assert (trips, inserted.rowcount) == (1, 3)
        rows = await conn.execute(sa.text("SELECT n FROM trip ORDER BY n"))
        assert trips == 2
        assert [n for (n,) in rows] == [1, 2, 3]
        many = await conn.execute(sa.text("INSERT INTO trip (n) VALUES (:n)"), [{"n": 4}, {"n": 5}])
        assert (trips, many.rowcount) == (3, 2)
