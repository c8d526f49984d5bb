"""Bridge use cases: the conference link, structured updates, and the timer that reminds the
Incident Commander of a missed update and escalates a second miss.

One durable check job per incident and due time (`incident.bridge.check`) carries the timer.
The job reads the incident afresh each time it runs, so a resolved incident stops it and a
changed severity changes what it decides. While an incident is active and has a cadence, the
timer looks at least every `RECHECK` (on a fixed grid, so the checks planned by different
paths meet in one job): a severity raised meanwhile pulls the reminder forward within that
time without anyone posting an update, and without the incident core having to call us.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from tocsin.audit.service import Actor
from tocsin.auth.models import User
from tocsin.auth.permissions import Permission
from tocsin.clock import utcnow
from tocsin.config import get_settings
from tocsin.errors import Invalid, NotFound
from tocsin.incidents import lifecycle
from tocsin.incidents.bridge import cadence as rules
from tocsin.incidents.bridge.models import IncidentBridge, IncidentUpdate
from tocsin.incidents.bridge.schemas import (
    AdherenceOut,
    BridgeOut,
    LinkIn,
    UpdateIn,
    UpdateOut,
)
from tocsin.incidents.milestones import Milestone
from tocsin.incidents.models import Incident, IncidentRoleAssignment
from tocsin.incidents.schemas import StandardRole
from tocsin.incidents.service.common import (
    Who,
    actor_of,
    finish,
    load,
    milestone_times,
    note,
    record,
    ref_of,
    require,
)
from tocsin.jobs import service as jobs
from tocsin.policy import service as policy

CHECK_KIND = "incident.bridge.check"
RECHECK = timedelta(minutes=15)
TIMER = Actor.system("bridge cadence")


@dataclass(frozen=True)
class Plan:
    cadence: timedelta | None
    last: IncidentUpdate | None
    due: datetime | None


def bridge_url(incident_id: int, template: str | None = None) -> str:
    """The generated conference link; unknown placeholders are left as written."""
    text = template if template is not None else get_settings().bridge_url_template
    ref = ref_of(incident_id)
    values = {"ref": ref, "id": str(incident_id), "slug": ref.lower()}
    for name, value in values.items():
        text = text.replace("{" + name + "}", value)
    return text


async def cadence_of(session: AsyncSession, severity: str) -> int | None:
    try:
        stored = await policy.get_policy(session, severity)
    except NotFound:
        return rules.cadence_minutes(severity, [])
    return rules.cadence_minutes(
        severity, [(c.group, c.cadence_minutes) for c in stored.communications]
    )


async def _last_update(session: AsyncSession, incident_id: int) -> IncidentUpdate | None:
    return await session.scalar(
        sa.select(IncidentUpdate)
        .where(IncidentUpdate.incident_id == incident_id)
        .order_by(IncidentUpdate.at.desc(), IncidentUpdate.id.desc())
        .limit(1)
    )


async def _plan(session: AsyncSession, incident: Incident) -> Plan:
    minutes = await cadence_of(session, incident.severity)
    cadence = None if minutes is None else timedelta(minutes=minutes)
    last = await _last_update(session, incident.id)
    due = rules.next_due(
        incident.created_at,
        last.at if last else None,
        last.next_due if last else None,
        cadence,
    )
    return Plan(cadence, last, due)


async def _bridge(session: AsyncSession, incident_id: int) -> IncidentBridge:
    row = await session.scalar(
        sa.select(IncidentBridge).where(IncidentBridge.incident_id == incident_id)
    )
    if row is None:
        row = IncidentBridge(incident_id=incident_id)
        session.add(row)
        await session.flush()
    return row


async def _commander(session: AsyncSession, incident_id: int) -> User | None:
    return await session.scalar(
        sa.select(User)
        .join(IncidentRoleAssignment, IncidentRoleAssignment.user_id == User.id)
        .where(
            IncidentRoleAssignment.incident_id == incident_id,
            IncidentRoleAssignment.role == StandardRole.INCIDENT_COMMANDER.value,
            IncidentRoleAssignment.ended_at.is_(None),
        )
    )


def _active(incident: Incident) -> bool:
    return lifecycle.is_active(lifecycle.Status(incident.status))


async def _plan_check(session: AsyncSession, incident: Incident) -> None:
    """Plan the next look at an incident's cadence: its due time, or sooner (see RECHECK)."""
    plan = await _plan(session, incident)
    if plan.due is not None and plan.cadence is not None:
        at = rules.next_check(utcnow(), plan.due, plan.cadence, RECHECK)
        await _schedule_check(session, incident.id, at)


