"""On-call use cases: schedules, escalation policies, "who is on call", and durable pages.

Writes check their permission (oncall:manage, team-scoped for non-admins; oncall:respond for
acting on pages), are audited in the same transaction and published after commit. A page is
driven by one durable timer per escalation step, keyed by page and generation: every
escalation or reassignment bumps the generation, so a timer that fires after the page moved
on, was acknowledged or was reassigned finds itself stale and does nothing. Nothing is held
in memory, so a restart in the middle of an escalation loses nothing.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from itsdangerous import BadSignature, SignatureExpired, TimestampSigner, URLSafeTimedSerializer
from sqlalchemy.ext.asyncio import AsyncSession

from tocsin import events
from tocsin.audit import service as audit
from tocsin.audit.service import Actor
from tocsin.audit.snapshot import snapshot
from tocsin.auth.models import TeamMembership, User
from tocsin.auth.permissions import Permission
from tocsin.auth.principal import Principal
from tocsin.catalog.models import Service, Team
from tocsin.clock import utcnow
from tocsin.config import get_settings
from tocsin.errors import Conflict, Invalid, NotFound, ProblemError
from tocsin.incidents import visibility
from tocsin.incidents.models import Incident
from tocsin.incidents.service.common import add_participant, note, participant_ids, ref_of
from tocsin.jobs import service as jobs
from tocsin.jobs.models import Priority
from tocsin.notifications import service as notifications
from tocsin.notifications.message import Notification, Urgency
from tocsin.oncall import policy as steps
from tocsin.oncall import schedule as final
from tocsin.oncall.models import (
    EscalationPolicy,
    OncallLayer,
    OncallOverride,
    OncallPage,
    OncallPageLog,
    OncallSchedule,
    ServiceEscalationPolicy,
)
from tocsin.oncall.rotation import Layer, Restriction, Rotation
from tocsin.oncall.schemas import (
    LayerIn,
    LayerOut,
    LevelIn,
    OverrideIn,
    OverrideOut,
    PageLogOut,
    PageOut,
    PolicyIn,
    PolicyOut,
    ReassignIn,
    ScheduleIn,
    ScheduleOut,
    SegmentOut,
    ShiftOut,
    WhoLevel,
    WhoOut,
)

Who = Principal | Actor

PAGE_KIND = "oncall.page"
ESCALATE_KIND = "oncall.escalate"
ACK_SALT = "tocsin.oncall.ack"
ACK_LINK_MAX_AGE = timedelta(hours=24)
"""how long an acknowledge link in a notification stays valid"""
HORIZON = timedelta(days=14)

OPEN, ACKNOWLEDGED, RESOLVED = "open", "acknowledged", "resolved"


def _actor(who: Who) -> Actor:
    return who.actor if isinstance(who, Principal) else who


def _require(who: Who, permission: Permission) -> None:
    if isinstance(who, Principal) and not who.can(permission):
        raise ProblemError(403, "Forbidden", f"this needs the {permission.value} permission")


def _require_team(who: Who, team_id: int | None) -> None:
    """Responders manage their own teams' schedules and policies; admins any."""
    _require(who, Permission.ONCALL_MANAGE)
    if isinstance(who, Principal) and not who.is_admin and team_id not in who.team_ids:
        raise ProblemError(403, "Forbidden", "only members of the owning team may change this")


async def _publish(session: AsyncSession, name: str, **data: Any) -> None:
    await session.commit()
    await events.publish(name, data)


# --- look-ups -------------------------------------------------------------------------------


async def _team_id(session: AsyncSession, slug: str | None) -> int | None:
    if slug is None:
        return None
    team_id = await session.scalar(sa.select(Team.id).where(Team.slug == slug))
    if team_id is None:
        raise Invalid("team", f"there is no team {slug!r}")
    return int(team_id)


async def _team_slug(session: AsyncSession, team_id: int | None) -> str | None:
    if team_id is None:
        return None
    return await session.scalar(sa.select(Team.slug).where(Team.id == team_id))


async def _check_users(session: AsyncSession, ids: list[int], field: str) -> None:
    found = set(
        (await session.scalars(sa.select(User.id).where(User.id.in_(ids), User.is_active))).all()
    )
    missing = [i for i in ids if i not in found]
    if missing:
        raise Invalid(field, f"there is no active user with id {missing[0]}")


async def team_names(session: AsyncSession) -> dict[int, str]:
    return {row.id: row.name for row in await session.execute(sa.select(Team.id, Team.name))}


