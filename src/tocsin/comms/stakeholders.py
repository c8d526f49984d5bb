"""Executive briefs (S4.2), media inquiries (S4.5) and the one approved statement (S4.6).

Each of them sends something outside the response, so each writes the comms log in the same
transaction as the change; notifications to people go through the job outbox.
"""

from __future__ import annotations

import difflib
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from tocsin.audit import service as audit
from tocsin.auth.models import User
from tocsin.auth.permissions import Permission
from tocsin.auth.principal import Principal
from tocsin.catalog.models import Service
from tocsin.clock import utcnow
from tocsin.comms import delivery, log
from tocsin.comms.executive_rules import Facts, crossed
from tocsin.comms.models import (
    CommsExecutiveBrief,
    CommsMediaInquiry,
    CommsStatement,
    CommsStatementAck,
)
from tocsin.comms.schemas import (
    BriefOut,
    InquiryIn,
    InquiryOut,
    StatementAckOut,
    StatementIn,
    StatementOut,
)
from tocsin.config import get_settings
from tocsin.errors import Conflict, Invalid, NotFound, ProblemError
from tocsin.incidents import visibility
from tocsin.incidents.models import Incident, IncidentAffected
from tocsin.incidents.service.common import Who, actor_of, load, note, ref_of, require
from tocsin.notifications.message import Notification, Urgency
from tocsin.notifications.service import notify_user
from tocsin.policy import service as policy

STATEMENT_TEAMS = ("support", "sales", "account_management")


async def _user(session: AsyncSession, email: str) -> User | None:
    return await session.scalar(sa.select(User).where(sa.func.lower(User.email) == email.lower()))


async def _notify(
    session: AsyncSession, email: str, incident: Incident, subject: str, body: str, key: str
) -> None:
    user = await _user(session, email)
    if user is not None and user.is_active:
        await notify_user(
            session,
            user.id,
            Notification(
                subject=subject,
                body=body,
                urgency=Urgency.LOW,
                source="comms.stakeholders",
                dedup_key=key,
                incident_id=incident.id,
            ),
        )


# --- executive briefs ---------------------------------------------------------------------


async def _facts(session: AsyncSession, incident: Incident) -> Facts:
    affected = (
        await session.execute(
            sa.select(IncidentAffected.kind, IncidentAffected.slug).where(
                IncidentAffected.incident_id == incident.id
            )
        )
    ).all()
    services = [slug for kind, slug in affected if kind == "service"]
    tags: set[str] = set()
    if services:
        for row in await session.scalars(sa.select(Service.tags).where(Service.slug.in_(services))):
            tags.update(str(t).lower() for t in row or [])
    media = await session.scalar(
        sa.select(sa.func.count())
        .select_from(CommsMediaInquiry)
        .where(CommsMediaInquiry.incident_id == incident.id)
    )
    rph = incident.revenue_per_hour
    return Facts(
        opened_at=incident.created_at,
        now=utcnow(),
        revenue_per_hour=float(rph) if isinstance(rph, Decimal | int | float) else None,
        customers_affected=incident.customers_affected,
        incident_type=incident.type,
        data_exposure=incident.type == "data",
        media_inquiry=bool(media),
        service_tags=frozenset(tags),
        customers=frozenset(slug for kind, slug in affected if kind == "customer"),
    )


async def evaluate_briefs(session: AsyncSession, incident: Incident, who: Who) -> int:
    """Send each configured executive one brief per threshold newly crossed; returns how many
    briefs were sent. Runs in the caller's transaction; running again sends nothing twice."""
    executives = get_settings().comms_executives
    if not executives:
        return 0
    try:
        stored = await policy.get_policy(session, incident.severity)
    except NotFound:
        return 0
    crossings = crossed(stored.executive_notification, await _facts(session, incident))
    if not crossings:
        return 0
    sent = {
        (t, e)
        for t, e in (
            await session.execute(
                sa.select(CommsExecutiveBrief.threshold, CommsExecutiveBrief.executive).where(
                    CommsExecutiveBrief.incident_id == incident.id
                )
            )
        ).all()
    }
    actor = actor_of(who)
    count = 0
    for crossing in crossings:
        for executive in executives:
            if (crossing.threshold, executive) in sent:
                continue
            # A private incident's brief names it but does not describe it; the executive
            # asks to be added as a participant to read more.
            title = "(private incident)" if incident.visibility == "private" else incident.title
            text = (
                f"{ref_of(incident.id)} {title} ({incident.severity}, {incident.status})"
                f"\nWhy you are told: {crossing.why}."
            )
            entry = await log.record(
                session,
                incident_id=incident.id,
                kind="executive_brief",
                channel="notification",
                audience="executives",
                recipients=executive,
                text=text,
                actor=actor,
            )
            session.add(
                CommsExecutiveBrief(
                    incident_id=incident.id,
                    threshold=crossing.threshold,
                    executive=executive,
                    why=crossing.why,
                    at=entry.at,
                    log_seq=entry.seq,
                )
            )
            subject = f"Executive brief: {ref_of(incident.id)} {title}"
            await delivery.plan_brief(
                session,
                incident,
                threshold=crossing.threshold,
                executive=executive,
                subject=subject,
                text=text,
                actor=actor,
            )
            await _notify(
                session,
                executive,
                incident,
                subject,
                text,
                f"comms-brief-{incident.id}-{crossing.threshold}",
            )
            count += 1
        note(
            session,
            incident,
            actor,
            "comms.executive_brief",
            f"Executives briefed: {crossing.why}",
            {"threshold": crossing.threshold},
        )
    await session.flush()
    return count


