"""How routing writes what it decided about an alert, shared by its incidents and tickets.

The pipeline records its own decisions the same way: on the alert, and a changed one in the
alert's history, so the history shows each change of mind once however often it is re-run.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from tocsin.alerts.models import Alert
from tocsin.alerts.service import decisions
from tocsin.audit.service import Actor

ROUTER = Actor.system("alert routing")


def decide(
    session: AsyncSession, row: Alert, decision: str, reason: str, ref: str | None, now: datetime
) -> None:
    """As the pipeline records a decision, with the reason cut to a readable length (it may
    hold a ticket's or an incident's title)."""
    decisions.decide(session, row, decision, reason[:2000], ref, now)
