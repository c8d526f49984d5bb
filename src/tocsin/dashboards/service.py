"""Reading the dashboards: every active incident in a fixed number of queries.

The boards are re-read on every live event by every open screen, so nothing here runs a query
per incident: each table is read once for all the incidents on the board and folded in memory.
Visibility is the incident core's own rule (`visible_clause`), so the board shows exactly the
incidents the same person could open; the stakeholder screen drops private incidents for
everyone, admins included, because it is meant to be shown on a shared screen.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from tocsin.auth.models import User
from tocsin.catalog.models import CustomerTier
from tocsin.clock import utcnow
from tocsin.dashboards import projection
from tocsin.dashboards.schemas import (
    ClockOut,
    CommandCard,
    CommandView,
    RoleHolder,
    StakeholderCard,
    StakeholderView,
    TaskBrief,
    TimelineBrief,
)
from tocsin.incidents import kpis, slas, visibility
from tocsin.incidents.bridge import cadence
from tocsin.incidents.bridge.models import IncidentUpdate
from tocsin.incidents.coordination.models import IncidentTask
from tocsin.incidents.lifecycle import ACTIVE
from tocsin.incidents.milestones import Milestone
from tocsin.incidents.models import (
    Incident,
    IncidentMilestone,
    IncidentRoleAssignment,
    TimelineEvent,
)
from tocsin.incidents.service.common import Who, ref_of
from tocsin.incidents.service.views import affected, role_label
from tocsin.policy import service as policy
from tocsin.policy.schemas import KpiTargets

RECENT = 3
"""timeline entries per card"""
TASKS_SHOWN = 5
BOARD_LIMIT = 500
"""more active incidents than this is a disaster no board helps with; the oldest are dropped"""

_ACTIVE = [s.value for s in ACTIVE]
_TASK_DONE = "done"


@dataclass(frozen=True)
class _Severity:
    name: str
    rank: int
    cadence_minutes: int | None
    targets: KpiTargets


async def _severities(session: AsyncSession) -> dict[str, _Severity]:
    policies = {p.severity: p for p in await policy.list_policies(session)}
    found: dict[str, _Severity] = {}
    for severity in await policy.list_severities(session):
        stored = policies.get(severity.slug)
        expectations = (
            [(c.group, c.cadence_minutes) for c in stored.communications] if stored else []
        )
        found[severity.slug] = _Severity(
            name=severity.name,
            rank=severity.rank,
            cadence_minutes=cadence.cadence_minutes(severity.slug, expectations),
            targets=stored.kpi_targets if stored else KpiTargets(),
        )
    return found


def _unknown(slug: str) -> _Severity:
    return _Severity(slug, projection.UNRANKED, cadence.cadence_minutes(slug, []), KpiTargets())


async def _active_incidents(session: AsyncSession, where: sa.ColumnElement[bool]) -> list[Incident]:
    rows = await session.scalars(
        sa.select(Incident)
        .where(Incident.status.in_(_ACTIVE), where)
        .order_by(Incident.id.desc())
        .limit(BOARD_LIMIT)
    )
    return list(rows.all())


async def _last_updates(
    session: AsyncSession, ids: list[int]
) -> dict[int, tuple[datetime, datetime | None]]:
    """Per incident: when the latest bridge update was posted and what it promised."""
    ranked = (
        sa.select(
            IncidentUpdate.incident_id,
            IncidentUpdate.at,
            IncidentUpdate.next_due,
            sa.func.row_number()
            .over(
                partition_by=IncidentUpdate.incident_id,
                order_by=(IncidentUpdate.at.desc(), IncidentUpdate.id.desc()),
            )
            .label("n"),
        )
        .where(IncidentUpdate.incident_id.in_(ids))
        .subquery()
    )
    rows = await session.execute(
        sa.select(ranked.c.incident_id, ranked.c.at, ranked.c.next_due).where(ranked.c.n == 1)
    )
    return {incident_id: (at, promised) for incident_id, at, promised in rows}


async def _milestones(
    session: AsyncSession, ids: list[int]
) -> dict[int, dict[Milestone, datetime]]:
    found: dict[int, dict[Milestone, datetime]] = defaultdict(dict)
    rows = await session.execute(
        sa.select(
            IncidentMilestone.incident_id, IncidentMilestone.name, IncidentMilestone.at
        ).where(IncidentMilestone.incident_id.in_(ids))
    )
    for incident_id, name, at in rows:
        found[incident_id][Milestone(name)] = at
    return found


async def _roles(session: AsyncSession, ids: list[int]) -> dict[int, list[RoleHolder]]:
    found: dict[int, list[RoleHolder]] = defaultdict(list)
    rows = await session.execute(
        sa.select(IncidentRoleAssignment.incident_id, IncidentRoleAssignment.role, User)
        .join(User, User.id == IncidentRoleAssignment.user_id)
        .where(
            IncidentRoleAssignment.incident_id.in_(ids),
            IncidentRoleAssignment.ended_at.is_(None),
        )
        .order_by(IncidentRoleAssignment.assigned_at, IncidentRoleAssignment.id)
    )
    for incident_id, role, user in rows:
        found[incident_id].append(
            RoleHolder(role=role, label=role_label(role), email=user.email, name=user.name or "")
        )
    return found


async def _tasks(session: AsyncSession, ids: list[int]) -> dict[int, list[TaskBrief]]:
    """Open tasks, most urgent first (priority, then due time; undated last)."""
    rows = await session.execute(
        sa.select(IncidentTask, User.email)
        .outerjoin(User, User.id == IncidentTask.owner_id)
        .where(IncidentTask.incident_id.in_(ids), IncidentTask.status != _TASK_DONE)
    )
    found: dict[int, list[TaskBrief]] = defaultdict(list)
    for task, email in rows:
        found[task.incident_id].append(
            TaskBrief(
                id=task.id,
                title=task.title,
                priority=task.priority,
                status=task.status,
                team=task.team_slug,
                owner=email,
                due_at=task.due_at,
            )
        )
    far = datetime.max.replace(tzinfo=utcnow().tzinfo)
    for tasks in found.values():
        tasks.sort(key=lambda t: (t.priority, t.due_at or far, t.id))
    return found


async def _recent(session: AsyncSession, ids: list[int]) -> dict[int, list[TimelineBrief]]:
    ranked = (
        sa.select(
            TimelineEvent.incident_id,
            TimelineEvent.at,
            TimelineEvent.kind,
            TimelineEvent.text,
            TimelineEvent.actor_label,
            sa.func.row_number()
            .over(
                partition_by=TimelineEvent.incident_id,
                order_by=(TimelineEvent.at.desc(), TimelineEvent.id.desc()),
            )
            .label("n"),
        )
        .where(TimelineEvent.incident_id.in_(ids))
        .subquery()
    )
    rows = await session.execute(
        sa.select(
            ranked.c.incident_id, ranked.c.at, ranked.c.kind, ranked.c.text, ranked.c.actor_label
        )
        .where(ranked.c.n <= RECENT)
        .order_by(ranked.c.incident_id, ranked.c.n)
    )
    found: dict[int, list[TimelineBrief]] = defaultdict(list)
    for incident_id, at, kind, text, actor in rows:
        found[incident_id].append(TimelineBrief(at=at, kind=kind, text=text, actor=actor))
    return found


async def _tier_slas(session: AsyncSession, slugs: set[str]) -> dict[str, dict[str, Any]]:
    if not slugs:
        return {}
    rows = await session.execute(
        sa.select(CustomerTier.slug, CustomerTier.sla).where(CustomerTier.slug.in_(slugs))
    )
    return {slug: sla or {} for slug, sla in rows}


def _seconds(delta: timedelta | None) -> int | None:
    return None if delta is None else int(delta.total_seconds())


def _clocks(
    times: dict[Milestone, datetime],
    severity: str,
    targets: KpiTargets,
    tiers: list[str],
    tier_slas: dict[str, dict[str, Any]],
    now: datetime,
) -> list[ClockOut]:
    """The clocks still worth watching: KPIs still running or already breached, and each
    affected tier's response and resolution SLA."""
    marks = kpis.Milestones.from_times(times)
    clocks: list[ClockOut] = []
    for figure in kpis.figures(marks, targets, now):
        if figure.status.value not in {"running", "breached"} or figure.target is None:
            continue
        clocks.append(
            ClockOut(
                name=figure.kpi.value.replace("_", " "),
                kind="kpi",
                status=figure.status.value,
                deadline=figure.deadline,
                time_left_seconds=_seconds(figure.time_left),
                overrun_seconds=_seconds(figure.overrun),
            )
        )
    for tier in tiers:
        sla = tier_slas.get(tier, {})
        for label, milestone, key in (
            ("response", Milestone.ACKNOWLEDGED, "response_minutes"),
            ("resolution", Milestone.RESOLVED, "resolution_minutes"),
        ):
            budget = (sla.get(key) or {}).get(severity)
            clock = slas.sla_clock(milestone, budget, marks, now)
            if clock.status in {slas.SlaStatus.NOT_COVERED, slas.SlaStatus.UNMEASURED}:
                continue
            clocks.append(
                ClockOut(
                    name=f"{tier}: {label} SLA",
                    kind="sla",
                    status=clock.status.value,
                    deadline=clock.deadline,
                    time_left_seconds=_seconds(clock.time_left),
                    overrun_seconds=_seconds(clock.overrun),
                )
            )
    return clocks


