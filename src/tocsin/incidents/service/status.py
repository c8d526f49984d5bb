"""Status changes: the state machine decides, this applies its decision and its milestone."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from tocsin.audit.snapshot import snapshot
from tocsin.auth.permissions import Permission
from tocsin.clock import utcnow
from tocsin.errors import Conflict, Invalid
from tocsin.incidents import lifecycle
from tocsin.incidents.lifecycle import Refusal, Status
from tocsin.incidents.milestones import Milestone
from tocsin.incidents.schemas import IncidentOut, StatusChange
from tocsin.incidents.service import views
from tocsin.incidents.service.checklists import checklists_of, open_items
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
from tocsin.incidents.service.milestones import check_order, milestone_row, write_milestone

CLEARED_ON_REOPEN = (Milestone.RESOLVED, Milestone.BUSINESS_RESOLVED, Milestone.CLOSED)
"""A re-opened incident is not resolved: its resolution is measured again when it is."""


async def change_status(
    session: AsyncSession, who: Who, ref: str, body: StatusChange
) -> IncidentOut:
    require(who, Permission.INCIDENT_WRITE)
    incident = await load(session, who, ref)
    current = Status(incident.status)
    lists = await checklists_of(session, incident)
    try:
        decision = lifecycle.decide(
            current,
            body.status,
            reason=body.reason,
            technical_open=open_items(lists.technical),
            business_open=open_items(lists.business),
        )
    except Refusal as exc:
        if exc.field == "reason":
            raise Invalid(exc.field, exc.message) from exc
        raise Conflict(exc.message, field=exc.field) from exc
    actor = actor_of(who)
    before = snapshot(incident)
    cleared: dict[str, str] = {}
    if decision.reopen:
        for name in CLEARED_ON_REOPEN:
            row = await milestone_row(session, incident.id, name)
            if row is not None:
                cleared[name.value] = row.at.isoformat()
                await session.delete(row)
        await session.flush()
    times = await milestone_times(session, incident.id)
    milestone_set = None
    if decision.milestone not in times:
        now = utcnow()
        times[decision.milestone] = now
        check_order(times, decision.milestone)
        write_milestone(
            session,
            incident,
            actor,
            decision.milestone,
            now,
            evidence=f"status changed to {body.status.value}",
        )
        milestone_set = decision.milestone.value
    incident.status = body.status.value
    kind = "reopened" if decision.reopen else "status_changed"
    text = f"Status {current.value} → {body.status.value}"
    if body.reason:
        text += f": {body.reason}"
    note(
        session,
        incident,
        actor,
        kind,
        text,
        {
            "from": current.value,
            "to": body.status.value,
            "reason": body.reason,
            "milestone_set": milestone_set,
            "milestones_cleared": cleared,
        },
    )
    record(session, actor, f"incident.{kind}", incident, before, snapshot(incident))
    # Severity, impact, milestones and roles decide escalation: re-evaluate after this change.
    from tocsin.incidents.escalation.service import replan

    await replan(session, incident.id)
    if decision.reopen and incident.visibility == "private":
        # Pages still open for it follow their hand-offs again (see tocsin.oncall.handoffs).
        from tocsin.oncall.handoffs import follow_incident

        await follow_incident(session, incident.id)
    await finish(session, incident, "incident.status_changed", previous=current.value)
    return await views.full(session, incident)