async def list_briefs(session: AsyncSession, who: Who, ref: str) -> list[BriefOut]:
    incident = await load(session, who, ref)
    rows = await session.scalars(
        sa.select(CommsExecutiveBrief)
        .where(CommsExecutiveBrief.incident_id == incident.id)
        .order_by(CommsExecutiveBrief.id)
    )
    return [BriefOut.model_validate(r) for r in rows]


async def check_briefs(session: AsyncSession, who: Who, ref: str) -> list[BriefOut]:
    """Evaluate the thresholds now (after the incident's impact figures changed)."""
    require(who, Permission.COMMS_WRITE)
    incident = await load(session, who, ref)
    await evaluate_briefs(session, incident, who)
    await session.commit()
    return await list_briefs(session, who, ref)


# --- media inquiries ------------------------------------------------------------------------


def _inquiry_out(row: CommsMediaInquiry) -> InquiryOut:
    return InquiryOut(
        id=row.id,
        incident=ref_of(row.incident_id) if row.incident_id else None,
        outlet=row.outlet,
        reporter=row.reporter,
        question=row.question,
        deadline=row.deadline,
        status=row.status,
        created_at=row.created_at,
        created_by=row.created_by,
        statement=row.statement,
        answered_by=row.answered_by,
        answered_at=row.answered_at,
        log_seq=row.log_seq,
    )


async def log_inquiry(session: AsyncSession, who: Who, body: InquiryIn) -> InquiryOut:
    """Record the inquiry and route it to every designated spokesperson."""
    require(who, Permission.COMMS_WRITE)
    incident = await load(session, who, body.incident) if body.incident else None
    actor = actor_of(who)
    row = CommsMediaInquiry(
        incident_id=incident.id if incident else None,
        outlet=body.outlet,
        reporter=body.reporter,
        question=body.question,
        deadline=body.deadline,
        status="open",
        created_at=utcnow(),
        created_by=actor.label,
    )
    session.add(row)
    await session.flush()
    audit.record(
        session,
        actor,
        "comms.media_inquiry",
        "media_inquiry",
        row.id,
        after={"outlet": row.outlet, "reporter": row.reporter},
    )
    subject = f"Media inquiry from {row.outlet}" + (
        f" about {ref_of(incident.id)}" if incident else ""
    )
    for email in get_settings().comms_spokespeople:
        user = await _user(session, email)
        if user is not None and user.is_active:
            await notify_user(
                session,
                user.id,
                Notification(
                    subject=subject,
                    body=f"{row.reporter} ({row.outlet}) asks: {row.question}",
                    urgency=Urgency.HIGH,
                    source="comms.media",
                    dedup_key=f"comms-media-{row.id}",
                    incident_id=incident.id if incident else None,
                ),
            )
    if incident is not None:
        note(session, incident, actor, "comms.media_inquiry", subject, {"inquiry_id": row.id})
        await evaluate_briefs(session, incident, who)
    out = _inquiry_out(row)
    await session.commit()
    return out


async def list_inquiries(session: AsyncSession, who: Who) -> list[InquiryOut]:
    """Newest first; those about a private incident only for whoever may see it."""
    visible = sa.select(Incident.id).where(visibility.visible_clause(who))
    rows = await session.scalars(
        sa.select(CommsMediaInquiry)
        .where(
            sa.or_(
                CommsMediaInquiry.incident_id.is_(None),
                CommsMediaInquiry.incident_id.in_(visible),
            )
        )
        .order_by(CommsMediaInquiry.id.desc())
    )
    return [_inquiry_out(r) for r in rows]


def is_spokesperson(who: Who) -> bool:
    email = who.email if isinstance(who, Principal) else None
    people = {e.lower() for e in get_settings().comms_spokespeople}
    return email is not None and email.lower() in people


