"""How fresh a node's idea of a page's version is, so most public requests read no database.

A node trusts the version it read for `VERSION_TTL`; a change committed by this process drops
every memo at once (a commit hook counts such commits), so the writer's own node serves the
change on the next request, and other nodes within `VERSION_TTL`, well inside the
`max-age` the answers carry anyway.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from tocsin.clock import utcnow

VERSION_TTL = timedelta(seconds=1)
"""how long a node trusts the page version it read, unless it committed a change itself"""
TOUCHED = "tocsin.statuspage.touched"
"""set in a session's `info` by every change that shows on a public page"""

_commits = 0


@event.listens_for(Session, "after_commit")
def _count_commit(session: Session) -> None:
    global _commits
    if session.info.pop(TOUCHED, False):
        _commits += 1


@event.listens_for(Session, "after_rollback")
@event.listens_for(Session, "after_soft_rollback")
def _forget(session: Session, *_: Any) -> None:
    session.info.pop(TOUCHED, None)


@dataclass(frozen=True)
class Memo:
    page_id: int
    version: int
    commits: int
    at: datetime


Memos = dict[str, Memo]


def commits() -> int:
    """Changes to status pages committed by this process so far."""
    return _commits


def recall(memos: Memos, slug: str | None) -> tuple[int, int] | None:
    """(page id, version) still to be trusted, or None when it must be read again."""
    memo = memos.get(slug or "")
    if memo is None or memo.commits != _commits or utcnow() - memo.at > VERSION_TTL:
        return None
    return memo.page_id, memo.version


def remember(memos: Memos, slug: str | None, found: tuple[int, int], seen: int) -> None:
    """`seen` is `commits()` taken before the read, so a commit during it is not missed."""
    memos[slug or ""] = Memo(found[0], found[1], seen, utcnow())
