"""What the pipeline decided about an alert, and why: written where a person can read it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from tocsin.alerts.models import Alert, AlertEvent
from tocsin.clock import utcnow

RECEIVED = "received"
"""Stored and handed to the pipeline; no grouping, correlation or paging has run yet."""


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
        session.add(
            AlertEvent(
                alert_id=row.id,
                kind="decision",
                status=row.status,
                at=now,
                data={"decision": decision, "reason": reason, "ref": ref},
            )
        )
