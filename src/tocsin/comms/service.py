"""Communications use cases: structured updates, audience templates and previews, the
draft → approved → published flow of messages, and per-group update cadence.

Every use case that changes state commits its audit entry (and, when something goes out, its
comms log entry and its timer jobs) in the same transaction.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from tocsin.audit import service as audit
from tocsin.audit.service import Actor
from tocsin.auth.models import User
from tocsin.auth.permissions import Permission
from tocsin.auth.principal import Principal
from tocsin.clock import utcnow
from tocsin.comms import delivery, log, stakeholders
from tocsin.comms import templates as tpl
from tocsin.comms.models import CommsCadence, CommsMessage, CommsTemplate, CommsUpdate
from tocsin.comms.schemas import (
    GroupCadence,
    MessageEdit,
    MessageIn,
    MessageOut,
    PreviewIn,
    Rendering,
    TemplateOut,
    TemplatePreviewOut,
    UpdateIn,
    UpdateOut,
)
from tocsin.comms.templates import Audience
from tocsin.config import get_settings
from tocsin.errors import Conflict, Invalid, NotFound, ProblemError
from tocsin.incidents import lifecycle
from tocsin.incidents.bridge import cadence as rules
from tocsin.incidents.models import Incident, IncidentRoleAssignment
from tocsin.incidents.schemas import StandardRole
from tocsin.incidents.service.common import Who, actor_of, load, note, ref_of, require
from tocsin.jobs import service as jobs
from tocsin.notifications.message import Notification, Urgency
from tocsin.notifications.service import notify_user
from tocsin.policy import service as policy

CHECK_KIND = "comms.cadence.check"
RECHECK = timedelta(minutes=15)
TIMER = Actor.system("comms cadence")


def _user_id(who: Who) -> int | None:
    return who.user_id if isinstance(who, Principal) else who.id


# --- updates and templates -------------------------------------------------------------------


def _update_out(row: CommsUpdate) -> UpdateOut:
    return UpdateOut(
        id=row.id,
        technical_details=row.technical_details,
        customers_affected=row.customers_affected,
        customer_experience=row.customer_experience,
        workaround=row.workaround,
        next_update_at=row.next_update_at,
        created_at=row.created_at,
        author=row.author_label,
    )


def _values(incident: Incident, body: UpdateIn | CommsUpdate) -> dict[str, str]:
    nxt = body.next_update_at
    return {
        "ref": ref_of(incident.id),
        "title": incident.title,
        "severity": incident.severity,
        "status": incident.status,
        "technical_details": body.technical_details,
        "customers_affected": body.customers_affected,
        "customer_experience": body.customer_experience,
        "workaround": body.workaround,
        "next_update": f"{nxt:%Y-%m-%d %H:%M} UTC" if nxt else "",
    }


async def add_update(session: AsyncSession, who: Who, ref: str, body: UpdateIn) -> UpdateOut:
    require(who, Permission.COMMS_WRITE)
    incident = await load(session, who, ref)
    if body.next_update_at is not None and body.next_update_at <= utcnow():
        raise Invalid("next_update_at", "must be in the future")
    actor = actor_of(who)
    row = CommsUpdate(
        incident_id=incident.id,
        technical_details=body.technical_details,
        customers_affected=body.customers_affected,
        customer_experience=body.customer_experience,
        workaround=body.workaround,
        next_update_at=body.next_update_at,
        created_at=utcnow(),
        author_id=actor.id,
        author_label=actor.label,
    )
    session.add(row)
    await session.flush()
    audit.record(
        session,
        actor,
        "comms.update_written",
        "incident",
        ref_of(incident.id),
        after={"update_id": row.id},
    )
    note(session, incident, actor, "comms.update", "Stakeholder update written", {"id": row.id})
    await stakeholders.evaluate_briefs(session, incident, actor)
    await start_timer(session, incident)
    out = _update_out(row)
    await session.commit()
    return out


async def list_updates(session: AsyncSession, who: Who, ref: str) -> list[UpdateOut]:
    incident = await load(session, who, ref)
    rows = await session.scalars(
        sa.select(CommsUpdate)
        .where(CommsUpdate.incident_id == incident.id)
        .order_by(CommsUpdate.id.desc())
    )
    return [_update_out(r) for r in rows]


async def current_template(
    session: AsyncSession, audience: Audience, severity: str
) -> tuple[int, str]:
    """The newest version for the severity, else for every severity, else the default."""
    for sev in (severity, ""):
        row = await session.scalar(
            sa.select(CommsTemplate)
            .where(CommsTemplate.audience == audience.value, CommsTemplate.severity == sev)
            .order_by(CommsTemplate.version.desc())
            .limit(1)
        )
        if row is not None:
            return row.version, row.body
    return 0, tpl.DEFAULTS[audience]


def _template_out(row: CommsTemplate) -> TemplateOut:
    return TemplateOut(
        audience=Audience(row.audience),
        severity=row.severity,
        version=row.version,
        body=row.body,
        created_at=row.created_at,
        author=row.author_label,
    )


async def list_templates(session: AsyncSession, severity: str = "") -> list[TemplateOut]:
    """The template each audience uses now for `severity` (empty: the general one)."""
    out: list[TemplateOut] = []
    for audience in Audience:
        version, body = await current_template(session, audience, severity)
        if version == 0:
            out.append(
                TemplateOut(
                    audience=audience,
                    severity="",
                    version=0,
                    body=body,
                    created_at=None,
                    author="default",
                )
            )
            continue
        row = await session.scalar(
            sa.select(CommsTemplate)
            .where(
                CommsTemplate.audience == audience.value,
                CommsTemplate.severity.in_([severity, ""]),
                CommsTemplate.version == version,
            )
            .order_by(CommsTemplate.severity.desc())
            .limit(1)
        )
        assert row is not None
        out.append(_template_out(row))
    return out


async def template_versions(
    session: AsyncSession, audience: Audience, severity: str
) -> list[TemplateOut]:
    rows = await session.scalars(
        sa.select(CommsTemplate)
        .where(CommsTemplate.audience == audience.value, CommsTemplate.severity == severity)
        .order_by(CommsTemplate.version.desc())
    )
    return [_template_out(r) for r in rows]


async def save_template(
    session: AsyncSession, who: Who, audience: Audience, severity: str, body: str
) -> TemplateOut:
    """Every edit is a new version; a template that cannot render for its audience (say, one
    that asks a customer template for technical details) is refused before it is stored."""
    require(who, Permission.COMMS_WRITE)
    try:
        tpl.check(body, audience)
    except tpl.RenderError as exc:
        raise Invalid("body", str(exc)) from exc
    latest = await session.scalar(
        sa.select(sa.func.max(CommsTemplate.version)).where(
            CommsTemplate.audience == audience.value, CommsTemplate.severity == severity
        )
    )
    actor = actor_of(who)
    row = CommsTemplate(
        audience=audience.value,
        severity=severity,
        version=(latest or 0) + 1,
        body=body,
        created_at=utcnow(),
        author_label=actor.label,
    )
    session.add(row)
    await session.flush()
    audit.record(
        session,
        actor,
        "comms.template_saved",
        "comms_template",
        f"{audience.value}/{severity or '*'}",
        after={"version": row.version, "body": body},
    )
    out = _template_out(row)
    await session.commit()
    return out


async def preview_template(
    session: AsyncSession, who: Who, audience: Audience, body: str, ref: str
) -> TemplatePreviewOut:
    """A template being edited, rendered with an incident's latest update as its audience would
    receive it; nothing is stored. A template that does not render is refused on `body`."""
    require(who, Permission.COMMS_WRITE)
    try:
        incident = await load(session, who, ref)
    except NotFound as exc:
        raise Invalid("incident", f"there is no incident {ref}") from exc
    update = await session.scalar(
        sa.select(CommsUpdate)
        .where(CommsUpdate.incident_id == incident.id)
        .order_by(CommsUpdate.id.desc())
        .limit(1)
    )
    try:
        text = tpl.render(body, audience, _values(incident, update or UpdateIn()))
    except tpl.RenderError as exc:
        raise Invalid("body", str(exc)) from exc
    return TemplatePreviewOut(
        audience=audience,
        incident=ref_of(incident.id),
        update_id=update.id if update else None,
        text=text,
    )


async def render_for(
    session: AsyncSession, incident: Incident, values: UpdateIn | CommsUpdate, audience: Audience
) -> Rendering:
    version, body = await current_template(session, audience, incident.severity)
    try:
        text = tpl.render(body, audience, _values(incident, values))
    except tpl.RenderError as exc:
        raise Invalid("template", f"{audience.value}: {exc}") from exc
    return Rendering(audience=audience, text=text, template_version=version)


async def preview(session: AsyncSession, who: Who, ref: str, body: PreviewIn) -> list[Rendering]:
    """What each audience would receive; nothing is stored or sent."""
    require(who, Permission.COMMS_WRITE)
    incident = await load(session, who, ref)
    return [await render_for(session, incident, body, a) for a in body.audiences]


# --- messages: draft → approved → published ---------------------------------------------------


def _message_out(row: CommsMessage) -> MessageOut:
    return MessageOut(
        id=row.id,
        incident=ref_of(row.incident_id),
        audience=row.audience,
        channel=row.channel,
        recipients=row.recipients,
        text=row.text,
        status=row.status,
        revision=row.revision,
        author=row.author_label,
        approved_by=row.approved_by_label,
        approved_at=row.approved_at,
        published_at=row.published_at,
        log_seq=row.log_seq,
    )


def _snapshot(row: CommsMessage) -> dict[str, Any]:
    return {
        "status": row.status,
        "revision": row.revision,
        "text": row.text,
        "channel": row.channel,
        "recipients": row.recipients,
    }


async def create_message(session: AsyncSession, who: Who, ref: str, body: MessageIn) -> MessageOut:
    require(who, Permission.COMMS_WRITE)
    incident = await load(session, who, ref)
    text = body.text
    if body.update_id is not None:
        update = await session.get(CommsUpdate, body.update_id)
        if update is None or update.incident_id != incident.id:
            raise Invalid(
                "update_id", f"there is no update {body.update_id} on {ref_of(incident.id)}"
            )
        if text is None:
            text = (await render_for(session, incident, update, body.audience)).text
    if text is None:
        raise Invalid("text", "give the text, or an update_id to render it from")
    actor = actor_of(who)
    row = CommsMessage(
        incident_id=incident.id,
        update_id=body.update_id,
        audience=body.audience.value,
        channel=body.channel,
        recipients=body.recipients,
        text=text,
        status="draft",
        revision=1,
        author_id=actor.id,
        author_label=actor.label,
        created_at=utcnow(),
    )
    session.add(row)
    await session.flush()
    audit.record(
        session, actor, "comms.message_drafted", "comms_message", row.id, after=_snapshot(row)
    )
    out = _message_out(row)
    await session.commit()
    return out


async def _message(session: AsyncSession, who: Who, ref: str, message_id: int) -> CommsMessage:
    incident = await load(session, who, ref)
    row = await session.get(CommsMessage, message_id)
    if row is None or row.incident_id != incident.id:
        raise NotFound("message", message_id)
    return row


async def list_messages(session: AsyncSession, who: Who, ref: str) -> list[MessageOut]:
    incident = await load(session, who, ref)
    rows = await session.scalars(
        sa.select(CommsMessage)
        .where(CommsMessage.incident_id == incident.id)
        .order_by(CommsMessage.id.desc())
    )
    return [_message_out(r) for r in rows]


async def edit_message(
    session: AsyncSession, who: Who, ref: str, message_id: int, body: MessageEdit
) -> MessageOut:
    """An edit after approval sends the message back to draft: the approval was for the old
    words, not the new ones."""
    require(who, Permission.COMMS_WRITE)
    row = await _message(session, who, ref, message_id)
    if row.status == "published":
        raise Conflict("a published message cannot change; write a new one", "status")
    before = _snapshot(row)
    for name in ("text", "recipients", "channel"):
        value = getattr(body, name)
        if value is not None:
            setattr(row, name, value)
    if _snapshot(row) == before:
        return _message_out(row)
    row.revision += 1
    row.status = "draft"
    row.approved_by_id = row.approved_by_label = row.approved_at = None
    audit.record(
        session,
        actor_of(who),
        "comms.message_edited",
        "comms_message",
        row.id,
        before=before,
        after=_snapshot(row),
    )
    out = _message_out(row)
    await session.commit()
    return out


def _four_eyes() -> bool:
    return get_settings().comms_four_eyes


async def approve_message(session: AsyncSession, who: Who, ref: str, message_id: int) -> MessageOut:
    require(who, Permission.COMMS_APPROVE)
    row = await _message(session, who, ref, message_id)
    if row.status != "draft":
        raise Conflict(f"the message is {row.status}, only a draft can be approved", "status")
    actor = actor_of(who)
    if _four_eyes() and row.author_id is not None and _user_id(who) == row.author_id:
        raise ProblemError(
            403, "Forbidden", "four eyes: the author cannot approve their own message"
        )
    before = _snapshot(row)
    row.status = "approved"
    row.approved_by_id = actor.id
    row.approved_by_label = actor.label
    row.approved_at = utcnow()
    audit.record(
        session,
        actor,
        "comms.message_approved",
        "comms_message",
        row.id,
        before=before,
        after=_snapshot(row),
    )
    out = _message_out(row)
    await session.commit()
    return out


async def publish_message(session: AsyncSession, who: Who, ref: str, message_id: int) -> MessageOut:
    """External messages must be approved first; messages to responders go out as written.
    Publishing writes the exact text to the comms log and plans its delivery to the group's
    addresses (sent by jobs, each logged again when it went out)."""
    row = await _message(session, who, ref, message_id)
    external = Audience(row.audience) in tpl.EXTERNAL
    require(who, Permission.COMMS_APPROVE if external else Permission.COMMS_WRITE)
    if row.status == "published":
        raise Conflict("the message is already published", "status")
    if external and row.status != "approved":
        raise Conflict("an external message must be approved before it is published", "status")
    incident = await session.get(Incident, row.incident_id)
    assert incident is not None
    actor = actor_of(who)
    before = _snapshot(row)
    entry = await log.record(
        session,
        incident_id=row.incident_id,
        kind="message",
        channel=row.channel,
        audience=row.audience,
        recipients=row.recipients,
        text=row.text,
        actor=actor,
    )
    row.status = "published"
    row.published_at = entry.at
    row.log_seq = entry.seq
    await delivery.plan_message(session, incident, row, actor)
    audit.record(
        session,
        actor,
        "comms.message_published",
        "comms_message",
        row.id,
        before=before,
        after=_snapshot(row),
    )
    note(
        session,
        incident,
        actor,
        "comms.published",
        f"Message to {row.audience} published ({row.channel})",
        {"message_id": row.id},
    )
    await start_timer(session, incident)
    out = _message_out(row)
    await session.commit()
    return out


# --- cadence per stakeholder group ------------------------------------------------------------


def _audience_of_group(group: str) -> Audience | None:
    try:
        audience = Audience(group.replace("-", "_"))
    except ValueError:
        return None
    return None if audience is Audience.RESPONDERS else audience


async def _expectations(session: AsyncSession, severity: str) -> list[tuple[str, int]]:
    """Groups whose cadence this domain keeps (the bridge keeps the responders')."""
    try:
        stored = await policy.get_policy(session, severity)
    except NotFound:
        return []
    return [
        (c.group, c.cadence_minutes)
        for c in stored.communications
        if _audience_of_group(c.group) is not None
    ]


async def _published_times(
    session: AsyncSession, incident_id: int, audience: str
) -> list[datetime]:
    rows = await session.scalars(
        sa.select(CommsMessage.published_at)
        .where(
            CommsMessage.incident_id == incident_id,
            CommsMessage.audience == audience,
            CommsMessage.status == "published",
        )
        .order_by(CommsMessage.published_at)
    )
    return [t for t in rows if t is not None]


def _active(incident: Incident) -> bool:
    return lifecycle.is_active(lifecycle.Status(incident.status))


async def cadence(session: AsyncSession, who: Who, ref: str) -> list[GroupCadence]:
    incident = await load(session, who, ref)
    return await _cadence(session, incident)


async def _cadence(session: AsyncSession, incident: Incident) -> list[GroupCadence]:
    now = utcnow()
    active = _active(incident)
    out: list[GroupCadence] = []
    for group, minutes in await _expectations(session, incident.severity):
        audience = _audience_of_group(group)
        assert audience is not None
        times = await _published_times(session, incident.id, audience.value)
        every = timedelta(minutes=minutes)
        due = rules.next_due(incident.created_at, times[-1] if times else None, None, every)
        measured = rules.adherence(incident.created_at, now, every, times)
        out.append(
            GroupCadence(
                group=group,
                cadence_minutes=minutes,
                last_update_at=times[-1] if times else None,
                next_due=due if active else None,
                overdue=bool(active and due is not None and now >= due),
                on_time=measured.on_time,
                late=measured.late,
                missed=measured.missed,
            )
        )
    return out


async def start_timer(session: AsyncSession, incident: Incident) -> None:
    """Plan the next look at the incident's group cadences (idempotent per time)."""
    if not _active(incident):
        return
    now = utcnow()
    times = [
        rules.next_check(now, g.next_due, timedelta(minutes=g.cadence_minutes), RECHECK)
        for g in await _cadence(session, incident)
        if g.next_due is not None
    ]
    if get_settings().comms_executives:
        # Impact figures change without telling us: executive thresholds are looked at again
        # at least every RECHECK while the incident is active.
        times.append(rules.next_check(now, now + RECHECK, RECHECK, RECHECK))
    if times:
        at = min(times)
        await jobs.enqueue(
            session,
            CHECK_KIND,
            {"incident_id": incident.id},
            run_at=at,
            idempotency_key=f"comms-{incident.id}-cadence-{at.isoformat()}",
        )


async def _comms_lead(session: AsyncSession, incident_id: int) -> User | None:
    return await session.scalar(
        sa.select(User)
        .join(IncidentRoleAssignment, IncidentRoleAssignment.user_id == User.id)
        .where(
            IncidentRoleAssignment.incident_id == incident_id,
            IncidentRoleAssignment.role == StandardRole.COMMUNICATIONS_LEAD.value,
            IncidentRoleAssignment.ended_at.is_(None),
        )
    )


async def check(session: AsyncSession, incident_id: int) -> None:
    """The timer: for each group whose update is overdue, remind the Communications Lead once
    per due time; a second missed cadence escalates (to the Incident Commander as well)."""
    incident = await session.get(Incident, incident_id)
    if incident is None or not _active(incident):
        return
    now = utcnow()
    lead = await _comms_lead(session, incident.id)
    for group in await _cadence(session, incident):
        if group.next_due is None:
            continue
        every = timedelta(minutes=group.cadence_minutes)
        stage = rules.stage(now, group.next_due, every)
        state = await session.scalar(
            sa.select(CommsCadence).where(
                CommsCadence.incident_id == incident.id, CommsCadence.group == group.group
            )
        )
        if state is None:
            state = CommsCadence(incident_id=incident.id, group=group.group)
            session.add(state)
        due = group.next_due
        data = {
            "group": group.group,
            "due": due.isoformat(),
            "cadence_minutes": group.cadence_minutes,
        }
        if stage is rules.Stage.ESCALATE and state.escalated_due != due:
            state.escalated_due = state.reminded_due = due
            text = f"Update to {group.group} missed twice (due {due:%Y-%m-%d %H:%M} UTC); escalated"
            note(session, incident, TIMER, "comms.escalated", text, data)
            audit.record(
                session,
                TIMER,
                "comms.cadence_escalated",
                "incident",
                ref_of(incident.id),
                after=data,
            )
            for user in {
                u.id: u for u in [lead, await _commander(session, incident.id)] if u
            }.values():
                await notify_user(
                    session,
                    user.id,
                    Notification(
                        subject=f"{ref_of(incident.id)}: {text}",
                        body=text,
                        urgency=Urgency.HIGH,
                        source="comms.cadence",
                        incident_id=incident.id,
                        dedup_key=f"comms-escalate-{incident.id}-{group.group}-{due.isoformat()}",
                    ),
                )
        elif stage is not rules.Stage.ON_TRACK and state.reminded_due != due:
            state.reminded_due = due
            text = f"Update to {group.group} overdue since {due:%Y-%m-%d %H:%M} UTC"
            note(session, incident, TIMER, "comms.reminder", text, data)
            audit.record(
                session,
                TIMER,
                "comms.cadence_reminded",
                "incident",
                ref_of(incident.id),
                after=data,
            )
            if lead is not None:
                await notify_user(
                    session,
                    lead.id,
                    Notification(
                        subject=f"{ref_of(incident.id)}: {text}",
                        body=text,
                        urgency=Urgency.LOW,
                        source="comms.cadence",
                        incident_id=incident.id,
                        dedup_key=f"comms-remind-{incident.id}-{group.group}-{due.isoformat()}",
                    ),
                )
    await stakeholders.evaluate_briefs(session, incident, TIMER)
    await start_timer(session, incident)


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