async def answer_inquiry(
    session: AsyncSession, who: Who, inquiry_id: int, statement: str
) -> InquiryOut:
    """Only a designated spokesperson publishes a media statement; it goes to the log."""
    require(who, Permission.COMMS_WRITE)
    if not is_spokesperson(who):
        raise ProblemError(403, "Forbidden", "only a designated spokesperson may answer the press")
    row = await session.get(CommsMediaInquiry, inquiry_id)
    if row is None:
        raise NotFound("media inquiry", inquiry_id)
    if row.incident_id is not None:
        await load(session, who, ref_of(row.incident_id))
    if row.status == "answered":
        raise Conflict("this inquiry has been answered already", "status")
    actor = actor_of(who)
    entry = await log.record(
        session,
        incident_id=row.incident_id,
        kind="media_statement",
        channel="press",
        audience="media",
        recipients=f"{row.reporter} ({row.outlet})",
        text=statement,
        actor=actor,
    )
    row.status = "answered"
    row.statement = statement
    row.answered_by = actor.label
    row.answered_at = entry.at
    row.log_seq = entry.seq
    audit.record(
        session,
        actor,
        "comms.media_statement",
        "media_inquiry",
        row.id,
        after={"statement": statement, "log_seq": entry.seq},
    )
    out = _inquiry_out(row)
    await session.commit()
    return out


# --- the one approved statement ---------------------------------------------------------------


async def _versions(session: AsyncSession, incident_id: int) -> list[CommsStatement]:
    rows = await session.scalars(
        sa.select(CommsStatement)
        .where(CommsStatement.incident_id == incident_id)
        .order_by(CommsStatement.version)
    )
    return list(rows)


def _diff(old: str, new: str, old_v: int, new_v: int) -> str:
    return "".join(
        difflib.unified_diff(
            old.splitlines(keepends=True),
            new.splitlines(keepends=True),
            fromfile=f"version {old_v}",
            tofile=f"version {new_v}",
        )
    )


async def _statement_out(
    session: AsyncSession, incident: Incident, versions: list[CommsStatement], index: int
) -> StatementOut:
    row = versions[index]
    acks = await session.scalars(
        sa.select(CommsStatementAck)
        .where(CommsStatementAck.statement_id == row.id)
        .order_by(CommsStatementAck.id)
    )
    acked = [StatementAckOut(team=a.team, by=a.by, at=a.at) for a in acks]
    done = {a.team for a in acked}
    previous = versions[index - 1] if index > 0 else None
    return StatementOut(
        incident=ref_of(incident.id),
        version=row.version,
        text=row.text,
        approved_by=row.approved_by,
        created_at=row.created_at,
        diff=_diff(previous.text, row.text, previous.version, row.version) if previous else "",
        acknowledged=acked,
        unacknowledged=[t for t in STATEMENT_TEAMS if t not in done],
    )


async def statement_history(session: AsyncSession, who: Who, ref: str) -> list[StatementOut]:
    """Every version, newest first, each with its diff from the one before."""
    incident = await load(session, who, ref)
    versions = await _versions(session, incident.id)
    return [
        await _statement_out(session, incident, versions, i) for i in reversed(range(len(versions)))
    ]


async def publish_statement(
    session: AsyncSession, who: Who, ref: str, body: StatementIn
) -> StatementOut:
    """A new version of the approved statement; support, sales and account management each
    receive it (one log entry per team) and must acknowledge this version."""
    require(who, Permission.COMMS_APPROVE)
    incident = await load(session, who, ref)
    versions = await _versions(session, incident.id)
    if versions and versions[-1].text == body.text:
        raise Invalid("text", "the statement is unchanged")
    actor = actor_of(who)
    row = CommsStatement(
        incident_id=incident.id,
        version=len(versions) + 1,
        text=body.text,
        created_at=utcnow(),
        approved_by=actor.label,
    )
    session.add(row)
    await session.flush()
    for team in STATEMENT_TEAMS:
        await log.record(
            session,
            incident_id=incident.id,
            kind="statement",
            channel="internal",
            audience=team,
            recipients=team,
            text=body.text,
            actor=actor,
        )
    audit.record(
        session,
        actor,
        "comms.statement_published",
        "incident",
        ref_of(incident.id),
        after={"version": row.version, "text": body.text},
    )
    note(session, incident, actor, "comms.statement", f"Approved statement v{row.version}", {})
    versions.append(row)
    out = await _statement_out(session, incident, versions, len(versions) - 1)
    await session.commit()
    return out


async def acknowledge(
    session: AsyncSession, who: Who, ref: str, version: int, team: str
) -> StatementOut:
    require(who, Permission.COMMS_WRITE)
    incident = await load(session, who, ref)
    if team not in STATEMENT_TEAMS:
        raise Invalid("team", f"must be one of {', '.join(STATEMENT_TEAMS)}")
    versions = await _versions(session, incident.id)
    index = next((i for i, v in enumerate(versions) if v.version == version), None)
    if index is None:
        raise NotFound("statement version", version)
    row = versions[index]
    exists = await session.scalar(
        sa.select(CommsStatementAck).where(
            CommsStatementAck.statement_id == row.id, CommsStatementAck.team == team
        )
    )
    if exists is None:
        actor = actor_of(who)
        session.add(CommsStatementAck(statement_id=row.id, team=team, by=actor.label, at=utcnow()))
        audit.record(
            session,
            actor,
            "comms.statement_acknowledged",
            "incident",
            ref_of(incident.id),
            after={"version": version, "team": team},
        )
        await session.flush()
    out = await _statement_out(session, incident, versions, index)
    await session.commit()
    return out
