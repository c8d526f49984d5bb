"""Escalation use cases: evaluate an incident against its severity's escalation rules, its
post-mortem trigger and its need for an Incident Commander, notify the targets of each crossed
rule once, and keep a durable timer for the next duration crossing.

The incident core calls `replan` in the transaction of every change that can move a measure
(declaration, edits of severity or impact, milestones, status, roles): an evaluation job due
at once is stored with the change. Each evaluation stores the job of the next exact crossing
(or commander deadline), keyed by that moment, so plans made by different paths meet in one
job, and a process that was down runs it when it starts again.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from tocsin.audit.service import Actor
from tocsin.auth.models import TeamMembership, User
from tocsin.catalog.models import Team
from tocsin.clock import utcnow
from tocsin.errors import NotFound
from tocsin.incidents import kpis, lifecycle, thresholds
from tocsin.incidents.escalation import rules
from tocsin.incidents.escalation.models import IncidentEscalation, IncidentPostmortemFlag
from tocsin.incidents.escalation.schemas import (
    CommanderOut,
    CrossingOut,
    EscalationOut,
    EscalationsOut,
    PostmortemOut,
    RecipientOut,
    RuleOut,
)
from tocsin.incidents.milestones import Milestone
from tocsin.incidents.models import Incident, IncidentRoleAssignment, TimelineEvent
from tocsin.incidents.schemas import StandardRole
from tocsin.incidents.service.common import (
    Who,
    finish,
    load,
    milestone_times,
    note,
    record,
    ref_of,
)
from tocsin.jobs import service as jobs
from tocsin.notifications.message import Notification, Urgency
from tocsin.notifications.service import notify_user
from tocsin.policy import service as policy
from tocsin.policy.schemas import (
    EscalationGroup,
    EscalationMode,
    EscalationTargets,
    SeverityPolicyOut,
)

EVALUATE_KIND = "incident.escalation.evaluate"
SYSTEM = Actor.system("escalation")


# --- planning --------------------------------------------------------------------------------


async def replan(session: AsyncSession, incident_id: int) -> None:
    """Evaluate the incident again as soon as the caller's change is committed."""
    changes = await session.scalar(
        sa.select(sa.func.count(TimelineEvent.id)).where(TimelineEvent.incident_id == incident_id)
    )
    now = utcnow()
    await jobs.enqueue(
        session,
        EVALUATE_KIND,
        {"incident_id": incident_id},
        run_at=now,
        # the change count tells two changes made in the same instant apart
        idempotency_key=f"incident-{incident_id}-escalation-{now.isoformat()}-{changes}",
    )


async def _schedule(session: AsyncSession, incident_id: int, at: datetime) -> None:
    await jobs.enqueue(
        session,
        EVALUATE_KIND,
        {"incident_id": incident_id},
        run_at=at,
        idempotency_key=f"incident-{incident_id}-escalation-at-{at.isoformat()}",
    )


# --- reading the incident --------------------------------------------------------------------


async def _policy(session: AsyncSession, severity: str) -> SeverityPolicyOut | None:
    try:
        return await policy.get_policy(session, severity)
    except NotFound:
        return None


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


def _impact(incident: Incident) -> thresholds.Impact:
    return thresholds.Impact(
        customers_affected=incident.customers_affected,
        revenue_per_hour=incident.revenue_per_hour,
    )


async def _escalated(session: AsyncSession, incident_id: int) -> list[IncidentEscalation]:
    rows = await session.scalars(
        sa.select(IncidentEscalation)
        .where(IncidentEscalation.incident_id == incident_id)
        .order_by(IncidentEscalation.at, IncidentEscalation.id)
    )
    return list(rows.all())


async def _flag(session: AsyncSession, incident_id: int) -> IncidentPostmortemFlag | None:
    return await session.scalar(
        sa.select(IncidentPostmortemFlag).where(IncidentPostmortemFlag.incident_id == incident_id)
    )


# --- notifying -------------------------------------------------------------------------------


