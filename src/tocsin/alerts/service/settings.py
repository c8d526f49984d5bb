"""Silences, maintenance windows, correlation rules and alert groups: what people set to
shape the pipeline, and what it built. Each change is validated, audited and committed here;
ending a silence or a window re-evaluates the alerts it suppressed, which are never dropped.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from tocsin.alerts import matchers as matching
from tocsin.alerts.maintenance import RecurrenceError
from tocsin.alerts.models import Alert, AlertGroup, CorrelationRule, MaintenanceWindow, Silence
from tocsin.alerts.schemas import (
    AlertGroupOut,
    CorrelationRuleIn,
    CorrelationRuleOut,
    MaintenanceCreate,
    MaintenanceOut,
    SilenceCreate,
    SilenceOut,
)
from tocsin.alerts.service.integrations import Who, _actor, service_slugs
from tocsin.alerts.service.pipeline import request_reevaluation, window_of
from tocsin.alerts.service.queries import _out as alert_out
from tocsin.audit import service as audit
from tocsin.audit.snapshot import snapshot
from tocsin.auth.permissions import Permission
from tocsin.catalog import service as catalog
from tocsin.catalog.models import Team
from tocsin.clock import ensure_utc, utcnow
from tocsin.errors import Conflict, Invalid, NotFound
from tocsin.events import publish
from tocsin.jobs import service as jobs

MAX_SILENCE = timedelta(days=365)


def silence_state(row: Silence, now: datetime) -> str:
    if row.expired_at is not None or row.ends_at <= now:
        return "expired"
    return "pending" if row.starts_at > now else "active"


def _silence_out(row: Silence, now: datetime) -> SilenceOut:
    return SilenceOut(
        id=row.id,
        matchers=row.matchers,
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        created_by=row.created_by,
        comment=row.comment,
        expired_at=row.expired_at,
        state=silence_state(row, now),
    )


async def create_silence(session: AsyncSession, who: Who, body: SilenceCreate) -> SilenceOut:
    now = utcnow()
    try:
        found = matching.parse([m.model_dump() for m in body.matchers])
        matching.check_silence(found)
    except matching.MatcherError as exc:
        raise Invalid("matchers", str(exc)) from None
    starts = ensure_utc(body.starts_at) if body.starts_at else now
    ends = ensure_utc(body.ends_at)
    if ends <= starts:
        raise Invalid("ends_at", "must be after starts_at")
    if ends <= now:
        raise Invalid("ends_at", "must be in the future")
    if ends - starts > MAX_SILENCE:
        raise Invalid("ends_at", "a silence lasts at most 365 days")
    actor = _actor(who)
    row = Silence(
        matchers=[m.as_dict() for m in found],
        starts_at=starts,
        ends_at=ends,
        created_by=actor.label,
        comment=body.comment,
    )
    session.add(row)
    await session.flush()
    audit.record(session, actor, "create", "silence", row.id, after=snapshot(row))
    # Alerts firing now are matched when they are next decided: re-evaluate them at the
    # start (a silence covers what already fires, as in Alertmanager) and at the end.
    await _reevaluate_matching(session, row, starts)
    await request_reevaluation(session, f"silence:{row.id}", ends)
    await session.commit()
    await publish("alert.silence.created", {"id": row.id}, Permission.ALERTS_READ.value)
    return _silence_out(row, now)


async def _reevaluate_matching(session: AsyncSession, silence: Silence, at: datetime) -> None:
    found = matching.parse(silence.matchers)
    firing = await session.execute(
        sa.select(Alert.id, Alert.labels).where(Alert.status == "firing")
    )
    specs = [
        jobs.NewJob(
            "alerts.process",
            {"alert_id": alert_id, "change": f"silence #{silence.id} created"},
            run_at=at,
            idempotency_key=f"alerts.process:silence:{silence.id}:{alert_id}",
        )
        for alert_id, labels in firing
        if matching.matches_all(found, labels)
    ]
    await jobs.enqueue_many(session, specs)


async def list_silences(session: AsyncSession, *, include_expired: bool = True) -> list[SilenceOut]:
    now = utcnow()
    stmt = sa.select(Silence).order_by(Silence.ends_at.desc(), Silence.id.desc())
    if not include_expired:
        stmt = stmt.where(Silence.expired_at.is_(None), Silence.ends_at > now)
    return [_silence_out(row, now) for row in await session.scalars(stmt)]


async def get_silence(session: AsyncSession, silence_id: int) -> SilenceOut:
    row = await session.get(Silence, silence_id)
    if row is None:
        raise NotFound("silence", silence_id)
    return _silence_out(row, utcnow())


async def expire_silence(session: AsyncSession, who: Who, silence_id: int) -> SilenceOut:
    row = await session.get(Silence, silence_id)
    if row is None:
        raise NotFound("silence", silence_id)
    now = utcnow()
    if silence_state(row, now) == "expired":
        raise Conflict("this silence has already expired")
    before = snapshot(row)
    row.expired_at = now
    await session.flush()
    audit.record(
        session, _actor(who), "expire", "silence", row.id, before=before, after=snapshot(row)
    )
    await request_reevaluation(session, f"silence:{row.id}", now)
    await session.commit()
    await publish("alert.silence.expired", {"id": row.id}, Permission.ALERTS_READ.value)
    return _silence_out(row, now)


async def _service_id(session: AsyncSession, slug: str, field: str = "service") -> int:
    try:
        return await catalog.service_id(session, slug)
    except NotFound:
        raise Invalid(field, f"no service {slug!r} in the catalog") from None


def _maintenance_out(row: MaintenanceWindow, slug: str, now: datetime) -> MaintenanceOut:
    occurrence = None if row.ended_at else window_of(row).active_occurrence(now)
    return MaintenanceOut(
        id=row.id,
        service=slug,
        starts_at=row.starts_at,
        duration_minutes=row.duration_minutes,
        timezone=row.timezone,
        rrule=row.rrule,
        comment=row.comment,
        created_by=row.created_by,
        ended_at=row.ended_at,
        active_until=occurrence[1] if occurrence else None,
    )


async def create_maintenance(
    session: AsyncSession, who: Who, body: MaintenanceCreate
) -> MaintenanceOut:
    service_id = await _service_id(session, body.service)
    row = MaintenanceWindow(
        service_id=service_id,
        starts_at=body.starts_at.replace(tzinfo=None),
        duration_minutes=body.duration_minutes,
        timezone=body.timezone,
        rrule=(body.rrule or "").removeprefix("RRULE:") or None,
        created_by=_actor(who).label,
        comment=body.comment,
    )
    window = window_of(row)
    try:
        window.zone()
    except RecurrenceError as exc:
        raise Invalid("timezone", str(exc)) from None
    try:
        window.check()
    except RecurrenceError as exc:
        raise Invalid("rrule", str(exc)) from None
    session.add(row)
    await session.flush()
    audit.record(session, _actor(who), "create", "maintenance-window", row.id, after=snapshot(row))
    await session.commit()
    return _maintenance_out(row, body.service, utcnow())


async def list_maintenance(session: AsyncSession) -> list[MaintenanceOut]:
    rows = list(await session.scalars(sa.select(MaintenanceWindow).order_by(MaintenanceWindow.id)))
    slugs = await service_slugs(session, {row.service_id for row in rows})
    now = utcnow()
    return [_maintenance_out(row, slugs[row.service_id], now) for row in rows]


async def end_maintenance(session: AsyncSession, who: Who, window_id: int) -> MaintenanceOut:
    """End a window for good (recurring ones too); suppressed alerts are decided again."""
    row = await session.get(MaintenanceWindow, window_id)
    if row is None:
        raise NotFound("maintenance window", window_id)
    if row.ended_at is not None:
        raise Conflict("this maintenance window has already ended")
    now = utcnow()
    before = snapshot(row)
    row.ended_at = now
    await session.flush()
    audit.record(
        session,
        _actor(who),
        "end",
        "maintenance-window",
        row.id,
        before=before,
        after=snapshot(row),
    )
    await request_reevaluation(session, f"maintenance:{row.id}", now)
    await session.commit()
    slugs = await service_slugs(session, {row.service_id})
    return _maintenance_out(row, slugs[row.service_id], now)


async def _rule_out(session: AsyncSession, row: CorrelationRule) -> CorrelationRuleOut:
    service = None
    team = None
    if row.service_id is not None:
        service = (await service_slugs(session, {row.service_id}))[row.service_id]
    if row.team_id is not None:
        team = await session.scalar(sa.select(Team.slug).where(Team.id == row.team_id))
    return CorrelationRuleOut(
        id=row.id,
        slug=row.slug,
        service=service,
        team=team,
        group_by=list(row.group_by),
        group_wait_seconds=row.group_wait_seconds,
        min_alerts=row.min_alerts,
        min_sources=row.min_sources,
        window_seconds=row.window_seconds,
        flap_changes=row.flap_changes,
        flap_window_seconds=row.flap_window_seconds,
    )


async def put_rule(
    session: AsyncSession, who: Who, body: CorrelationRuleIn, *, commit: bool = True
) -> CorrelationRuleOut:
    """Create or replace the rule of one service or one team (one rule per scope)."""
    if (body.service is None) == (body.team is None):
        raise Invalid("service", "give exactly one of service or team")
    for name in body.group_by:
        if not matching.LABEL_NAME.match(name):
            raise Invalid("group_by", f"invalid label name {name!r}")
    if body.service is not None:
        service_id, team_id = await _service_id(session, body.service), None
        where = CorrelationRule.service_id == service_id
    else:
        team_id = await session.scalar(sa.select(Team.id).where(Team.slug == body.team))
        if team_id is None:
            raise Invalid("team", f"no team {body.team!r} in the catalog")
        service_id = None
        where = CorrelationRule.team_id == team_id
    row = await session.scalar(sa.select(CorrelationRule).where(where))
    slug = body.slug or body.service or f"team-{body.team}"
    taken = await session.scalar(
        sa.select(CorrelationRule.id).where(CorrelationRule.slug == slug, sa.not_(where))
    )
    if taken is not None:
        raise Invalid("slug", f"another correlation rule is already named {slug!r}")
    before = snapshot(row) if row is not None else None
    if row is None:
        row = CorrelationRule(service_id=service_id, team_id=team_id, slug=slug)
        session.add(row)
    row.slug = slug
    fields = body.model_dump(exclude={"service", "team", "slug"})
    fields["group_by"] = sorted(set(body.group_by))
    for name, value in fields.items():
        setattr(row, name, value)
    await session.flush()
    audit.record(
        session,
        _actor(who),
        "update" if before else "create",
        "correlation-rule",
        row.id,
        before=before,
        after=snapshot(row),
    )
    if commit:
        await session.commit()
    return await _rule_out(session, row)


async def list_rules(session: AsyncSession) -> list[CorrelationRuleOut]:
    rows = await session.scalars(sa.select(CorrelationRule).order_by(CorrelationRule.id))
    return [await _rule_out(session, row) for row in rows]


async def delete_rule(session: AsyncSession, who: Who, rule_id: int) -> None:
    row = await session.get(CorrelationRule, rule_id)
    if row is None:
        raise NotFound("correlation rule", rule_id)
    audit.record(session, _actor(who), "delete", "correlation-rule", row.id, before=snapshot(row))
    await session.delete(row)
    await session.commit()


async def list_groups(
    session: AsyncSession,
    *,
    status: str | None = None,
    limit: int = 100,
    group_id: int | None = None,
) -> list[AlertGroupOut]:
    """Newest first, each with its member alerts (what a responder reads in a storm)."""
    stmt = sa.select(AlertGroup).order_by(AlertGroup.id.desc()).limit(min(max(limit, 1), 500))
    if group_id is not None:
        stmt = stmt.where(AlertGroup.id == group_id)
    if status is not None:
        stmt = stmt.where(AlertGroup.status == status)
    groups = list(await session.scalars(stmt))
    if not groups:
        return []
    members = list(
        await session.scalars(
            sa.select(Alert).where(Alert.group_id.in_([g.id for g in groups])).order_by(Alert.id)
        )
    )
    slugs = await service_slugs(session, {g.service_id for g in groups})
    by_group: dict[int, list[Alert]] = {}
    for member in members:
        by_group.setdefault(member.group_id or 0, []).append(member)
    return [
        AlertGroupOut(
            id=g.id,
            service=slugs[g.service_id],
            key=g.key,
            labels=g.labels,
            status=g.status,
            opened_at=g.opened_at,
            resolved_at=g.resolved_at,
            paged_at=g.paged_at,
            members=[alert_out(m, slugs[g.service_id]) for m in by_group.get(g.id, [])],
        )
        for g in groups
    ]


async def get_group(session: AsyncSession, group_id: int) -> AlertGroupOut:
    found = await list_groups(session, group_id=group_id)
    if not found:
        raise NotFound("alert group", group_id)
    return found[0]
