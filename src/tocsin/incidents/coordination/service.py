"""Coordination use cases. Every write lands on the timeline and in the audit trail, and is
published after commit, through the incident core's helpers (which also keep private
incidents invisible to non-participants).

Permissions: workstreams, tasks, conflicts and decisions all need incident:write — they
direct the response, unlike notes (incident:note), which only record what people observe.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from tocsin.audit.snapshot import snapshot
from tocsin.auth.models import User
from tocsin.auth.permissions import Permission
from tocsin.auth.principal import Principal
from tocsin.catalog import service as catalog
from tocsin.clock import utcnow
from tocsin.errors import Conflict, Invalid, NotFound
from tocsin.incidents.coordination import conflicts as rules
from tocsin.incidents.coordination.models import (
    IncidentDecision,
    IncidentTask,
    IncidentTaskConflict,
    IncidentWorkstream,
)
from tocsin.incidents.coordination.schemas import (
    ConflictOut,
    ConflictRaise,
    DecisionCreate,
    DecisionOut,
    DissentOut,
    TaskCreate,
    TaskOut,
    TaskPatch,
    WorkstreamCreate,
    WorkstreamOut,
    WorkstreamPatch,
)
from tocsin.incidents.models import Incident
from tocsin.incidents.service.common import (
    Who,
    actor_of,
    find_user,
    finish,
    load,
    note,
    record,
    require,
)


async def _emails(session: AsyncSession, ids: set[int | None]) -> dict[int, str]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    rows = await session.execute(sa.select(User.id, User.email).where(User.id.in_(wanted)))
    return {row.id: row.email for row in rows}


async def _team(session: AsyncSession, slug: str) -> str:
    try:
        await catalog.team_id(session, slug)
    except NotFound:
        raise Invalid("team", f"there is no team {slug!r}") from None
    return slug


def _task_out(task: IncidentTask, emails: dict[int, str]) -> TaskOut:
    return TaskOut(
        id=task.id,
        title=task.title,
        team=task.team_slug,
        priority=task.priority,
        owner=emails.get(task.owner_id) if task.owner_id is not None else None,
        due_at=task.due_at,
        status=task.status,
        workstream_id=task.workstream_id,
        created_at=task.created_at,
        updated_at=task.updated_at,
    )


def _workstream_out(stream: IncidentWorkstream, emails: dict[int, str]) -> WorkstreamOut:
    return WorkstreamOut(
        id=stream.id,
        team=stream.team_slug,
        goal=stream.goal,
        lead=emails.get(stream.lead_id) if stream.lead_id is not None else None,
        status=stream.status,
        created_at=stream.created_at,
    )


def _decision_out(decision: IncidentDecision) -> DecisionOut:
    return DecisionOut(
        id=decision.id,
        decision=decision.decision,
        options=list(decision.options),
        rationale=decision.rationale,
        decided_by=decision.decided_by,
        dissent=[DissentOut(who=d["who"], note=d.get("note", "")) for d in decision.dissent],
        task_ids=[int(t) for t in decision.task_ids],
        at=decision.at,
    )


# --- workstreams ------------------------------------------------------------------------------


async def list_workstreams(session: AsyncSession, who: Who, ref: str) -> list[WorkstreamOut]:
    incident = await load(session, who, ref)
    rows = list(
        (
            await session.scalars(
                sa.select(IncidentWorkstream)
                .where(IncidentWorkstream.incident_id == incident.id)
                .order_by(IncidentWorkstream.id)
            )
        ).all()
    )
    emails = await _emails(session, {r.lead_id for r in rows})
    return [_workstream_out(r, emails) for r in rows]


async def _workstream(
    session: AsyncSession, incident: Incident, stream_id: int
) -> IncidentWorkstream:
    stream = await session.get(IncidentWorkstream, stream_id)
    if stream is None or stream.incident_id != incident.id:
        raise NotFound("workstream", str(stream_id))
    return stream


async def create_workstream(
    session: AsyncSession, who: Who, ref: str, body: WorkstreamCreate
) -> WorkstreamOut:
    require(who, Permission.INCIDENT_WRITE)
    incident = await load(session, who, ref)
    team = await _team(session, body.team)
    lead = await find_user(session, body.lead, "lead") if body.lead else None
    stream = IncidentWorkstream(
        incident_id=incident.id,
        team_slug=team,
        goal=body.goal,
        lead_id=lead.id if lead else None,
        status="active",
    )
    session.add(stream)
    await session.flush()
    actor = actor_of(who)
    note(
        session,
        incident,
        actor,
        "workstream_opened",
        f"{team}: {body.goal}",
        {"workstream": stream.id},
    )
    record(session, actor, "incident.workstream.create", incident, None, snapshot(stream))
    out = _workstream_out(stream, {lead.id: lead.email} if lead else {})
    await finish(session, incident, "incident.workstream", workstream=stream.id)
    return out


async def update_workstream(
    session: AsyncSession, who: Who, ref: str, stream_id: int, body: WorkstreamPatch
) -> WorkstreamOut:
    require(who, Permission.INCIDENT_WRITE)
    incident = await load(session, who, ref)
    stream = await _workstream(session, incident, stream_id)
    before = snapshot(stream)
    if body.lead is not None:
        stream.lead_id = (await find_user(session, body.lead, "lead")).id
    if body.goal is not None:
        stream.goal = body.goal
    if body.status is not None:
        stream.status = body.status
    await session.flush()
    after = snapshot(stream)
    actor = actor_of(who)
    note(
        session,
        incident,
        actor,
        "workstream_changed",
        f"{stream.team_slug}: {stream.status}",
        {"workstream": stream.id},
    )
    record(session, actor, "incident.workstream.update", incident, before, after)
    out = _workstream_out(stream, await _emails(session, {stream.lead_id}))
    await finish(session, incident, "incident.workstream", workstream=stream.id)
    return out


# --- tasks ------------------------------------------------------------------------------------


async def list_tasks(
    session: AsyncSession,
    who: Who,
    ref: str,
    *,
    status: str | None = None,
    team: str | None = None,
    owner: str | None = None,
    priority: str | None = None,
    workstream_id: int | None = None,
) -> list[TaskOut]:
    """Most urgent first: by priority, then due time (undated last)."""
    incident = await load(session, who, ref)
    stmt = sa.select(IncidentTask).where(IncidentTask.incident_id == incident.id)
    if status is not None:
        stmt = stmt.where(IncidentTask.status == status)
    if team is not None:
        stmt = stmt.where(IncidentTask.team_slug == team)
    if priority is not None:
        stmt = stmt.where(IncidentTask.priority == priority)
    if workstream_id is not None:
        stmt = stmt.where(IncidentTask.workstream_id == workstream_id)
    if owner is not None:
        stmt = stmt.join(User, User.id == IncidentTask.owner_id).where(
            sa.func.lower(User.email) == owner.lower()
        )
    rows = list((await session.scalars(stmt)).all())
    far = datetime.max.replace(tzinfo=utcnow().tzinfo)
    rows.sort(key=lambda t: (t.priority, t.due_at or far, t.id))
    emails = await _emails(session, {t.owner_id for t in rows})
    return [_task_out(t, emails) for t in rows]


async def _task(
    session: AsyncSession, incident: Incident, task_id: int, field: str | None = None
) -> IncidentTask:
    task = await session.get(IncidentTask, task_id)
    if task is None or task.incident_id != incident.id:
        if field is not None:
            raise Invalid(field, f"this incident has no task {task_id}")
        raise NotFound("task", str(task_id))
    return task


async def create_task(session: AsyncSession, who: Who, ref: str, body: TaskCreate) -> TaskOut:
    require(who, Permission.INCIDENT_WRITE)
    incident = await load(session, who, ref)
    team = await _team(session, body.team)
    owner = await find_user(session, body.owner, "owner") if body.owner else None
    if body.workstream_id is not None:
        stream = await session.get(IncidentWorkstream, body.workstream_id)
        if stream is None or stream.incident_id != incident.id:
            raise Invalid("workstream_id", f"this incident has no workstream {body.workstream_id}")
    task = IncidentTask(
        incident_id=incident.id,
        workstream_id=body.workstream_id,
        title=body.title,
        owner_id=owner.id if owner else None,
        team_slug=team,
        priority=body.priority,
        due_at=body.due_at,
        status="open",
    )
    session.add(task)
    await session.flush()
    actor = actor_of(who)
    note(
        session,
        incident,
        actor,
        "task_created",
        f"[{task.priority}] {task.title} ({team})",
        {"task": task.id},
    )
    record(session, actor, "incident.task.create", incident, None, snapshot(task))
    out = _task_out(task, {owner.id: owner.email} if owner else {})
    await finish(session, incident, "incident.task", task=task.id)
    return out


async def update_task(
    session: AsyncSession, who: Who, ref: str, task_id: int, body: TaskPatch
) -> TaskOut:
    require(who, Permission.INCIDENT_WRITE)
    incident = await load(session, who, ref)
    task = await _task(session, incident, task_id)
    before = snapshot(task)
    if body.owner is not None:
        task.owner_id = (await find_user(session, body.owner, "owner")).id
    if body.status is not None:
        task.status = body.status
    if body.priority is not None:
        task.priority = body.priority
    if "due_at" in body.model_fields_set:
        task.due_at = body.due_at
    await session.flush()
    after = snapshot(task)
    changed = {k: after[k] for k in after if before.get(k) != after[k] and k != "updated_at"}
    actor = actor_of(who)
    note(
        session,
        incident,
        actor,
        "task_changed",
        f"{task.title}: {task.status}",
        {"task": task.id, "changed": changed},
    )
    record(session, actor, "incident.task.update", incident, before, after)
    out = _task_out(task, await _emails(session, {task.owner_id}))
    await finish(session, incident, "incident.task", task=task.id)
    return out


# --- conflicts --------------------------------------------------------------------------------


def _rule_view(c: IncidentTaskConflict) -> rules.Conflict:
    return rules.Conflict(c.id, c.task_id, c.other_task_id, c.decision_id)


async def _conflict_rows(session: AsyncSession, incident_id: int) -> list[IncidentTaskConflict]:
    return list(
        (
            await session.scalars(
                sa.select(IncidentTaskConflict)
                .where(IncidentTaskConflict.incident_id == incident_id)
                .order_by(IncidentTaskConflict.id)
            )
        ).all()
    )


async def _conflict_outs(
    session: AsyncSession, rows: list[IncidentTaskConflict]
) -> list[ConflictOut]:
    tasks = {
        t.id: t
        for t in await session.scalars(
            sa.select(IncidentTask).where(
                IncidentTask.id.in_({r.task_id for r in rows} | {r.other_task_id for r in rows})
            )
        )
    }
    emails = await _emails(session, {t.owner_id for t in tasks.values()})
    return [
        ConflictOut(
            id=r.id,
            task=_task_out(tasks[r.task_id], emails),
            other_task=_task_out(tasks[r.other_task_id], emails),
            note=r.note,
            raised_by=r.raised_by,
            raised_at=r.raised_at,
            decision_id=r.decision_id,
        )
        for r in rows
    ]


async def list_conflicts(
    session: AsyncSession, who: Who, ref: str, *, open_only: bool = True
) -> list[ConflictOut]:
    incident = await load(session, who, ref)
    rows = await _conflict_rows(session, incident.id)
    if open_only:
        decided = set(
            (
                await session.scalars(
                    sa.select(IncidentDecision.id).where(
                        IncidentDecision.incident_id == incident.id
                    )
                )
            ).all()
        )
        still_open = {c.id for c in rules.open_conflicts(map(_rule_view, rows), decided)}
        rows = [r for r in rows if r.id in still_open]
    return await _conflict_outs(session, rows)


async def raise_conflict(
    session: AsyncSession, who: Who, ref: str, task_id: int, body: ConflictRaise
) -> ConflictOut:
    """Mark two tasks as pulling against each other; the commander must then decide."""
    require(who, Permission.INCIDENT_WRITE)
    incident = await load(session, who, ref)
    task = await _task(session, incident, task_id)
    other = await _task(session, incident, body.other_task_id, "other_task_id")
    rows = await _conflict_rows(session, incident.id)
    refusal = rules.refusal(task.id, other.id, map(_rule_view, rows))
    if refusal is not None:
        if task.id == other.id:
            raise Invalid("other_task_id", refusal)
        raise Conflict(refusal)
    actor = actor_of(who)
    conflict = IncidentTaskConflict(
        incident_id=incident.id,
        task_id=task.id,
        other_task_id=other.id,
        note=body.note,
        raised_by=actor.label,
        raised_at=utcnow(),
    )
    session.add(conflict)
    await session.flush()
    text = f"Conflict: {task.title} ⟷ {other.title}" + (f" ({body.note})" if body.note else "")
    note(
        session,
        incident,
        actor,
        "task_conflict_raised",
        text,
        {"conflict": conflict.id, "tasks": [task.id, other.id]},
    )
    record(session, actor, "incident.conflict.raise", incident, None, snapshot(conflict))
    out = (await _conflict_outs(session, [conflict]))[0]
    await finish(session, incident, "incident.conflict", conflict=conflict.id, open=True)
    return out


# --- decisions --------------------------------------------------------------------------------


async def list_decisions(session: AsyncSession, who: Who, ref: str) -> list[DecisionOut]:
    incident = await load(session, who, ref)
    rows = await session.scalars(
        sa.select(IncidentDecision)
        .where(IncidentDecision.incident_id == incident.id)
        .order_by(IncidentDecision.at, IncidentDecision.id)
    )
    return [_decision_out(d) for d in rows]


def _decision(
    incident: Incident, who: Who, body: DecisionCreate, task_ids: list[int]
) -> IncidentDecision:
    actor = actor_of(who)
    return IncidentDecision(
        incident_id=incident.id,
        decision=body.decision,
        options=list(body.options),
        rationale=body.rationale,
        decided_by_id=who.user_id if isinstance(who, Principal) else None,
        decided_by=actor.label,
        dissent=[d.model_dump() for d in body.dissent],
        task_ids=task_ids,
        at=utcnow(),
    )


async def _log_decision(
    session: AsyncSession, incident: Incident, who: Who, decision: IncidentDecision
) -> dict[str, Any]:
    session.add(decision)
    await session.flush()
    actor = actor_of(who)
    after = snapshot(decision)
    note(
        session,
        incident,
        actor,
        "decision",
        decision.decision,
        {"decision": decision.id, "tasks": decision.task_ids},
    )
    record(session, actor, "incident.decision.create", incident, None, after)
    return after


async def create_decision(
    session: AsyncSession, who: Who, ref: str, body: DecisionCreate
) -> DecisionOut:
    require(who, Permission.INCIDENT_WRITE)
    incident = await load(session, who, ref)
    decision = _decision(incident, who, body, [])
    await _log_decision(session, incident, who, decision)
    out = _decision_out(decision)
    await finish(session, incident, "incident.decision", decision=decision.id)
    return out


async def resolve_conflict(
    session: AsyncSession, who: Who, ref: str, conflict_id: int, body: DecisionCreate
) -> DecisionOut:
    """The commander's answer: a decision naming both tasks, which closes the conflict."""
    require(who, Permission.INCIDENT_WRITE)
    incident = await load(session, who, ref)
    conflict = await session.get(IncidentTaskConflict, conflict_id)
    if conflict is None or conflict.incident_id != incident.id:
        raise NotFound("conflict", str(conflict_id))
    if conflict.decision_id is not None:
        raise Conflict(
            f"conflict {conflict_id} was already settled by decision {conflict.decision_id}"
        )
    before = snapshot(conflict)
    decision = _decision(incident, who, body, [conflict.task_id, conflict.other_task_id])
    await _log_decision(session, incident, who, decision)
    conflict.decision_id = decision.id
    await session.flush()
    actor = actor_of(who)
    note(
        session,
        incident,
        actor,
        "task_conflict_resolved",
        body.decision,
        {"conflict": conflict.id, "decision": decision.id},
    )
    record(session, actor, "incident.conflict.resolve", incident, before, snapshot(conflict))
    out = _decision_out(decision)
    await finish(
        session,
        incident,
        "incident.conflict",
        conflict=conflict.id,
        open=False,
        decision=decision.id,
    )
    return out