async def _members(
    session: AsyncSession, targets: EscalationTargets
) -> tuple[list[User], list[str]]:
    """Active users named by e-mail or by team; and the names that matched nobody."""
    found: dict[int, User] = {}
    unresolved: list[str] = []
    if targets.users:
        users = await session.scalars(
            sa.select(User).where(sa.func.lower(User.email).in_(targets.users))
        )
        by_email = {u.email.lower(): u for u in users if u.is_active}
        for email in targets.users:
            if email in by_email:
                found[by_email[email].id] = by_email[email]
            else:
                unresolved.append(email)
    if targets.teams:
        teams = {
            t.slug: t.id
            for t in await session.scalars(sa.select(Team).where(Team.slug.in_(targets.teams)))
        }
        unresolved.extend(f"team {slug}" for slug in targets.teams if slug not in teams)
        members = await session.scalars(
            sa.select(User)
            .join(TeamMembership, TeamMembership.user_id == User.id)
            .where(TeamMembership.team_id.in_(teams.values()), User.is_active.is_(True))
        )
        for user in members:
            found[user.id] = user
    return sorted(found.values(), key=lambda u: u.id), unresolved


def _message(
    incident: Incident, rule: str, why: str, reasons: list[str], mode: EscalationMode
) -> Notification:
    ref = ref_of(incident.id)
    if incident.visibility == "private":
        # Recipients may not be participants: a private incident's substance stays inside.
        subject = f"{ref} (private) escalated to you"
        body = f"A private incident, {ref}, was escalated to you. Ask its commander for access."
    else:
        subject = f"{ref} escalated: {incident.title}"
        body = f"{incident.severity.upper()} {incident.title}\n{why}"
        if reasons:
            body += "\n" + "\n".join(f"- {r}" for r in reasons)
    return Notification(
        subject=subject,
        body=body,
        urgency=Urgency.HIGH if mode is EscalationMode.PAGE else Urgency.LOW,
        source="incident.escalation",
        dedup_key=f"incident-{incident.id}-escalation-{rule}",
        incident_id=incident.id,
        link=f"/incidents/{ref}",
    )


async def _escalate(
    session: AsyncSession,
    incident: Incident,
    pol: SeverityPolicyOut | None,
    *,
    rule: str,
    kind: str,
    why: str,
    reasons: list[str],
    to: tuple[EscalationGroup, ...],
) -> dict[str, Any]:
    """Notify the groups' people once for this rule, on the timeline and in the audit trail."""
    wanted: list[tuple[int, EscalationGroup, EscalationMode]] = []
    people: dict[int, User] = {}
    unresolved: list[str] = []
    for group in to:
        targets = (
            EscalationTargets()
            if pol is None
            else (
                pol.escalation.technical
                if group is EscalationGroup.TECHNICAL
                else pol.escalation.executive
            )
        )
        members, missing = await _members(session, targets)
        unresolved.extend(m for m in missing if m not in unresolved)
        for user in members:
            people[user.id] = user
            wanted.append((user.id, group, targets.mode))
    recipients: list[dict[str, Any]] = []
    for user_id, (mode, groups) in rules.merge_modes(wanted).items():
        await notify_user(session, user_id, _message(incident, rule, why, reasons, mode))
        recipients.append(
            {
                "email": people[user_id].email,
                "groups": [g.value for g in groups],
                "mode": mode.value,
            }
        )
    now = utcnow()
    session.add(
        IncidentEscalation(
            incident_id=incident.id,
            rule=rule,
            kind=kind,
            at=now,
            severity=incident.severity,
            reasons=reasons,
            recipients=recipients,
            unresolved=unresolved,
        )
    )
    paged = [r["email"] for r in recipients if r["mode"] == "page"]
    told = [r["email"] for r in recipients if r["mode"] == "notify"]
    parts = [
        f"paged {', '.join(paged)}" if paged else "",
        f"notified {', '.join(told)}" if told else "",
    ]
    whom = "; ".join(p for p in parts if p) or "no one (no escalation targets configured)"
    text = f"Escalated to {' and '.join(g.value for g in to)} ({why}): {whom}"
    if unresolved:
        text += f"; not found: {', '.join(unresolved)}"
    data: dict[str, Any] = {
        "rule": rule,
        "kind": kind,
        "why": why,
        "reasons": reasons,
        "to": [g.value for g in to],
        "recipients": recipients,
        "unresolved": unresolved,
    }
    note(session, incident, SYSTEM, "escalated", text, data)
    record(session, SYSTEM, "incident.escalated", incident, None, data)
    await session.flush()
    return data


