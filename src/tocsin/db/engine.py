"""Engine and session factory, with the per-dialect settings Tocsin depends on."""

from __future__ import annotations

import asyncio
import itertools
import time
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.util import await_only
from sqlalchemy.util.concurrency import in_greenlet

from tocsin.config import Settings
from tocsin.db import jsontext, sqlite_driver


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers run during writes; foreign keys are off by default in SQLite.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=0")  # waiting is done in _sqlite_begin_immediate
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def make_engine(settings: Settings, **kwargs: Any) -> AsyncEngine:
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        # One connection per process: every transaction begins IMMEDIATE (below), so only one
        # runs at a time anyway; with more connections the others poll for the file lock,
        # sleeping up to 100 ms between tries and in no particular order, and under an alert
        # storm a page's decision waited seconds behind ingestion. Waiting for the pool's one
        # connection is first come, first served and wakes the next at once.
        if url.get_driver_name() == "aiosqlite":  # statements in one trip to its thread
            kwargs.setdefault("module", sqlite_driver.driver())
        engine = create_async_engine(
            url,
            echo=settings.database_echo,
            pool_size=1,
            max_overflow=0,
            json_serializer=jsontext.dumps,
            **kwargs,
        )
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "connect", _disable_pysqlite_autobegin)
        # aiosqlite's default DEFERRED transactions deadlock two writers; begin writes eagerly.
        event.listen(engine.sync_engine, "begin", _sqlite_begin_immediate)
        return engine
    return create_async_engine(
        url,
        echo=settings.database_echo,
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_pool_size,
        pool_pre_ping=True,
        json_serializer=jsontext.dumps,
        **kwargs,
    )


BUSY_SECONDS = 10.0
"""How long a transaction waits for another process to release SQLite's writer lock."""
BUSY_POLL_SECONDS = (0.001, 0.002, 0.005)
"""The pauses between tries, then the last one repeated."""


def _sqlite_begin_immediate(conn: Any) -> None:
    """Take the writer lock, waiting for another process without blocking the event loop's
    thread pool or sleeping long: SQLite's own busy handler (left at 0 here) sleeps up to
    100 ms between tries, so a page's decision in a worker process waited seconds behind a
    server's ingestion. Within a process the one pooled connection already queues
    transactions; this only matters between processes."""
    deadline = time.monotonic() + BUSY_SECONDS
    for attempt in itertools.count():
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
            return
        except OperationalError as exc:
            if "locked" not in str(exc.orig) or time.monotonic() >= deadline:
                raise
        pause = BUSY_POLL_SECONDS[min(attempt, len(BUSY_POLL_SECONDS) - 1)]
        if in_greenlet():  # an async engine: let the event loop run meanwhile
            await_only(asyncio.sleep(pause))
        else:
            time.sleep(pause)


def _disable_pysqlite_autobegin(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy emit BEGIN itself (see _sqlite_begin_immediate).
    dbapi_connection.isolation_level = None


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)
