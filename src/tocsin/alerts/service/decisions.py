"""What the pipeline decided about an alert, and why: written where a person can read it.

A changed decision is also a row of the alert's history. Those rows are written together when
the session next flushes (or commits), in one statement: as ORM objects, SQLite wrote them one
statement each (the ORM needs each new id back, and there it cannot match the ids of a multi-row
insert to its objects), a statement for every decision of a storm. Nothing reads the ids back,
and the rows keep the order of the decisions. Like ORM objects, the rows of a rolled-back
transaction or savepoint are dropped with it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction

from tocsin.alerts.models import Alert, AlertEvent
from tocsin.clock import utcnow

RECEIVED = "received"
"""Stored and handed to the pipeline; no grouping, correlation or paging has run yet."""

_EVENTS = cast(sa.Table, AlertEvent.__table__)
_UNWRITTEN = "tocsin.unwritten_decision_events"
"""session.info key: the history rows of decisions not written yet, each with the transaction
or savepoint it was decided in."""
_Unwritten = tuple["SessionTransaction | None", dict[str, Any]]


async def record_decision(session: AsyncSession, alert_id: int, decision: str, reason: str) -> bool:
    """Set the alert's decision (no commit: the caller's transaction owns it). False when
    the alert no longer exists (its integration was deleted)."""
    row = await session.get(Alert, alert_id)
    if row is None:
        return False
    row.decision = decision
    row.decision_reason = reason
    row.decided_at = utcnow()
    return True


def decide(
    session: AsyncSession, row: Alert, decision: str, reason: str, ref: str | None, now: datetime
) -> None:
    """Set the decision of the pipeline or of routing; a changed one is also appended to the
    alert's history, so the history shows each change of mind once however often a decision
    is taken again."""
    changed = (row.decision, row.decision_reason) != (decision, reason)
    row.decision = decision
    row.decision_reason = reason
    row.decision_ref = ref
    row.decided_at = now
    if changed:
        sync = session.sync_session
        within = sync.get_nested_transaction() or sync.get_transaction()
        unwritten: list[_Unwritten] = session.info.setdefault(_UNWRITTEN, [])
        unwritten.append(
            (
                within,
                {
                    "alert_id": row.id,
                    "kind": "decision",
                    "status": row.status,
                    "at": now,
                    "data": {"decision": decision, "reason": reason, "ref": ref},
                },
            )
        )


def _write(session: Session) -> None:
    unwritten: list[_Unwritten] | None = session.info.pop(_UNWRITTEN, None)
    if unwritten:
        session.connection().execute(_EVENTS.insert(), [row for _, row in unwritten])


def _inside(transaction: SessionTransaction | None, outer: SessionTransaction) -> bool:
    while transaction is not None:
        if transaction is outer:
            return True
        transaction = transaction.parent
    return False


@event.listens_for(Session, "before_flush")
def _before_flush(session: Session, _context: Any, _instances: Any) -> None:
    _write(session)


@event.listens_for(Session, "before_commit")
def _before_commit(session: Session) -> None:
    """Also when nothing else is left to flush (the alert row reloaded since, say)."""
    _write(session)


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    """Drop what was decided within the transaction or savepoint being rolled back (it is
    still the session's current one when this runs)."""
    current = session.get_nested_transaction() or session.get_transaction()
    unwritten: list[_Unwritten] | None = session.info.get(_UNWRITTEN)
    if unwritten and current is not None:
        unwritten[:] = [(t, row) for t, row in unwritten if not _inside(t, current)]


@event.listens_for(Session, "after_transaction_end")
def _after_transaction_end(session: Session, transaction: SessionTransaction) -> None:
    """What a released savepoint decided now belongs to the enclosing transaction; whatever
    is left when the outermost one ends (closed without a commit) is dropped."""
    unwritten: list[_Unwritten] | None = session.info.get(_UNWRITTEN)
    if not unwritten:
        return
    if transaction.parent is None:
        unwritten[:] = [(t, row) for t, row in unwritten if not _inside(t, transaction)]
    else:
        unwritten[:] = [
            (transaction.parent if t is transaction else t, row) for t, row in unwritten
        ]