async def _schedule_check(session: AsyncSession, incident_id: int, at: datetime) -> None:
    await jobs.enqueue(
        session,
        CHECK_KIND,
        {"incident_id": incident_id},
        run_at=at,
        idempotency_key=f"incident-{incident_id}-bridge-check-{at.isoformat()}",
    )


def _update_out(row: IncidentUpdate) -> UpdateOut:
    return UpdateOut(
        id=row.id,
        at=row.at,
        current_status=row.current_status,
        actions=row.actions,
        next_steps=row.next_steps,
        next_due=row.next_due,
        cadence_minutes=row.cadence_minutes,
        author=row.author_label,
    )


async def _until(session: AsyncSession, incident: Incident) -> datetime:
    """The end of the interval adherence is measured over: resolution, or now."""
    if _active(incident):
        return utcnow()
    times = await milestone_times(session, incident.id)
    return times.get(Milestone.RESOLVED) or utcnow()


async def _bridge_out(session: AsyncSession, incident: Incident) -> BridgeOut:
    plan = await _plan(session, incident)
    row = await session.scalar(
        sa.select(IncidentBridge).where(IncidentBridge.incident_id == incident.id)
    )
    times = await session.scalars(
        sa.select(IncidentUpdate.at).where(IncidentUpdate.incident_id == incident.id)
    )
    measured = rules.adherence(
        incident.created_at, await _until(session, incident), plan.cadence, list(times)
    )
    active = _active(incident)
    now = utcnow()
    overdue = active and plan.due is not None and now >= plan.due
    commander = await _commander(session, incident.id)
    worst = measured.worst_late_by
    return BridgeOut(
        ref=ref_of(incident.id),
        url=(row.url if row and row.url else bridge_url(incident.id)),
        url_set_by_hand=bool(row and row.url),
        cadence_minutes=None if plan.cadence is None else int(plan.cadence.total_seconds() // 60),
        last_update_at=plan.last.at if plan.last else None,
        next_due=plan.due if active else None,
        overdue=overdue,
        overdue_by_seconds=int((now - plan.due).total_seconds()) if overdue and plan.due else None,
        incident_commander=commander.email if commander else None,
        active=active,
        adherence=AdherenceOut(
            due=measured.due,
            on_time=measured.on_time,
            late=measured.late,
            missed=measured.missed,
            late_by_seconds=[int(d.total_seconds()) for d in measured.late_by],
            worst_late_by_seconds=None if worst is None else int(worst.total_seconds()),
        ),
    )


async def get_bridge(session: AsyncSession, who: Who, ref: str) -> BridgeOut:
    incident = await load(session, who, ref)
    return await _bridge_out(session, incident)


async def list_updates(session: AsyncSession, who: Who, ref: str) -> list[UpdateOut]:
    """Newest first."""
    incident = await load(session, who, ref)
    rows = await session.scalars(
        sa.select(IncidentUpdate)
        .where(IncidentUpdate.incident_id == incident.id)
        .order_by(IncidentUpdate.at.desc(), IncidentUpdate.id.desc())
    )
    return [_update_out(r) for r in rows]


async def post_update(session: AsyncSession, who: Who, ref: str, body: UpdateIn) -> UpdateOut:
    """Record a structured update and plan the check of the next one, in one transaction."""
    require(who, Permission.INCIDENT_NOTE)
    incident = await load(session, who, ref)
    now = utcnow()
    if body.next_due is not None and body.next_due <= now:
        raise Invalid("next_due", "must be in the future")
    minutes = await cadence_of(session, incident.severity)
    next_due = body.next_due
    if next_due is None and minutes is not None:
        next_due = now + timedelta(minutes=minutes)
    actor = actor_of(who)
    row = IncidentUpdate(
        incident_id=incident.id,
        at=now,
        current_status=body.current_status,
        actions=body.actions,
        next_steps=body.next_steps,
        next_due=next_due,
        cadence_minutes=minutes,
        author_kind=actor.kind,
        author_id=actor.id,
        author_label=actor.label,
    )
    session.add(row)
    await session.flush()
    data: dict[str, Any] = {
        "update_id": row.id,
        "current_status": body.current_status,
        "actions": body.actions,
        "next_steps": body.next_steps,
        "next_due": next_due.isoformat() if next_due else None,
    }
    note(session, incident, actor, "update", body.current_status, data)
    record(session, actor, "incident.bridge.update_posted", incident, None, data)
    if _active(incident):
        await _plan_check(session, incident)
    out = _update_out(row)
    await finish(session, incident, "incident.bridge.updated", next_due=data["next_due"])
    return out


async def set_link(session: AsyncSession, who: Who, ref: str, body: LinkIn) -> BridgeOut:
    require(who, Permission.INCIDENT_WRITE)
    incident = await load(session, who, ref)
    row = await _bridge(session, incident.id)
    before = {"url": row.url}
    row.url = body.url or None
    if before["url"] == row.url:
        return await _bridge_out(session, incident)
    actor = actor_of(who)
    shown = row.url or bridge_url(incident.id)
    note(session, incident, actor, "bridge.link_set", f"Bridge: {shown}", {"url": row.url})
    record(session, actor, "incident.bridge.link_set", incident, before, {"url": row.url})
    await start_timer(session, incident.id)
    await finish(session, incident, "incident.bridge.link_set", url=shown)
    return await get_bridge(session, who, ref)


async def start_timer(session: AsyncSession, incident_id: int) -> None:
    """Plan the check of the first due update of an incident (idempotent)."""
    incident = await session.get(Incident, incident_id)
    if incident is not None and _active(incident):
        await _plan_check(session, incident)


async def check(session: AsyncSession, incident_id: int) -> None:
    """The timer: remind the Incident Commander of a missed update, escalate a second miss,
    and plan the next look. Runs again harmlessly: a reminder is given once per due time."""
    incident = await session.get(Incident, incident_id)
    if incident is None or not _active(incident):
        return  # resolved (or gone): the cadence ends here
    plan = await _plan(session, incident)
    if plan.due is None or plan.cadence is None:
        return
    now = utcnow()
    stage = rules.stage(now, plan.due, plan.cadence)
    row = await _bridge(session, incident.id)
    commander = await _commander(session, incident.id)
    named = commander.email if commander else None
    data: dict[str, Any] = {
        "due": plan.due.isoformat(),
        "cadence_minutes": int(plan.cadence.total_seconds() // 60),
        "incident_commander": named,
    }
    published: str | None = None
    if stage is rules.Stage.ESCALATE and row.escalated_due != plan.due:
        text = f"No update since the one due at {plan.due:%Y-%m-%d %H:%M} UTC, a second miss"
        text += f"; escalated (Incident Commander: {named or 'none assigned'})"
        note(session, incident, TIMER, "update.escalated", text, data)
        record(session, TIMER, "incident.bridge.escalated", incident, None, data)
        row.escalated_due = row.reminded_due = plan.due
        from tocsin.incidents.escalation.service import escalate_bridge_miss

        await escalate_bridge_miss(session, incident, plan.due)
        published = "incident.bridge.escalated"
    elif stage is not rules.Stage.ON_TRACK and row.reminded_due != plan.due:
        whom = f"Incident Commander {named}" if named else "no Incident Commander assigned"
        text = f"Update overdue since {plan.due:%Y-%m-%d %H:%M} UTC; reminder to the {whom}"
        if not named:
            text = f"Update overdue since {plan.due:%Y-%m-%d %H:%M} UTC; {whom}"
        note(session, incident, TIMER, "update.reminder", text, data)
        record(session, TIMER, "incident.bridge.reminded", incident, None, data)
        row.reminded_due = plan.due
        published = "incident.bridge.reminder"
    if row.escalated_due != plan.due:
        await _schedule_check(
            session, incident.id, rules.next_check(now, plan.due, plan.cadence, RECHECK)
        )
    if published is not None:
        await finish(session, incident, published, **data)
