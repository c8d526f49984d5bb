"""Setting and correcting milestones, with the order rules enforced and every change kept."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from tocsin.audit.service import Actor
from tocsin.auth.permissions import Permission
from tocsin.clock import ensure_utc, utcnow
from tocsin.errors import Invalid, ProblemError
from tocsin.incidents import milestones as rules
from tocsin.incidents.milestones import Milestone
from tocsin.incidents.models import Incident, IncidentMilestone
from tocsin.incidents.schemas import IncidentOut, MilestoneSet
from tocsin.incidents.service import views
from tocsin.incidents.service.common import (
    Who,
    actor_of,
    finish,
    load,
    milestone_times,
    note,
    record,
    require,
)


class MilestoneConflict(ProblemError):
    def __init__(self, conflict: rules.Conflict) -> None:
        super().__init__(
            422,
            "Milestones out of order",
            conflict.message,
            errors=[{"field": f"milestones.{conflict.later.value}", "message": conflict.message}],
            extra={
                "conflict": {
                    "milestone": conflict.later.value,
                    "at": conflict.later_at.isoformat(),
                    "conflicts_with": conflict.earlier.value,
                    "conflicts_with_at": conflict.earlier_at.isoformat(),
                }
            },
        )


CLOCK_SKEW = timedelta(minutes=5)
"""How far ahead of our clock a reported time may be (a source's clock can run a little fast)."""


def check_not_future(at: datetime, field: str) -> None:
    if ensure_utc(at) > utcnow() + CLOCK_SKEW:
        raise Invalid(field, "a milestone cannot be in the future")


def check_order(times: Mapping[Milestone, datetime], changed: Milestone | None) -> None:
    found = rules.first_conflict({k: ensure_utc(v) for k, v in times.items()}, changed)
    if found is not None:
        raise MilestoneConflict(found)


def write_milestone(
    session: AsyncSession,
    incident: Incident,
    actor: Actor,
    name: Milestone,
    at: datetime,
    *,
    evidence: str = "",
    evidence_url: str | None = None,
    source: str | None = None,
    existing: IncidentMilestone | None = None,
) -> IncidentMilestone:
    row = existing or IncidentMilestone(incident_id=incident.id, name=name.value)
    row.at = ensure_utc(at)
    row.set_by_kind = "source" if source else actor.kind
    row.set_by_id = None if source else actor.id
    row.set_by_label = source or actor.label
    row.evidence = evidence
    row.evidence_url = evidence_url
    session.add(row)
    return row


async def milestone_row(
    session: AsyncSession, incident_id: int, name: Milestone
) -> IncidentMilestone | None:
    return await session.scalar(
        sa.select(IncidentMilestone).where(
            IncidentMilestone.incident_id == incident_id, IncidentMilestone.name == name.value
        )
    )


def _row_state(row: IncidentMilestone | None) -> dict[str, object] | None:
    if row is None:
        return None
    return {
        "at": row.at.isoformat(),
        "set_by": row.set_by_label,
        "evidence": row.evidence,
        "evidence_url": row.evidence_url,
    }


async def set_milestone(
    session: AsyncSession, who: Who, ref: str, name: Milestone, body: MilestoneSet
) -> IncidentOut:
    """Set a milestone, or correct one already set (then a reason is required)."""
    require(who, Permission.INCIDENT_WRITE)
    incident = await load(session, who, ref)
    existing = await milestone_row(session, incident.id, name)
    if existing is not None and not body.reason.strip():
        raise Invalid("reason", f"{name.value} is already set; say why it is corrected")
    check_not_future(body.at, "at")
    times = await milestone_times(session, incident.id)
    times[name] = body.at
    check_order(times, name)
    actor = actor_of(who)
    before = _row_state(existing)
    old = existing.at if existing is not None else None
    row = write_milestone(
        session,
        incident,
        actor,
        name,
        body.at,
        evidence=body.evidence,
        evidence_url=str(body.evidence_url) if body.evidence_url else None,
        source=body.source,
        existing=existing,
    )
    kind = "milestone_corrected" if existing is not None else "milestone_set"
    label = rules.LABELS[name]
    text = (
        f"{label} corrected from {old.isoformat()} to {row.at.isoformat()}"
        if old is not None
        else f"{label} set to {row.at.isoformat()}"
    )
    note(
        session,
        incident,
        actor,
        kind,
        text,
        {
            "milestone": name.value,
            "old": old.isoformat() if old else None,
            "new": row.at.isoformat(),
            "reason": body.reason,
            "evidence": body.evidence,
            "set_by": row.set_by_label,
        },
    )
    record(session, actor, f"incident.{kind}", incident, before, _row_state(row))
    # Severity, impact, milestones and roles decide escalation: re-evaluate after this change.
    from tocsin.incidents.escalation.service import replan

    await replan(session, incident.id)
    await finish(session, incident, "incident.milestone_set", milestone=name.value)
    return await views.full(session, incident)