async def escalate_bridge_miss(session: AsyncSession, incident: Incident, due: datetime) -> None:
    """A second missed bridge update: tell the technical targets (once per due time)."""
    rule = f"bridge-{due.isoformat()}"
    exists = await session.scalar(
        sa.select(IncidentEscalation.id).where(
            IncidentEscalation.incident_id == incident.id, IncidentEscalation.rule == rule
        )
    )
    if exists is not None:
        return
    await _escalate(
        session,
        incident,
        await _policy(session, incident.severity),
        rule=rule,
        kind="bridge",
        why=f"bridge update due {due:%Y-%m-%d %H:%M} UTC missed twice",
        reasons=[],
        to=(EscalationGroup.TECHNICAL,),
    )


# --- the evaluation --------------------------------------------------------------------------


async def evaluate(session: AsyncSession, incident_id: int) -> None:
    """The timer and the reaction to changes: escalate what is newly crossed, flag a required
    post-mortem, and plan the next look. Harmless to run again: each rule escalates once."""
    incident = await session.get(Incident, incident_id)
    if incident is None:
        return
    pol = await _policy(session, incident.severity)
    if pol is None:
        return
    now = utcnow()
    times = await milestone_times(session, incident.id)
    milestones = kpis.Milestones.from_times(times)
    impact = _impact(incident)
    report = thresholds.evaluate(pol, impact, milestones, now)
    active = lifecycle.is_active(lifecycle.Status(incident.status))
    upcoming: list[datetime] = []
    events: list[str] = []

    if await _flag(session, incident.id) is None:
        if report.postmortem.required:
            reasons = list(report.postmortem.reasons)
            session.add(IncidentPostmortemFlag(incident_id=incident.id, at=now, reasons=reasons))
            text = "Post-mortem required: " + "; ".join(reasons)
            note(session, incident, SYSTEM, "postmortem.required", text, {"reasons": reasons})
            record(
                session,
                SYSTEM,
                "incident.postmortem_required",
                incident,
                None,
                {"reasons": reasons},
            )
            events.append("postmortem")
        elif report.postmortem.next_duration_crossing_at is not None:
            upcoming.append(report.postmortem.next_duration_crossing_at)

    if active:
        done = {e.rule for e in await _escalated(session, incident.id)}
        window = thresholds.impact_window(milestones)
        start, end = (window[1], window[2]) if window else (None, None)
        decision = rules.decide(rules.rules_of(pol.escalation), impact, start, end, now, done)
        for due in decision.escalate:
            await _escalate(
                session,
                incident,
                pol,
                rule=due.rule.id,
                kind="threshold",
                why=f"rule {due.rule.id}",
                reasons=list(due.reasons),
                to=due.rule.to,
            )
            events.append(due.rule.id)
        if decision.next_crossing_at is not None:
            upcoming.append(decision.next_crossing_at)

        setting = pol.escalation.missing_commander
        if rules.MISSING_COMMANDER_RULE not in done and rules.commander_required(setting, pol.rank):
            declared = times.get(Milestone.DECLARED) or incident.created_at
            deadline = rules.commander_deadline(declared, setting)
            commander = await _commander(session, incident.id)
            if rules.commander_missing(True, True, commander is not None, deadline, now):
                await _escalate(
                    session,
                    incident,
                    pol,
                    rule=rules.MISSING_COMMANDER_RULE,
                    kind="missing_commander",
                    why=f"no Incident Commander {setting.after_minutes} min after declaration",
                    reasons=[f"no Incident Commander assigned by {deadline:%Y-%m-%d %H:%M} UTC"],
                    to=(EscalationGroup.TECHNICAL,),
                )
                events.append(rules.MISSING_COMMANDER_RULE)
            elif commander is None and deadline > now:
                upcoming.append(deadline)

    if upcoming:
        await _schedule(session, incident.id, min(upcoming))
    if events:
        await finish(session, incident, "incident.escalated", rules=events)


