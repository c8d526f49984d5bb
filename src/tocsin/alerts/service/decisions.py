"""What the pipeline decided about an alert, and why: written where a person can read it."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from tocsin.alerts.models import Alert
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