def _due(
    incident: Incident, last: tuple[datetime, datetime | None] | None, severity: _Severity
) -> datetime | None:
    minutes = severity.cadence_minutes
    return cadence.next_due(
        incident.created_at,
        last[0] if last else None,
        last[1] if last else None,
        None if minutes is None else timedelta(minutes=minutes),
    )


async def command_view(session: AsyncSession, who: Who) -> CommandView:
    """Every active incident `who` may see, most urgent first."""
    now = utcnow()
    incidents = await _active_incidents(session, visibility.visible_clause(who))
    ids = [i.id for i in incidents]
    severities = await _severities(session)
    sets = await affected(session, ids)
    updates = await _last_updates(session, ids)
    times = await _milestones(session, ids)
    roles = await _roles(session, ids)
    tasks = await _tasks(session, ids)
    recent = await _recent(session, ids)
    tier_slas = await _tier_slas(session, {t for i in ids for t in sets[i]["customer_tier"]})
    cards: list[tuple[tuple[int, int, int, datetime], CommandCard]] = []
    for incident in incidents:
        severity = severities.get(incident.severity) or _unknown(incident.severity)
        held = roles.get(incident.id, [])
        missing = projection.missing_roles({r.role for r in held}, severity.rank)
        due = _due(incident, updates.get(incident.id), severity)
        state = projection.update_state(now, due)
        clocks = _clocks(
            times.get(incident.id, {}),
            incident.severity,
            severity.targets,
            sets[incident.id]["customer_tier"],
            tier_slas,
            now,
        )
        open_tasks = tasks.get(incident.id, [])
        card = CommandCard(
            id=incident.id,
            ref=ref_of(incident.id),
            title=incident.title,
            severity=incident.severity,
            severity_name=severity.name,
            status=incident.status,
            visibility=incident.visibility,
            opened_at=incident.created_at,
            age_seconds=projection.age_seconds(now, incident.created_at),
            services=sets[incident.id]["service"],
            roles=held,
            missing_roles=missing,
            next_update_due=due,
            update_state=state.value,
            overdue_by_seconds=(
                _seconds(now - due) if due and state is projection.UpdateState.OVERDUE else None
            ),
            clocks=clocks,
            worst_clock=projection.worst_clock(c.status for c in clocks),
            open_tasks=len(open_tasks),
            tasks=open_tasks[:TASKS_SHOWN],
            recent=recent.get(incident.id, []),
        )
        urgency = projection.Urgency(
            severity.rank,
            state is projection.UpdateState.OVERDUE,
            projection.COMMANDER in missing,
            incident.created_at,
        )
        cards.append((urgency.key(), card))
    cards.sort(key=lambda pair: pair[0])
    shown = [card for _, card in cards]
    return CommandView(
        generated_at=now,
        incidents=shown,
        without_commander=sum(projection.COMMANDER in c.missing_roles for c in shown),
        overdue_updates=sum(c.update_state == projection.UpdateState.OVERDUE for c in shown),
    )


