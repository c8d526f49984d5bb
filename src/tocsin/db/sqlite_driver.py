"""SQLite statements in one trip to the driver's thread.

SQLite's Python driver blocks, so aiosqlite runs it on a thread of its own and every call is
a trip there and back: queue the call, wake the thread, wake the event loop with the answer.
SQLAlchemy's adapter for aiosqlite makes four such trips per statement (open a cursor,
execute, fetch the rows, close the cursor), and a trip costs about as much CPU as a small
statement itself: under an alert storm, with every alert's decision and every group commit
running several statements, the trips were a large share of the server's work.

This adapter keeps SQLAlchemy's aiosqlite dialect and aiosqlite's thread, and changes only the
cursor: a statement is executed, its rows fetched and its cursor closed in one call on that
thread. `make_engine` hands it to SQLAlchemy as the driver module (`module=`), so the URL stays
`sqlite+aiosqlite://`.
"""

from __future__ import annotations

import collections
import sqlite3
from collections.abc import Callable, Sequence
from typing import Any

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.util import EMPTY_DICT

_Outcome = tuple[Any, int, int | None, list[Any]]
"""description, rowcount, lastrowid and rows of a finished statement"""


def _execute(
    connection: sqlite3.Connection, operation: str, parameters: Sequence[Any] | None
) -> _Outcome:
    cursor = connection.cursor()
    try:
        if parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else []
        return description, cursor.rowcount, cursor.lastrowid, rows
    finally:
        cursor.close()


def _executemany(
    connection: sqlite3.Connection, operation: str, parameters: Sequence[Sequence[Any]]
) -> _Outcome:
    cursor = connection.cursor()
    try:
        cursor.executemany(operation, parameters)
        return cursor.description, cursor.rowcount, cursor.lastrowid, []
    finally:
        cursor.close()


class OneTripCursor(AsyncAdapt_aiosqlite_cursor):
    """A cursor whose statement runs, is fetched and closed in one call on the thread; what
    SQLAlchemy asks of it afterwards (description, row count, rows) is kept here."""

    __slots__ = ("_description", "_lastrowid", "_rowcount")

    def __init__(self, adapt_connection: AsyncAdapt_aiosqlite_connection) -> None:
        # The base class opens a driver cursor here: a trip of its own, not taken.
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = None  # type: ignore[assignment]
        self._soft_closed_memoized = EMPTY_DICT
        self._rows = collections.deque()
        self._description: Any = None
        self._rowcount = -1
        self._lastrowid: int | None = None

    @property
    def description(self) -> Any:
        return self._description

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def lastrowid(self) -> int:
        return self._lastrowid  # type: ignore[return-value]

    @property
    def arraysize(self) -> int:
        return 1

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        return None

    async def _trip(self, run: Callable[..., _Outcome], operation: Any, parameters: Any) -> None:
        """One call on the driver's thread; what it found is kept for SQLAlchemy to read."""
        connection: aiosqlite.Connection = self._connection  # type: ignore[assignment]
        async with self._adapt_connection._execute_mutex:
            outcome = await connection._execute(  # type: ignore[no-untyped-call]
                run, connection._conn, operation, parameters
            )
        self._description, self._rowcount, self._lastrowid, rows = outcome
        self._rows = collections.deque(rows)

    async def _execute_async(self, operation: Any, parameters: Any) -> Any:
        await self._trip(_execute, operation, parameters)

    async def _executemany_async(self, operation: Any, seq_of_parameters: Any) -> Any:
        await self._trip(_executemany, operation, seq_of_parameters)

    async def _async_soft_close(self) -> None:
        return None  # the driver cursor was closed on the thread

    def close(self) -> None:
        self._rows.clear()

    def setinputsizes(self, *inputsizes: Any) -> None:
        return None


class OneTripConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ()
    _cursor_cls = OneTripCursor  # type: ignore[assignment]


class OneTripDriver(AsyncAdapt_aiosqlite_dbapi):
    """The driver module SQLAlchemy's aiosqlite dialect is given instead of its own."""

    def connect(self, *arg: Any, **kw: Any) -> OneTripConnection:
        adapted = super().connect(*arg, **kw)
        return OneTripConnection(self, adapted._connection)


def driver() -> OneTripDriver:
    return OneTripDriver(aiosqlite, sqlite3)