async def user_labels(session: AsyncSession, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = await session.execute(sa.select(User.id, User.name, User.email).where(User.id.in_(ids)))
    return {row.id: row.name or row.email for row in rows}


# --- schedules ------------------------------------------------------------------------------


async def _catch_up(
    session: AsyncSession, *, schedule_id: int | None = None, policy_id: int | None = None
) -> None:
    """Who is on call for an open page of a private incident may have changed: let them in
    now and re-plan the page's hand-offs (see `handoffs`)."""
    from tocsin.oncall import handoffs

    await handoffs.catch_up(session, schedule_id=schedule_id, policy_id=policy_id)


def _restrictions(raw: list[Any]) -> tuple[Restriction, ...]:
    return tuple(
        Restriction(
            time.fromisoformat(item["start"]), timedelta(minutes=item["minutes"]), item["weekday"]
        )
        for item in raw
    )


def _layer(row: OncallLayer) -> Layer:
    rotation = Rotation(
        members=tuple(int(m) for m in row.members),
        zone=ZoneInfo(row.time_zone),
        start_date=row.start_date,
        handoff=row.handoff_time,
        turn=timedelta(minutes=row.turn_minutes),
    )
    return Layer(rotation, _restrictions(row.restrictions))


async def _layers(session: AsyncSession, schedule_id: int) -> list[OncallLayer]:
    rows = await session.scalars(
        sa.select(OncallLayer)
        .where(OncallLayer.schedule_id == schedule_id)
        .order_by(OncallLayer.position)
    )
    return list(rows)


async def _overrides(session: AsyncSession, schedule_id: int) -> list[OncallOverride]:
    rows = await session.scalars(
        sa.select(OncallOverride)
        .where(OncallOverride.schedule_id == schedule_id)
        .order_by(OncallOverride.id)
    )
    return list(rows)


async def _schedule(session: AsyncSession, slug: str) -> OncallSchedule:
    row = await session.scalar(sa.select(OncallSchedule).where(OncallSchedule.slug == slug))
    if row is None:
        raise NotFound("schedule", slug)
    return row


async def _schedule_out(session: AsyncSession, row: OncallSchedule) -> ScheduleOut:
    layers = await _layers(session, row.id)
    return ScheduleOut(
        id=row.id,
        slug=row.slug,
        name=row.name,
        description=row.description,
        team=await _team_slug(session, row.team_id),
        layers=[
            LayerOut(
                name=layer.name,
                time_zone=layer.time_zone,
                turn_minutes=layer.turn_minutes,
                start_date=layer.start_date,
                handoff_time=layer.handoff_time,
                members=list(layer.members),
                restrictions=list(layer.restrictions),
            )
            for layer in layers
        ],
        overrides=[OverrideOut.model_validate(o) for o in await _overrides(session, row.id)],
    )


async def list_schedules(session: AsyncSession) -> list[ScheduleOut]:
    rows = await session.scalars(sa.select(OncallSchedule).order_by(OncallSchedule.name))
    return [await _schedule_out(session, row) for row in rows]


async def get_schedule(session: AsyncSession, slug: str) -> ScheduleOut:
    return await _schedule_out(session, await _schedule(session, slug))


def _layer_row(schedule_id: int, position: int, body: LayerIn) -> OncallLayer:
    return OncallLayer(
        schedule_id=schedule_id,
        position=position,
        name=body.name,
        time_zone=body.time_zone,
        start_date=body.start_date,
        handoff_time=body.handoff_time.replace(tzinfo=None),
        turn_minutes=body.minutes,
        members=list(body.members),
        restrictions=[
            {"weekday": r.weekday, "start": r.start.strftime("%H:%M"), "minutes": r.minutes}
            for r in body.restrictions
        ],
    )


async def save_schedule(
    session: AsyncSession,
    who: Who,
    body: ScheduleIn,
    slug: str | None = None,
    *,
    commit: bool = True,
) -> ScheduleOut:
    """Create (slug None) or replace a schedule with its layers; overrides are kept."""
    team_id = await _team_id(session, body.team)
    _require_team(who, team_id)
    for index, layer in enumerate(body.layers):
        await _check_users(session, layer.members, f"layers.{index}.members")
    before = None
    if slug is None:
        if await session.scalar(
            sa.select(OncallSchedule.id).where(OncallSchedule.slug == body.slug)
        ):
            raise Conflict(f"a schedule {body.slug!r} exists already", "slug")
        row = OncallSchedule(slug=body.slug, name=body.name)
        session.add(row)
    else:
        row = await _schedule(session, slug)
        _require_team(who, row.team_id)
        if body.slug != row.slug:
            raise Invalid("slug", "the slug of a schedule cannot change")
        before = (await _schedule_out(session, row)).model_dump(mode="json")
        await session.execute(sa.delete(OncallLayer).where(OncallLayer.schedule_id == row.id))
    row.name, row.description, row.team_id = body.name, body.description, team_id
    await session.flush()
    for position, layer in enumerate(body.layers):
        session.add(_layer_row(row.id, position, layer))
    await session.flush()
    await _catch_up(session, schedule_id=row.id)
    out = await _schedule_out(session, row)
    action = "oncall.schedule.create" if slug is None else "oncall.schedule.update"
    audit.record(
        session,
        _actor(who),
        action,
        "schedule",
        row.slug,
        before=before,
        after=out.model_dump(mode="json"),
    )
    if commit:
        await _publish(session, "oncall.schedule", schedule=row.slug)
    return out


async def delete_schedule(session: AsyncSession, who: Who, slug: str) -> None:
    row = await _schedule(session, slug)
    _require_team(who, row.team_id)
    before = (await _schedule_out(session, row)).model_dump(mode="json")
    await session.delete(row)
    audit.record(session, _actor(who), "oncall.schedule.delete", "schedule", slug, before=before)
    await _publish(session, "oncall.schedule", schedule=slug)


async def add_override(session: AsyncSession, who: Who, slug: str, body: OverrideIn) -> OverrideOut:
    row = await _schedule(session, slug)
    _require_team(who, row.team_id)
    if body.ends_at <= body.starts_at:
        raise Invalid("ends_at", "must be after starts_at")
    await _check_users(session, [body.user_id], "user_id")
    override = OncallOverride(
        schedule_id=row.id,
        user_id=body.user_id,
        starts_at=body.starts_at,
        ends_at=body.ends_at,
        created_by=_actor(who).label,
    )
    session.add(override)
    await session.flush()
    await _catch_up(session, schedule_id=row.id)
    out = OverrideOut.model_validate(override)
    audit.record(
        session,
        _actor(who),
        "oncall.override.create",
        "schedule",
        slug,
        after=out.model_dump(mode="json"),
    )
    await _publish(session, "oncall.schedule", schedule=slug)
    return out


async def delete_override(session: AsyncSession, who: Who, slug: str, override_id: int) -> None:
    row = await _schedule(session, slug)
    _require_team(who, row.team_id)
    override = await session.get(OncallOverride, override_id)
    if override is None or override.schedule_id != row.id:
        raise NotFound("override", override_id)
    before = OverrideOut.model_validate(override).model_dump(mode="json")
    await session.delete(override)
    await session.flush()
    await _catch_up(session, schedule_id=row.id)
    audit.record(session, _actor(who), "oncall.override.delete", "schedule", slug, before=before)
    await _publish(session, "oncall.schedule", schedule=slug)


async def _render(
    session: AsyncSession, schedule_id: int, start: datetime, end: datetime
) -> tuple[list[final.Segment], list[OncallLayer]]:
    layers = await _layers(session, schedule_id)
    overrides = [
        final.Override(o.starts_at, o.ends_at, o.user_id)
        for o in await _overrides(session, schedule_id)
    ]
    return final.render([_layer(row) for row in layers], overrides, start, end), layers


async def render_schedule(
    session: AsyncSession, slug: str, start: datetime, end: datetime
) -> list[SegmentOut]:
    if end <= start:
        raise Invalid("until", "must be after since")
    if end - start > timedelta(days=92):
        raise Invalid("until", "a rendering covers at most 92 days")
    row = await _schedule(session, slug)
    segments, layers = await _render(session, row.id, start, end)
    labels = await user_labels(session, {s.user_id for s in segments})
    return [
        SegmentOut(
            start=s.start,
            end=s.end,
            user_id=s.user_id,
            user=labels.get(s.user_id, f"user {s.user_id}"),
            source="override" if s.source == final.OVERRIDE else layers[s.source].name,
        )
        for s in segments
    ]


async def on_call_user_ids(session: AsyncSession, schedule_id: int, at: datetime) -> list[int]:
    """Who schedule `schedule_id` puts on call at `at` (empty when nobody, or no schedule)."""
    segments, _ = await _render(session, schedule_id, at, at + timedelta(seconds=1))
    return [segments[0].user_id] if segments else []


async def on_call_changes(
    session: AsyncSession, schedule_id: int, start: datetime, end: datetime
) -> list[datetime]:
    """When schedule `schedule_id` may put someone else on call in (start, end), overrides
    included (see `schedule.changes`)."""
    segments, _ = await _render(session, schedule_id, start, end)
    return final.changes(segments, start, end)


async def my_shifts(session: AsyncSession, user_id: int, now: datetime) -> list[ShiftOut]:
    """The user's shifts in every schedule from now for two weeks, soonest first."""
    out = []
    for row in await session.scalars(sa.select(OncallSchedule)):
        segments, _ = await _render(session, row.id, now, now + HORIZON)
        mine = [s for s in segments if s.user_id == user_id]
        for segment in final.merge([final.Segment(s.start, s.end, s.user_id, 0) for s in mine]):
            out.append(
                ShiftOut(
                    schedule=row.slug, schedule_name=row.name, start=segment.start, end=segment.end
                )
            )
    return sorted(out, key=lambda s: s.start)


# --- escalation policies --------------------------------------------------------------------


async def _policy(session: AsyncSession, slug: str) -> EscalationPolicy:
    row = await session.scalar(sa.select(EscalationPolicy).where(EscalationPolicy.slug == slug))
    if row is None:
        raise NotFound("escalation policy", slug)
    return row


async def _policy_out(session: AsyncSession, row: EscalationPolicy) -> PolicyOut:
    services = await session.scalars(
        sa.select(Service.slug)
        .join(ServiceEscalationPolicy, ServiceEscalationPolicy.service_id == Service.id)
        .where(ServiceEscalationPolicy.policy_id == row.id)
        .order_by(Service.slug)
    )
    return PolicyOut(
        id=row.id,
        slug=row.slug,
        name=row.name,
        description=row.description,
        team=await _team_slug(session, row.team_id),
        repeat=row.repeat,
        levels=[LevelIn.model_validate(level) for level in row.levels],
        services=list(services),
    )


async def list_policies(session: AsyncSession) -> list[PolicyOut]:
    rows = await session.scalars(sa.select(EscalationPolicy).order_by(EscalationPolicy.name))
    return [await _policy_out(session, row) for row in rows]


async def get_policy(session: AsyncSession, slug: str) -> PolicyOut:
    return await _policy_out(session, await _policy(session, slug))


async def _check_targets(session: AsyncSession, body: PolicyIn) -> None:
    models: dict[str, Any] = {"user": User, "schedule": OncallSchedule, "team": Team}
    for i, level in enumerate(body.levels):
        for j, target in enumerate(level.targets):
            model = models[target.type]
            if await session.get(model, target.id) is None:
                raise Invalid(
                    f"levels.{i}.targets.{j}.id", f"there is no {target.type} {target.id}"
                )


async def save_policy(
    session: AsyncSession,
    who: Who,
    body: PolicyIn,
    slug: str | None = None,
    *,
    commit: bool = True,
) -> PolicyOut:
    team_id = await _team_id(session, body.team)
    _require_team(who, team_id)
    await _check_targets(session, body)
    before = None
    if slug is None:
        if await session.scalar(
            sa.select(EscalationPolicy.id).where(EscalationPolicy.slug == body.slug)
        ):
            raise Conflict(f"an escalation policy {body.slug!r} exists already", "slug")
        row = EscalationPolicy(slug=body.slug)
        session.add(row)
    else:
        row = await _policy(session, slug)
        _require_team(who, row.team_id)
        if body.slug != row.slug:
            raise Invalid("slug", "the slug of a policy cannot change")
        before = snapshot(row)
    row.name, row.description, row.team_id = body.name, body.description, team_id
    row.repeat = body.repeat
    row.levels = [level.model_dump(mode="json") for level in body.levels]
    await session.flush()
    if slug is not None:
        await _catch_up(session, policy_id=row.id)
    action = "oncall.policy.create" if slug is None else "oncall.policy.update"
    audit.record(
        session,
        _actor(who),
        action,
        "escalation_policy",
        row.slug,
        before=before,
        after=snapshot(row),
    )
    out = await _policy_out(session, row)
    if commit:
        await _publish(session, "oncall.policy", policy=row.slug)
    return out


async def delete_policy(session: AsyncSession, who: Who, slug: str) -> None:
    row = await _policy(session, slug)
    _require_team(who, row.team_id)
    before = snapshot(row)
    await session.delete(row)
    audit.record(
        session, _actor(who), "oncall.policy.delete", "escalation_policy", slug, before=before
    )
    await _publish(session, "oncall.policy", policy=slug)


async def _service(session: AsyncSession, slug: str) -> Service:
    row = await session.scalar(sa.select(Service).where(Service.slug == slug))
    if row is None:
        raise NotFound("service", slug)
    return row


async def attach_service(
    session: AsyncSession, who: Who, service_slug: str, policy_slug: str, *, commit: bool = True
) -> PolicyOut:
    """Page for `service_slug` through `policy_slug` (replacing any earlier policy)."""
    service = await _service(session, service_slug)
    _require_team(who, service.owner_team_id)
    try:
        row = await _policy(session, policy_slug)
    except NotFound:
        raise Invalid("policy", f"there is no escalation policy {policy_slug!r}") from None
    mapping = await session.get(ServiceEscalationPolicy, service.id)
    before = None if mapping is None else {"policy_id": mapping.policy_id}
    if mapping is None:
        session.add(ServiceEscalationPolicy(service_id=service.id, policy_id=row.id))
    else:
        mapping.policy_id = row.id
    await session.flush()
    audit.record(
        session,
        _actor(who),
        "oncall.service_policy.set",
        "service",
        service.slug,
        before=before,
        after={"policy_id": row.id, "policy": row.slug},
    )
    out = await _policy_out(session, row)
    if commit:
        await _publish(session, "oncall.policy", policy=row.slug, service=service.slug)
    return out


async def _service_policy(session: AsyncSession, service_id: int) -> EscalationPolicy | None:
    mapping = await session.get(ServiceEscalationPolicy, service_id)
    return None if mapping is None else await session.get(EscalationPolicy, mapping.policy_id)


async def _team_members(session: AsyncSession, team_id: int) -> list[int]:
    rows = await session.execute(
        sa.select(TeamMembership.user_id, TeamMembership.role)
        .join(User, User.id == TeamMembership.user_id)
        .where(TeamMembership.team_id == team_id, User.is_active)
        .order_by(TeamMembership.id)
    )
    ordered = sorted(rows, key=lambda r: r.role != "lead")
    return [int(r.user_id) for r in ordered]


async def resolve_level(session: AsyncSession, level: dict[str, Any], at: datetime) -> list[int]:
    targets = [steps.Target(t["type"], int(t["id"])) for t in level["targets"]]
    on_call = {
        t.id: await on_call_user_ids(session, t.id, at) for t in targets if t.kind == "schedule"
    }
    teams = {t.id: await _team_members(session, t.id) for t in targets if t.kind == "team"}
    return steps.resolve(targets, on_call, teams)


async def who_is_on_call(session: AsyncSession, service_slug: str, at: datetime) -> WhoOut:
    service = await _service(session, service_slug)
    row = await _service_policy(session, service.id)
    levels = []
    if row is not None:
        for index, level in enumerate(row.levels):
            ids = await resolve_level(session, level, at)
            labels = await user_labels(session, set(ids))
            levels.append(WhoLevel(level=index + 1, user_ids=ids, users=[labels[i] for i in ids]))
    return WhoOut(service=service.slug, policy=row.slug if row else None, at=at, levels=levels)


# --- pages ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PageRequest:
    service_id: int
    title: str
    summary: str
    dedup_key: str
    incident_id: int | None = None
    alert_group_id: int | None = None


async def queue_page(session: AsyncSession, request: PageRequest) -> None:
    """Queue opening a page in the caller's transaction. Urgent, because someone is waiting to
    be woken and a storm's backlog must not stand in front; keyed by the dedup key, so queueing
    the same problem twice (a retry, two alerts of a group at once) adds nothing."""
    await jobs.enqueue(
        session,
        PAGE_KIND,
        asdict(request),
        idempotency_key=f"{PAGE_KIND}:{request.dedup_key}",
        priority=Priority.URGENT,
    )


class _ClockSigner(TimestampSigner):
    """Signs and checks expiry against Tocsin's clock, so expiry follows the one time source."""

    def get_timestamp(self) -> int:
        return int(utcnow().timestamp())


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(get_settings().secret_key, salt=ACK_SALT, signer=_ClockSigner)


def ack_token(page_id: int, user_id: int) -> str:
    return _serializer().dumps({"page": page_id, "user": user_id})


def read_ack_token(token: str) -> tuple[int, int]:
    """(page id, user id) of a valid link; 400 when forged, 410 when expired."""
    try:
        data = _serializer().loads(token, max_age=int(ACK_LINK_MAX_AGE.total_seconds()))
    except SignatureExpired:
        raise ProblemError(410, "Link expired", "this acknowledge link has expired") from None
    except BadSignature:
        raise ProblemError(400, "Invalid link", "this acknowledge link is not valid") from None
    return int(data["page"]), int(data["user"])


def ack_link(page_id: int, user_id: int) -> str:
    return f"{get_settings().base_url.rstrip('/')}/oncall/ack/{ack_token(page_id, user_id)}"


async def _log(
    session: AsyncSession,
    page: OncallPage,
    actor: Actor,
    kind: str,
    text: str,
    data: dict[str, Any] | None = None,
) -> None:
    """One step on the page's log, and on its incident's timeline when it has one."""
    session.add(
        OncallPageLog(
            page_id=page.id, at=utcnow(), kind=kind, text=text, actor=actor.label, data=data or {}
        )
    )
    if page.incident_id is not None:
        incident = await session.get(Incident, page.incident_id)
        if incident is not None:
            note(session, incident, actor, f"oncall.{kind}", f"Page #{page.id}: {text}", data)


async def _notify(session: AsyncSession, page: OncallPage, user_ids: list[int]) -> None:
    for user_id in user_ids:
        await notifications.notify_user(
            session,
            user_id,
            Notification(
                subject=f"[Page #{page.id}] {page.title}",
                body=page.summary,
                urgency=Urgency.HIGH,
                source=PAGE_KIND,
                dedup_key=f"oncall.page:{page.id}:{page.generation}",
                incident_id=page.incident_id,
                page_id=page.id,
                link=ack_link(page.id, user_id),
            ),
        )


async def admit(
    session: AsyncSession,
    page: OncallPage,
    people: list[int],
    labels: dict[int, str],
    actor: Actor,
    *,
    why: str = "",
    details: dict[str, Any] | None = None,
) -> list[int]:
    """Whoever is paged about a private incident must be able to open it: anyone the step
    reaches who is not a participant yet (on call since it was declared, or a later level)
    becomes one before being notified, as the incident's timeline and the audit trail say.
    Hand-offs admit whoever comes on call for the page through here too, with their own `why`
    (see `handoffs`). Returns who was added."""
    incident = None if page.incident_id is None else await session.get(Incident, page.incident_id)
    if incident is None or incident.visibility != "private":
        return []
    added = [user_id for user_id in people if await add_participant(session, incident.id, user_id)]
    if not added:
        return []
    names = ", ".join(labels[i] for i in added)
    data = {"users": added, "page": page.id, **(details or {})}
    note(
        session,
        incident,
        actor,
        "participants_added",
        f"{names} can see this private incident: {why or f'page #{page.id} reached them'}",
        data,
    )
    audit.record(
        session, actor, "incident.participant_added", "incident", ref_of(incident.id), after=data
    )
    return added


async def _step(session: AsyncSession, page: OncallPage, actor: Actor) -> None:
    """Notify whoever the page's current step reaches and start its timer."""
    now = utcnow()
    timeout: int | None = None
    if page.assigned_user_id is not None:
        people = [page.assigned_user_id]
        where = "reassigned"
    else:
        row = (
            None if page.policy_id is None else await session.get(EscalationPolicy, page.policy_id)
        )
        if row is None or not row.levels:
            page.notified = []
            await _log(session, page, actor, "unrouted", "No escalation policy: nobody was paged")
            return
        level = row.levels[page.level]
        people = await resolve_level(session, level, now)
        timeout = int(level["timeout_minutes"])
        where = f"level {page.level + 1}" + (f", repeat {page.round}" if page.round else "")
    page.notified = people
    labels = await user_labels(session, set(people))
    names = ", ".join(labels[i] for i in people) or "nobody (no one on call)"
    await admit(session, page, people, labels, actor)
    await _log(session, page, actor, "notified", f"Paged {names} ({where})", {"users": people})
    await _notify(session, page, people)
    # Whoever comes on call for this step later must be able to open a private incident too.
    from tocsin.oncall import handoffs

    await handoffs.follow(session, page)
    if timeout is not None:
        await jobs.enqueue(
            session,
            ESCALATE_KIND,
            {"page_id": page.id, "generation": page.generation},
            run_at=now + timedelta(minutes=timeout),
            idempotency_key=f"{ESCALATE_KIND}:{page.id}:{page.generation}",
            priority=Priority.URGENT,
        )


async def open_page(session: AsyncSession, request: PageRequest) -> OncallPage:
    """Open a page for a service through its policy; an open page with the same dedup key is
    returned as it is, so re-paging the same problem does not wake anyone again."""
    existing = await session.scalar(
        sa.select(OncallPage).where(
            OncallPage.dedup_key == request.dedup_key, OncallPage.status != RESOLVED
        )
    )
    if existing is not None:
        return existing
    service = await session.get(Service, request.service_id)
    row = None if service is None else await _service_policy(session, service.id)
    page = OncallPage(
        service_id=service.id if service else None,
        policy_id=row.id if row else None,
        title=request.title[:500],
        summary=request.summary,
        dedup_key=request.dedup_key,
        incident_id=request.incident_id,
        alert_group_id=request.alert_group_id,
        status=OPEN,
        opened_at=utcnow(),
        notified=[],
    )
    session.add(page)
    await session.flush()
    actor = Actor.system("on-call paging")
    await _log(session, page, actor, "opened", f"Page opened: {page.title}")
    await _step(session, page, actor)
    audit.record(session, actor, "oncall.page.open", "page", page.id, after=snapshot(page))
    await session.flush()
    return page


async def escalate(session: AsyncSession, page_id: int, generation: int) -> bool:
    """Run a step's timer: move an unacknowledged page on; True when it moved."""
    page = await session.scalar(
        sa.select(OncallPage).where(OncallPage.id == page_id).with_for_update()
    )
    if page is None or page.status != OPEN or page.generation != generation:
        return False
    actor = Actor.system("escalation timer")
    row = None if page.policy_id is None else await session.get(EscalationPolicy, page.policy_id)
    if row is None or page.assigned_user_id is not None:
        return False
    nxt = steps.next_position(steps.Position(page.round, page.level), len(row.levels), row.repeat)
    if nxt is None:
        await _log(
            session, page, actor, "exhausted", "Nobody acknowledged; the policy is exhausted"
        )
        page.generation += 1  # a re-run of this timer finds itself stale
        await session.flush()
        return False
    before = snapshot(page)
    page.round, page.level, page.generation = nxt.round, nxt.level, page.generation + 1
    await _log(
        session, page, actor, "escalated", f"Not acknowledged: escalated to level {nxt.level + 1}"
    )
    await _step(session, page, actor)
    audit.record(
        session, actor, "oncall.page.escalate", "page", page.id, before=before, after=snapshot(page)
    )
    await session.flush()
    await _publish(session, "oncall.page", page=page.id, status=page.status)
    return True


async def _page(session: AsyncSession, page_id: int) -> OncallPage:
    page = await session.get(OncallPage, page_id)
    if page is None:
        raise NotFound("page", page_id)
    return page


async def _cancel_deliveries(session: AsyncSession, page_id: int) -> None:
    await notifications.cancel_for_page(session, page_id)


async def acknowledge(session: AsyncSession, who: Who, page_id: int, via: str = "api") -> PageOut:
    _require(who, Permission.ONCALL_RESPOND)
    page = await _page(session, page_id)
    if page.status != OPEN:
        raise Conflict(f"page {page_id} is {page.status} already", "status")
    actor = _actor(who)
    before = snapshot(page)
    page.status, page.acknowledged_at, page.acknowledged_by = ACKNOWLEDGED, utcnow(), actor.label
    page.generation += 1
    await _log(session, page, actor, "acknowledged", f"Acknowledged by {actor.label} ({via})")
    await _cancel_deliveries(session, page.id)
    audit.record(
        session,
        actor,
        "oncall.page.acknowledge",
        "page",
        page.id,
        before=before,
        after=snapshot(page),
    )
    await session.flush()
    out = await page_out(session, page, who)
    await _publish(session, "oncall.page", page=page.id, status=page.status)
    return out


async def acknowledge_by_link(session: AsyncSession, token: str) -> PageOut:
    page_id, user_id = read_ack_token(token)
    user = await session.get(User, user_id)
    if user is None or not user.is_active:
        raise ProblemError(400, "Invalid link", "this acknowledge link is not valid")
    return await acknowledge(session, Actor("user", user.id, user.email), page_id, via="link")


async def resolve(session: AsyncSession, who: Who, page_id: int) -> PageOut:
    _require(who, Permission.ONCALL_RESPOND)
    page = await _page(session, page_id)
    if page.status == RESOLVED:
        raise Conflict(f"page {page_id} is resolved already", "status")
    actor = _actor(who)
    before = snapshot(page)
    if page.status == OPEN:
        await _cancel_deliveries(session, page.id)
    page.status, page.resolved_at, page.resolved_by = RESOLVED, utcnow(), actor.label
    page.generation += 1
    await _log(session, page, actor, "resolved", f"Resolved by {actor.label}")
    audit.record(
        session, actor, "oncall.page.resolve", "page", page.id, before=before, after=snapshot(page)
    )
    await session.flush()
    out = await page_out(session, page, who)
    await _publish(session, "oncall.page", page=page.id, status=page.status)
    return out


async def reassign(session: AsyncSession, who: Who, page_id: int, body: ReassignIn) -> PageOut:
    """Hand the page to one person, or restart it on another policy; it is open again."""
    _require(who, Permission.ONCALL_RESPOND)
    page = await _page(session, page_id)
    if page.status == RESOLVED:
        raise Conflict(f"page {page_id} is resolved", "status")
    actor = _actor(who)
    before = snapshot(page)
    if body.user_id is not None:
        await _check_users(session, [body.user_id], "user_id")
        page.assigned_user_id = body.user_id
        text = f"Reassigned to user {body.user_id} by {actor.label}"
    else:
        assert body.policy is not None
        try:
            row = await _policy(session, body.policy)
        except NotFound:
            raise Invalid("policy", f"there is no escalation policy {body.policy!r}") from None
        page.policy_id, page.assigned_user_id = row.id, None
        text = f"Reassigned to policy {row.slug} by {actor.label}"
    page.status, page.acknowledged_at, page.acknowledged_by = OPEN, None, None
    page.round, page.level, page.generation = 0, 0, page.generation + 1
    await _log(session, page, actor, "reassigned", text)
    await _step(session, page, actor)
    audit.record(
        session, actor, "oncall.page.reassign", "page", page.id, before=before, after=snapshot(page)
    )
    await session.flush()
    out = await page_out(session, page, who)
    await _publish(session, "oncall.page", page=page.id, status=page.status)
    return out


async def _hidden(session: AsyncSession, viewer: Who | None, page: OncallPage) -> bool:
    """A page of a private incident shows its title only to those who may see the incident."""
    if viewer is None or page.incident_id is None:
        return False
    incident = await session.get(Incident, page.incident_id)
    if incident is None:
        return False
    members = await participant_ids(session, incident.id)
    return not visibility.may_see(viewer, incident.visibility, members)


async def page_out(session: AsyncSession, page: OncallPage, viewer: Who | None = None) -> PageOut:
    hidden = await _hidden(session, viewer, page)
    log = await session.scalars(
        sa.select(OncallPageLog).where(OncallPageLog.page_id == page.id).order_by(OncallPageLog.id)
    )
    service = None if page.service_id is None else await session.get(Service, page.service_id)
    row = None if page.policy_id is None else await session.get(EscalationPolicy, page.policy_id)
    return PageOut(
        id=page.id,
        title="(private incident)" if hidden else page.title,
        summary="" if hidden else page.summary,
        service=service.slug if service else None,
        policy=row.slug if row else None,
        dedup_key=page.dedup_key,
        incident_id=page.incident_id,
        alert_group_id=page.alert_group_id,
        status=page.status,
        round=page.round,
        level=page.level + 1,
        assigned_user_id=page.assigned_user_id,
        notified=list(page.notified),
        opened_at=page.opened_at,
        acknowledged_at=page.acknowledged_at,
        acknowledged_by=page.acknowledged_by,
        resolved_at=page.resolved_at,
        resolved_by=page.resolved_by,
        log=[] if hidden else [PageLogOut.model_validate(entry) for entry in log],
    )


async def get_page(session: AsyncSession, who: Who, page_id: int) -> PageOut:
    return await page_out(session, await _page(session, page_id), who)


async def list_pages(
    session: AsyncSession, who: Who, status: str | None = None, limit: int = 100
) -> list[PageOut]:
    stmt = sa.select(OncallPage).order_by(OncallPage.id.desc()).limit(limit)
    if status:
        stmt = stmt.where(OncallPage.status == status)
    return [await page_out(session, page, who) for page in await session.scalars(stmt)]