# --- figures ---------------------------------------------------------------------------------


async def get_escalations(session: AsyncSession, who: Who, ref: str) -> EscalationsOut:
    incident = await load(session, who, ref)
    pol = await _policy(session, incident.severity)
    now = utcnow()
    times = await milestone_times(session, incident.id)
    milestones = kpis.Milestones.from_times(times)
    impact = _impact(incident)
    active = lifecycle.is_active(lifecycle.Status(incident.status))
    sent = await _escalated(session, incident.id)
    when_sent = {e.rule: e.at for e in sent}
    flag = await _flag(session, incident.id)
    commander = await _commander(session, incident.id)
    crossed: list[CrossingOut] = []
    rule_rows: list[RuleOut] = []
    next_at: datetime | None = None
    postmortem = PostmortemOut(
        required=flag is not None,
        reasons=list(flag.reasons) if flag else [],
        flagged_at=flag.at if flag else None,
        next_duration_crossing_at=None,
    )
    commander_out = CommanderOut(
        required=False,
        after_minutes=0,
        deadline=None,
        incident_commander=commander.email if commander else None,
        missing=False,
    )
    if pol is not None:
        report = thresholds.evaluate(pol, impact, milestones, now)
        window = thresholds.impact_window(milestones)
        start, end = (window[1], window[2]) if window else (None, None)
        duration = rules.duration_of(start, end, now)
        upcoming: list[datetime] = []
        for rule in rules.rules_of(pol.escalation):
            hits = thresholds.crossings(rule.when, impact, duration)
            crossed.extend(
                CrossingOut(
                    rule=rule.id,
                    measure=c.measure.value,
                    value=str(c.value),
                    threshold=str(c.threshold),
                    reason=c.reason,
                )
                for c in hits
            )
            moment = rules.crossing_at(rule, start)
            pending = moment if (moment and end is None and moment > now and not hits) else None
            if pending and active and rule.id not in when_sent:
                upcoming.append(pending)
            rule_rows.append(
                RuleOut(
                    id=rule.id,
                    to=[g.value for g in rule.to],
                    when=rule.when.model_dump(exclude_none=True),
                    crossed=bool(hits),
                    escalated_at=when_sent.get(rule.id),
                    next_crossing_at=pending,
                )
            )
        if flag is None and report.postmortem.required:
            # crossed since the last evaluation ran: shown at once, stored by the evaluation
            postmortem = PostmortemOut(
                required=True,
                reasons=list(report.postmortem.reasons),
                flagged_at=None,
                next_duration_crossing_at=None,
            )
        elif flag is None:
            postmortem.next_duration_crossing_at = report.postmortem.next_duration_crossing_at
        setting = pol.escalation.missing_commander
        required = rules.commander_required(setting, pol.rank)
        declared = times.get(Milestone.DECLARED) or incident.created_at
        deadline = rules.commander_deadline(declared, setting) if required else None
        missing = deadline is not None and rules.commander_missing(
            required, active, commander is not None, deadline, now
        )
        waiting = deadline is not None and active and commander is None and deadline > now
        if waiting and deadline and rules.MISSING_COMMANDER_RULE not in when_sent:
            upcoming.append(deadline)
        commander_out = CommanderOut(
            required=required,
            after_minutes=setting.after_minutes,
            deadline=deadline,
            incident_commander=commander.email if commander else None,
            missing=missing,
        )
        next_at = min(upcoming, default=None)
    return EscalationsOut(
        ref=ref_of(incident.id),
        severity=incident.severity,
        active=active,
        crossed=crossed,
        rules=rule_rows,
        escalations=[
            EscalationOut(
                rule=e.rule,
                kind=e.kind,
                at=e.at,
                severity=e.severity,
                reasons=list(e.reasons),
                recipients=[RecipientOut.model_validate(r) for r in e.recipients],
                unresolved=list(e.unresolved),
            )
            for e in sent
        ],
        next_crossing_at=next_at,
        postmortem=postmortem,
        commander=commander_out,
    )
