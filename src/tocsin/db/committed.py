"""What a process learned from its own writes, trusted only once they commit.

The hot write paths skip work they know is done: ingestion skips marking an integration
received when this process marked it a moment ago, and queues no expiry sweep when one it
queued already covers the alerts. Such knowledge is noted inside the transaction and becomes
the process's only after the commit: a rolled-back transaction wrote nothing, so remembering
its notes would skip work that never happened. Kept per database, since tests open many in
one process.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from sqlalchemy import Engine, event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

K = TypeVar("K")
V = TypeVar("V")

LIMIT = 10_000
"""Entries a memo keeps by default; beyond it, it starts again from the latest commit's."""


def _bounded(entries: dict[Any, Any], latest: dict[Any, Any]) -> dict[Any, Any]:
    return entries if len(entries) <= LIMIT else dict(latest)


class Committed(Generic[K, V]):
    """One kind of knowledge, keyed like a dict, per database."""

    def __init__(
        self,
        name: str,
        keep: Callable[[dict[K, V], dict[K, V]], dict[K, V]] = _bounded,
    ) -> None:
        """`keep(all, latest)` trims what is kept after a commit added `latest`."""
        self._pending = f"tocsin.committed.{name}"
        self._keep = keep
        self._known: weakref.WeakKeyDictionary[Engine, dict[K, V]] = weakref.WeakKeyDictionary()
        _memos.append(self)

    def known(self, session: AsyncSession) -> dict[K, V]:
        """What committed transactions taught this process, and what this one noted so far."""
        committed = self._known.get(_engine(session.sync_session), {})
        return {**committed, **session.info.get(self._pending, {})}

    def note(self, session: AsyncSession, key: K, value: V) -> None:
        session.info.setdefault(self._pending, {})[key] = value

    def _committed(self, session: Session) -> None:
        latest = session.info.pop(self._pending, None)
        if latest:
            engine = _engine(session)
            self._known[engine] = self._keep({**self._known.get(engine, {}), **latest}, latest)

    def _rolled_back(self, session: Session) -> None:
        session.info.pop(self._pending, None)


_memos: list[Committed[Any, Any]] = []


def _engine(session: Session) -> Engine:
    bind = session.get_bind()
    return bind if isinstance(bind, Engine) else bind.engine


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    for memo in _memos:
        memo._committed(session)


@event.listens_for(Session, "after_rollback")
@event.listens_for(Session, "after_soft_rollback")
def _after_rollback(session: Session, *_: Any) -> None:
    for memo in _memos:
        memo._rolled_back(session)
