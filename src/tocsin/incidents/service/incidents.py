"""Declaring, listing, reading and editing incidents, and who takes part in them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from tocsin.audit.snapshot import snapshot
from tocsin.auth.permissions import Permission
from tocsin.catalog import service as catalog
from tocsin.clock import utcnow
from tocsin.errors import Invalid, NotFound
from tocsin.incidents import visibility
from tocsin.incidents.lifecycle import ACTIVE, Status
from tocsin.incidents.milestones import Milestone
from tocsin.incidents.models import (
    Incident,
    IncidentAffected,
    IncidentLink,
)
from tocsin.incidents.schemas import (
    IncidentDeclare,
    IncidentOut,
    IncidentPatch,
    IncidentSummary,
    LinkIn,
    ParticipantAdd,
)
from tocsin.incidents.service import views
from tocsin.incidents.service.common import (
    Who,
    actor_of,
    add_participant,
    find_user,
    finish,
    load,
    note,
    record,
    require,
)
from tocsin.incidents.service.milestones import check_not_future, check_order, write_milestone

_LOOKUPS = {
    "service": ("services", catalog.get_service),
    "customer": ("customers", catalog.get_customer),
    "customer_tier": ("customer_tiers", catalog.get_customer_tier),
    "business_unit": ("business_units", catalog.get_business_unit),
}


async def _check_severity(session: AsyncSession, slug: str) -> None:
    from tocsin.policy import service as policy

    known = await policy.severity_slugs(session)
    if slug not in known:
        listed = ", ".join(sorted(known)) or "none are defined yet"
        raise Invalid("severity", f"unknown severity {slug!r} (known: {listed})")


async def _check_slugs(session: AsyncSession, kind: str, slugs: Sequence[str]) -> list[str]:
    field, lookup = _LOOKUPS[kind]
    for i, slug in enumerate(slugs):
        try:
            await lookup(session, slug)
        except NotFound as exc:
            raise Invalid(f"{field}.{i}", f"there is no {kind.replace('_', ' ')} {slug!r}") from exc
    return sorted(set(slugs))


async def _replace_affected(
    session: AsyncSession, incident_id: int, kind: str, slugs: Sequence[str]
) -> None:
    await session.execute(
        sa.delete(IncidentAffected).where(
            IncidentAffected.incident_id == incident_id, IncidentAffected.kind == kind
        )
    )
    session.add_all(IncidentAffected(incident_id=incident_id, kind=kind, slug=s) for s in slugs)


async def _replace_links(session: AsyncSession, incident_id: int, links: Sequence[LinkIn]) -> None:
    await session.execute(sa.delete(IncidentLink).where(IncidentLink.incident_id == incident_id))
    session.add_all(
        IncidentLink(
            incident_id=incident_id, kind=link.kind.value, url=str(link.url), title=link.title
        )
        for link in links
    )


async def state(session: AsyncSession, incident: Incident) -> dict[str, Any]:
    """The incident as the audit trail stores it: columns plus what it affects and links to."""
    await session.flush()
    sets = (await views.affected(session, [incident.id]))[incident.id]
    links = await session.scalars(
        sa.select(IncidentLink).where(IncidentLink.incident_id == incident.id)
    )
    return {
        **snapshot(incident),
        **{_LOOKUPS[k][0]: v for k, v in sets.items()},
        "links": [{"kind": x.kind, "url": x.url, "title": x.title} for x in links],
    }


async def declare(session: AsyncSession, who: Who, body: IncidentDeclare) -> IncidentOut:
    require(who, Permission.INCIDENT_DECLARE)
    await _check_severity(session, body.severity)
    sets = {
        kind: await _check_slugs(session, kind, getattr(body, field))
        for kind, (field, _) in _LOOKUPS.items()
    }
    actor = actor_of(who)
    now = utcnow()
    given = {Milestone.DECLARED: now}
    if body.impact_started_at is not None:
        check_not_future(body.impact_started_at, "impact_started_at")
        given[Milestone.IMPACT_STARTED] = body.impact_started_at
    if body.detected_at is not None:
        check_not_future(body.detected_at, "detected_at")
        given[Milestone.DETECTED] = body.detected_at
    check_order(given, None)
    incident = Incident(
        title=body.title,
        summary=body.summary,
        severity=body.severity,
        type=body.type.value,
        visibility=body.visibility.value,
        status=Status.DECLARED.value,
        customers_affected=body.customers_affected,
        revenue_per_hour=body.revenue_per_hour,
        regulatory=body.regulatory,
        reputational=body.reputational,
        created_by_id=actor.id if actor.kind in {"user", "token"} else None,
    )
    session.add(incident)
    await session.flush()
    for kind, slugs in sets.items():
        await _replace_affected(session, incident.id, kind, slugs)
    await _replace_links(session, incident.id, body.links)
    for name, at in given.items():
        evidence = "declared" if name == Milestone.DECLARED else "given at declaration"
        write_milestone(session, incident, actor, name, at, evidence=evidence)
    if incident.created_by_id is not None:
        await add_participant(session, incident.id, incident.created_by_id)
    note(
        session,
        incident,
        actor,
        "declared",
        f"Declared {body.severity} {body.type.value}: {body.title}",
        {"severity": body.severity, "visibility": body.visibility.value},
    )
    record(session, actor, "incident.declared", incident, None, await state(session, incident))
    # The first update falls due from declaration: plan its check in the same transaction.
    from tocsin.incidents.bridge.service import start_timer

    await start_timer(session, incident.id)
    await _plan_stakeholder_updates(session, incident)
    # Severity, impact, milestones and roles decide escalation: re-evaluate after this change.
    from tocsin.incidents.escalation.service import replan

    await replan(session, incident.id)
    await finish(session, incident, "incident.declared")
    return await views.full(session, incident)


async def _plan_stakeholder_updates(session: AsyncSession, incident: Incident) -> None:
    """Each stakeholder group's first update falls due a cadence after declaration, whether
    or not anyone has written to them yet; a new severity brings its own cadence."""
    await session.flush()
    from tocsin.comms.service import start_timer

    await start_timer(session, incident)


@dataclass(frozen=True)
class IncidentFilter:
    status: Sequence[Status] = ()
    severity: str | None = None
    service: str | None = None
    active: bool | None = None
    limit: int = 200


async def list_incidents(
    session: AsyncSession, who: Who, query: IncidentFilter = IncidentFilter()
) -> list[IncidentSummary]:
    """Newest first; private incidents only for their participants and admins."""
    stmt = (
        sa.select(Incident)
        .where(visibility.visible_clause(who))
        .order_by(Incident.id.desc())
        .limit(query.limit)
    )
    if query.status:
        stmt = stmt.where(Incident.status.in_([s.value for s in query.status]))
    if query.severity:
        stmt = stmt.where(Incident.severity == query.severity)
    if query.active is not None:
        active = Incident.status.in_([s.value for s in ACTIVE])
        stmt = stmt.where(active if query.active else sa.not_(active))
    if query.service:
        touching = (
            sa.select(IncidentAffected.id)
            .where(
                IncidentAffected.incident_id == Incident.id,
                IncidentAffected.kind == "service",
                IncidentAffected.slug == query.service,
            )
            .exists()
        )
        stmt = stmt.where(touching)
    incidents = list((await session.scalars(stmt)).all())
    return await views.summaries(session, incidents)


async def get_incident(session: AsyncSession, who: Who, ref: str) -> IncidentOut:
    return await views.full(session, await load(session, who, ref))


_COLUMNS = (
    "title",
    "summary",
    "severity",
    "type",
    "visibility",
    "customers_affected",
    "revenue_per_hour",
    "regulatory",
    "reputational",
)
_NOT_NULL = ("title", "summary", "severity", "type", "visibility", "regulatory", "reputational")


async def update_incident(
    session: AsyncSession, who: Who, ref: str, body: IncidentPatch
) -> IncidentOut:
    require(who, Permission.INCIDENT_WRITE)
    incident = await load(session, who, ref)
    sent = body.model_dump(exclude_unset=True, exclude={"reason"})
    for name in _NOT_NULL:
        if name in sent and sent[name] is None:
            raise Invalid(name, "may not be null")
    if "severity" in sent:
        await _check_severity(session, sent["severity"])
    checked = {}
    for kind, (field, _) in _LOOKUPS.items():
        if sent.get(field) is not None:
            checked[kind] = await _check_slugs(session, kind, sent[field])
    actor = actor_of(who)
    before = await state(session, incident)
    old_severity = incident.severity
    for name in _COLUMNS:
        if name in sent:
            value = sent[name]
            setattr(incident, name, value.value if hasattr(value, "value") else value)
    for kind, slugs in checked.items():
        await _replace_affected(session, incident.id, kind, slugs)
    if body.links is not None:
        await _replace_links(session, incident.id, body.links)
    after = await state(session, incident)
    changed = sorted(k for k in after if before.get(k) != after.get(k))
    if not changed:
        return await views.full(session, incident)
    if incident.severity != old_severity:
        note(
            session,
            incident,
            actor,
            "severity_changed",
            f"Severity {old_severity} → {incident.severity}",
            {"from": old_severity, "to": incident.severity, "reason": body.reason},
        )
    note(
        session,
        incident,
        actor,
        "updated",
        "Changed " + ", ".join(changed),
        {"fields": changed, "reason": body.reason},
    )
    record(session, actor, "incident.updated", incident, before, after)
    if "severity" in changed:
        await _plan_stakeholder_updates(session, incident)
    # Severity, impact, milestones and roles decide escalation: re-evaluate after this change.
    from tocsin.incidents.escalation.service import replan

    await replan(session, incident.id)
    if "visibility" in changed and incident.visibility == "private":
        # Whoever its open pages reach must keep seeing it (see tocsin.oncall.handoffs).
        from tocsin.oncall.handoffs import follow_incident

        await follow_incident(session, incident.id)
    await finish(session, incident, "incident.updated", fields=changed)
    return await views.full(session, incident)


async def add_participant_by_email(
    session: AsyncSession, who: Who, ref: str, body: ParticipantAdd
) -> IncidentOut:
    require(who, Permission.INCIDENT_WRITE)
    incident = await load(session, who, ref)
    user = await find_user(session, body.user, "user")
    if await add_participant(session, incident.id, user.id):
        actor = actor_of(who)
        note(
            session,
            incident,
            actor,
            "participant_added",
            f"{user.email} joined",
            {"user": user.email},
        )
        record(session, actor, "incident.participant_added", incident, None, {"user": user.email})
        await finish(session, incident, "incident.participants_changed")
    return await views.full(session, incident)


async def incident_id_of(session: AsyncSession, who: Who, ref: str) -> int:
    return (await load(session, who, ref)).id
