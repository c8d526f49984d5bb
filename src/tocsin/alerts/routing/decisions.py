"""How routing writes what it decided about an alert, shared by its incidents and tickets.

The pipeline records its own decisions the same way: on the alert, and a changed one in the
alert's history, so the history shows each change of mind once however often it is re-run.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from tocsin.alerts.models import Alert, AlertEvent
from tocsin.audit.service import Actor

ROUTER = Actor.system("alert routing")


def decide(
    session: AsyncSession, row: Alert, decision: str, reason: str, ref: str | None, now: datetime
) -> None:
    """As the pipeline records a decision: on the alert, and a changed one in its history."""
    changed = (row.decision, row.decision_reason) != (decision, reason)
    row.decision, row.decision_reason, row.decision_ref, row.decided_at = (
        decision,
        reason[:2000],
        ref,
        now,
    )
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