async def stakeholder_view(session: AsyncSession) -> StakeholderView:
    """Active public incidents in business terms, the same for everyone who looks."""
    now = utcnow()
    incidents = [
        i
        for i in await _active_incidents(session, Incident.visibility != "private")
        if projection.shown_on_stakeholder_screen(i.visibility, active=True)
    ]
    ids = [i.id for i in incidents]
    severities = await _severities(session)
    sets = await affected(session, ids)
    updates = await _last_updates(session, ids)
    cards: list[tuple[tuple[int, datetime], StakeholderCard]] = []
    for incident in incidents:
        severity = severities.get(incident.severity) or _unknown(incident.severity)
        values: dict[str, object] = {
            "ref": ref_of(incident.id),
            "title": incident.title,
            "severity": incident.severity,
            "severity_name": severity.name,
            "status": incident.status,
            "plain_status": projection.plain_status(incident.status),
            "opened_at": incident.created_at,
            "customers": sets[incident.id]["customer"],
            "customer_tiers": sets[incident.id]["customer_tier"],
            "business_units": sets[incident.id]["business_unit"],
            "customers_affected": incident.customers_affected,
            "regulatory": incident.regulatory,
            "next_update_due": _due(incident, updates.get(incident.id), severity),
        }
        card = StakeholderCard.model_validate(projection.stakeholder_card(values))
        cards.append(((severity.rank, incident.created_at), card))
    cards.sort(key=lambda pair: pair[0])
    return StakeholderView(generated_at=now, incidents=[card for _, card in cards])
