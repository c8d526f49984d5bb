"""Status page use cases: pages, components, incidents and maintenances with their updates,
the premature-resolution guard, and subscribers.

Every change that shows on the public page bumps the page's `version` in the same transaction,
which is what the public render cache keys on. Notifying subscribers never happens in the
request: an update enqueues one fan-out job, which splits the subscribers into batch jobs.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import object_session

from tocsin.alerts.models import Alert
from tocsin.audit import service as audit
from tocsin.audit.service import Actor
from tocsin.audit.snapshot import snapshot
from tocsin.auth.permissions import Permission
from tocsin.auth.principal import Principal
from tocsin.auth.secrets import new_secret
from tocsin.catalog.models import Service
from tocsin.checks.models import Check
from tocsin.clock import utcnow
from tocsin.comms import log as comms_log
from tocsin.config import get_settings
from tocsin.errors import Conflict, Invalid, NotFound, ProblemError
from tocsin.incidents import visibility
from tocsin.incidents.models import Incident, IncidentAffected
from tocsin.incidents.service import common as incidents
from tocsin.jobs import service as jobs
from tocsin.statuspage import freshness, rules
from tocsin.statuspage.models import (
    Component,
    ComponentGroup,
    ComponentStatusChange,
    StatusIncident,
    StatusIncidentUpdate,
    StatusPage,
    Subscriber,
)
from tocsin.statuspage.schemas import (
    AffectedIn,
    ComponentCreate,
    ComponentOut,
    ComponentUpdate,
    GroupCreate,
    GroupOut,
    GuardCondition,
    GuardOut,
    IncidentCreate,
    IncidentOut,
    MaintenanceCreate,
    PageCreate,
    PageOut,
    SubscriberCounts,
    UpdateCreate,
    UpdateOut,
)

Who = Principal | Actor
FANOUT_KIND = "statuspage.fanout"
DELIVER_KIND = "statuspage.deliver"
TOKEN_SALT = "tocsin.statuspage.subscriber"


def _actor(who: Who) -> Actor:
    return who.actor if isinstance(who, Principal) else who


def public_url(page: StatusPage) -> str:
    base = get_settings().base_url.rstrip("/")
    return f"{base}/status" if page.is_default else f"{base}/status/{page.slug}"


# --- pages -------------------------------------------------------------------------------


def _page_out(page: StatusPage) -> PageOut:
    return PageOut(
        id=page.id,
        slug=page.slug,
        name=page.name,
        url=page.url,
        time_zone=page.time_zone,
        is_default=page.is_default,
        version=page.version,
        public_url=public_url(page),
    )


async def page_row(session: AsyncSession, slug: str) -> StatusPage:
    page = await session.scalar(sa.select(StatusPage).where(StatusPage.slug == slug))
    if page is None:
        raise NotFound("status page", slug)
    return page


async def default_page(session: AsyncSession) -> StatusPage | None:
    return await session.scalar(sa.select(StatusPage).where(StatusPage.is_default.is_(True)))


async def list_pages(session: AsyncSession) -> list[PageOut]:
    rows = await session.scalars(sa.select(StatusPage).order_by(StatusPage.slug))
    return [_page_out(p) for p in rows]


async def get_page(session: AsyncSession, slug: str) -> PageOut:
    return _page_out(await page_row(session, slug))


async def create_page(session: AsyncSession, who: Who, body: PageCreate) -> PageOut:
    if await session.scalar(sa.select(StatusPage.id).where(StatusPage.slug == body.slug)):
        raise Conflict(f"a status page {body.slug!r} already exists", field="slug")
    is_default = body.is_default or await default_page(session) is None
    if is_default:
        await session.execute(
            sa.update(StatusPage).values(is_default=False, version=StatusPage.version + 1)
        )
    page = StatusPage(
        slug=body.slug,
        name=body.name,
        url=body.url,
        time_zone=body.time_zone,
        is_default=is_default,
        version=1,
    )
    session.add(page)
    await session.flush()
    session.info[freshness.TOUCHED] = True
    audit.record(session, _actor(who), "create", "status_page", page.slug, after=snapshot(page))
    out = _page_out(page)
    await session.commit()
    return out


def touch(page: StatusPage) -> None:
    """The public page changed: renders cached under the old version are stale."""
    page.version = page.version + 1
    page.updated_at = utcnow()
    session = object_session(page)
    if session is not None:
        session.info[freshness.TOUCHED] = True


# --- components --------------------------------------------------------------------------


async def _service_slugs(session: AsyncSession, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = await session.execute(sa.select(Service.id, Service.slug).where(Service.id.in_(ids)))
    return {r[0]: r[1] for r in rows}


def _component_out(row: Component, slugs: dict[int, str]) -> ComponentOut:
    return ComponentOut(
        id=row.id,
        name=row.name,
        description=row.description,
        group_id=row.group_id,
        service=slugs.get(row.service_id) if row.service_id else None,
        status=row.status,
        position=row.position,
        only_show_if_degraded=row.only_show_if_degraded,
    )


async def components_of(session: AsyncSession, page_id: int) -> list[Component]:
    return list(
        await session.scalars(
            sa.select(Component)
            .where(Component.page_id == page_id)
            .order_by(Component.position, Component.id)
        )
    )


async def groups_of(session: AsyncSession, page_id: int) -> list[ComponentGroup]:
    return list(
        await session.scalars(
            sa.select(ComponentGroup)
            .where(ComponentGroup.page_id == page_id)
            .order_by(ComponentGroup.position, ComponentGroup.id)
        )
    )


async def list_components(session: AsyncSession, slug: str) -> list[ComponentOut]:
    page = await page_row(session, slug)
    rows = await components_of(session, page.id)
    slugs = await _service_slugs(session, {r.service_id for r in rows if r.service_id})
    return [_component_out(r, slugs) for r in rows]


async def list_groups(session: AsyncSession, slug: str) -> list[GroupOut]:
    page = await page_row(session, slug)
    return [GroupOut.model_validate(g) for g in await groups_of(session, page.id)]


async def create_group(session: AsyncSession, who: Who, slug: str, body: GroupCreate) -> GroupOut:
    page = await page_row(session, slug)
    group = ComponentGroup(
        page_id=page.id, name=body.name, description=body.description, position=body.position
    )
    session.add(group)
    await session.flush()
    touch(page)
    audit.record(
        session, _actor(who), "create", "status_component_group", group.id, after=snapshot(group)
    )
    out = GroupOut.model_validate(group)
    await session.commit()
    return out


async def create_component(
    session: AsyncSession, who: Who, slug: str, body: ComponentCreate
) -> ComponentOut:
    page = await page_row(session, slug)
    service_id = None
    if body.service is not None:
        service_id = await session.scalar(sa.select(Service.id).where(Service.slug == body.service))
        if service_id is None:
            raise Invalid("service", f"there is no service {body.service!r}")
    if body.group_id is not None:
        group = await session.get(ComponentGroup, body.group_id)
        if group is None or group.page_id != page.id:
            raise Invalid("group_id", "there is no such group on this page")
    now = utcnow()
    row = Component(
        page_id=page.id,
        group_id=body.group_id,
        service_id=service_id,
        name=body.name,
        description=body.description,
        status=body.status,
        position=body.position,
        only_show_if_degraded=body.only_show_if_degraded,
        start_date=now,
    )
    session.add(row)
    await session.flush()
    session.add(ComponentStatusChange(component_id=row.id, status=row.status, at=now))
    touch(page)
    audit.record(session, _actor(who), "create", "status_component", row.id, after=snapshot(row))
    out = _component_out(row, {service_id: body.service} if service_id and body.service else {})
    await session.commit()
    return out


async def _component(session: AsyncSession, page: StatusPage, component_id: int) -> Component:
    row = await session.get(Component, component_id)
    if row is None or row.page_id != page.id:
        raise NotFound("component", component_id)
    return row


def _set_status(session: AsyncSession, row: Component, status: str) -> dict[str, str] | None:
    """Change a component's state, recording it for the uptime history; the Statuspage-style
    `affected_components` entry, or None when nothing changed."""
    if row.status == status:
        return None
    old, row.status = row.status, status
    session.add(ComponentStatusChange(component_id=row.id, status=status, at=utcnow()))
    return {"code": str(row.id), "name": row.name, "old_status": old, "new_status": status}


async def update_component(
    session: AsyncSession, who: Who, slug: str, component_id: int, body: ComponentUpdate
) -> ComponentOut:
    page = await page_row(session, slug)
    row = await _component(session, page, component_id)
    before = snapshot(row)
    if body.name is not None:
        row.name = body.name
    if body.description is not None:
        row.description = body.description
    if body.position is not None:
        row.position = body.position
    if body.status is not None:
        _set_status(session, row, body.status)
    await session.flush()
    touch(page)
    audit.record(
        session,
        _actor(who),
        "update",
        "status_component",
        row.id,
        before=before,
        after=snapshot(row),
    )
    slugs = await _service_slugs(session, {row.service_id} if row.service_id else set())
    out = _component_out(row, slugs)
    await session.commit()
    return out


async def component_history(
    session: AsyncSession, component_ids: list[int]
) -> dict[int, list[tuple[Any, str]]]:
    since = utcnow() - timedelta(days=91)
    rows = await session.execute(
        sa.select(
            ComponentStatusChange.component_id,
            ComponentStatusChange.at,
            ComponentStatusChange.status,
        )
        .where(ComponentStatusChange.component_id.in_(component_ids))
        .order_by(
            ComponentStatusChange.component_id, ComponentStatusChange.at, ComponentStatusChange.id
        )
    )
    found: dict[int, list[tuple[Any, str]]] = {i: [] for i in component_ids}
    for component_id, at, status in rows:
        history = found[component_id]
        if at < since and history and history[-1][0] < since:
            history[-1] = (at, status)  # only the state in force at the window's start counts
        else:
            history.append((at, status))
    return found


# --- incidents and maintenances ----------------------------------------------------------


async def _updates(session: AsyncSession, ids: list[int]) -> dict[int, list[StatusIncidentUpdate]]:
    found: dict[int, list[StatusIncidentUpdate]] = {i: [] for i in ids}
    if not ids:
        return found
    rows = await session.scalars(
        sa.select(StatusIncidentUpdate)
        .where(StatusIncidentUpdate.status_incident_id.in_(ids))
        .order_by(StatusIncidentUpdate.at.desc(), StatusIncidentUpdate.id.desc())
    )
    for row in rows:
        found[row.status_incident_id].append(row)
    return found


async def incidents_of(
    session: AsyncSession, page_id: int, *, limit: int = 50
) -> tuple[list[StatusIncident], dict[int, list[StatusIncidentUpdate]]]:
    rows = list(
        await session.scalars(
            sa.select(StatusIncident)
            .where(StatusIncident.page_id == page_id)
            .order_by(StatusIncident.started_at.desc(), StatusIncident.id.desc())
            .limit(limit)
        )
    )
    return rows, await _updates(session, [r.id for r in rows])


def _update_out(row: StatusIncidentUpdate) -> UpdateOut:
    return UpdateOut(
        id=row.id,
        status=row.status,
        body=row.body,
        at=row.at,
        author=row.author,
        affected_components=list(row.affected_components),
    )


async def _linked_ref(session: AsyncSession, who: Who, incident_id: int | None) -> str | None:
    """The linked incident's ref, only for callers who may see that incident."""
    if incident_id is None:
        return None
    incident = await session.get(Incident, incident_id)
    if incident is None:
        return None
    participants = await incidents.participant_ids(session, incident_id)
    if not visibility.may_see(who, incident.visibility, participants):
        return None
    return incidents.ref_of(incident_id)


async def _incident_out(
    session: AsyncSession, who: Who, row: StatusIncident, updates: list[StatusIncidentUpdate]
) -> IncidentOut:
    return IncidentOut(
        id=row.id,
        kind=row.kind,
        name=row.name,
        status=row.status,
        impact=row.impact,
        incident=await _linked_ref(session, who, row.incident_id),
        component_ids=[int(i) for i in row.component_ids],
        started_at=row.started_at,
        resolved_at=row.resolved_at,
        scheduled_for=row.scheduled_for,
        scheduled_until=row.scheduled_until,
        updates=[_update_out(u) for u in updates],
    )


async def list_incidents(session: AsyncSession, who: Who, slug: str) -> list[IncidentOut]:
    page = await page_row(session, slug)
    rows, updates = await incidents_of(session, page.id, limit=200)
    return [await _incident_out(session, who, r, updates[r.id]) for r in rows]


async def _status_incident(
    session: AsyncSession, page: StatusPage, incident_id: int
) -> StatusIncident:
    row = await session.get(StatusIncident, incident_id)
    if row is None or row.page_id != page.id:
        raise NotFound("status-page incident", incident_id)
    return row


async def get_incident(session: AsyncSession, who: Who, slug: str, incident_id: int) -> IncidentOut:
    page = await page_row(session, slug)
    row = await _status_incident(session, page, incident_id)
    return await _incident_out(session, who, row, (await _updates(session, [row.id]))[row.id])


async def _apply_components(
    session: AsyncSession, page: StatusPage, affected: list[AffectedIn], field: str
) -> tuple[list[int], list[dict[str, str]]]:
    ids, changes = [], []
    for index, item in enumerate(affected):
        row = await session.get(Component, item.component_id)
        if row is None or row.page_id != page.id:
            raise Invalid(
                f"{field}/{index}/component_id", "there is no such component on this page"
            )
        ids.append(row.id)
        change = _set_status(session, row, item.status)
        if change:
            changes.append(change)
    return ids, changes


def _author(who: Who) -> str:
    return _actor(who).label


async def _notify(session: AsyncSession, update: StatusIncidentUpdate) -> None:
    await jobs.enqueue(
        session,
        FANOUT_KIND,
        {"update_id": update.id},
        idempotency_key=f"{FANOUT_KIND}:{update.id}",
    )


async def _comms_log(
    session: AsyncSession,
    who: Who,
    page: StatusPage,
    row: StatusIncident,
    update: StatusIncidentUpdate,
) -> None:
    """The comms log keeps the exact words the public page now shows."""
    await comms_log.record(
        session,
        incident_id=row.incident_id,
        kind="status_page_update",
        channel="status_page",
        audience="public",
        recipients=f"public status page {page.slug}",
        text=f"{row.name} — {rules.LABELS.get(update.status, update.status)}: {update.body}",
        actor=_actor(who),
    )


async def create_incident(
    session: AsyncSession, who: Who, slug: str, body: IncidentCreate
) -> IncidentOut:
    page = await page_row(session, slug)
    linked = None
    if body.incident is not None:
        try:
            linked = await incidents.load(session, who, body.incident)
        except NotFound:
            raise Invalid("incident", f"there is no incident {body.incident!r}") from None
    if body.status in ("resolved", "postmortem"):
        raise Invalid("status", "a new incident starts unresolved")
    ids, changes = await _apply_components(session, page, body.components, "components")
    now = utcnow()
    row = StatusIncident(
        page_id=page.id,
        kind="incident",
        name=body.name,
        status=body.status,
        impact=body.impact,
        incident_id=linked.id if linked else None,
        component_ids=ids,
        started_at=now,
        monitoring_at=now if body.status == "monitoring" else None,
    )
    session.add(row)
    await session.flush()
    update = StatusIncidentUpdate(
        status_incident_id=row.id,
        status=row.status,
        body=body.body,
        at=now,
        affected_components=changes,
        author=_author(who),
    )
    session.add(update)
    await session.flush()
    touch(page)
    audit.record(session, _actor(who), "create", "status_incident", row.id, after=snapshot(row))
    if linked is not None:
        incidents.note(
            session,
            linked,
            _actor(who),
            "status_page_published",
            f"Published on the status page {page.slug}: {row.name}",
            {"status_incident_id": row.id},
        )
    await _comms_log(session, who, page, row, update)
    if body.notify:
        await _notify(session, update)
    out = await _incident_out(session, who, row, [update])
    await session.commit()
    return out


async def create_maintenance(
    session: AsyncSession, who: Who, slug: str, body: MaintenanceCreate
) -> IncidentOut:
    page = await page_row(session, slug)
    if body.scheduled_until <= body.scheduled_for:
        raise Invalid("scheduled_until", "must be after scheduled_for")
    for index, component_id in enumerate(body.components):
        await _component_from_field(session, page, component_id, f"components/{index}")
    now = utcnow()
    row = StatusIncident(
        page_id=page.id,
        kind="maintenance",
        name=body.name,
        status=rules.MaintenanceStatus.SCHEDULED.value,
        impact=body.impact,
        component_ids=list(body.components),
        started_at=body.scheduled_for,
        scheduled_for=body.scheduled_for,
        scheduled_until=body.scheduled_until,
    )
    session.add(row)
    await session.flush()
    update = StatusIncidentUpdate(
        status_incident_id=row.id,
        status=row.status,
        body=body.body,
        at=now,
        affected_components=[],
        author=_author(who),
    )
    session.add(update)
    await session.flush()
    touch(page)
    audit.record(session, _actor(who), "create", "status_maintenance", row.id, after=snapshot(row))
    await _comms_log(session, who, page, row, update)
    if body.notify:
        await _notify(session, update)
    out = await _incident_out(session, who, row, [update])
    await session.commit()
    return out


async def _component_from_field(
    session: AsyncSession, page: StatusPage, component_id: int, field: str
) -> Component:
    row = await session.get(Component, component_id)
    if row is None or row.page_id != page.id:
        raise Invalid(field, "there is no such component on this page")
    return row


async def check_guard(session: AsyncSession, row: StatusIncident) -> list[rules.Failure]:
    """What stands between this status-page incident and "resolved" (empty when unlinked)."""
    if row.incident_id is None:
        return []
    incident = await session.get(Incident, row.incident_id)
    if incident is None:
        return []
    service_ids = set(
        await session.scalars(
            sa.select(Component.service_id).where(
                Component.id.in_([int(i) for i in row.component_ids]),
                Component.service_id.is_not(None),
            )
        )
    )
    affected = list(
        await session.scalars(
            sa.select(IncidentAffected.slug).where(
                IncidentAffected.incident_id == incident.id, IncidentAffected.kind == "service"
            )
        )
    )
    if affected:
        service_ids |= set(
            await session.scalars(sa.select(Service.id).where(Service.slug.in_(affected)))
        )
    slugs = await _service_slugs(session, {i for i in service_ids if i is not None})
    firing = []
    checks: list[rules.CheckState] = []
    if slugs:
        alert_rows = await session.execute(
            sa.select(Alert.service_id, Alert.summary).where(
                Alert.service_id.in_(slugs), Alert.status == "firing"
            )
        )
        firing = [(slugs[s], summary) for s, summary in alert_rows]
        check_rows = await session.scalars(
            sa.select(Check).where(Check.service_id.in_(slugs), Check.enabled.is_(True))
        )
        checks = [rules.CheckState(c.slug, slugs[c.service_id], c.green_since) for c in check_rows]
    return rules.guard(
        incident_ref=incidents.ref_of(incident.id),
        incident_status=incident.status,
        firing=firing,
        checks=checks,
        now=utcnow(),
        monitoring=timedelta(minutes=get_settings().statuspage_monitoring_minutes),
    )


async def guard_status(session: AsyncSession, slug: str, incident_id: int) -> GuardOut:
    page = await page_row(session, slug)
    row = await _status_incident(session, page, incident_id)
    failures = await check_guard(session, row)
    return GuardOut(
        failures=[GuardCondition(condition=f.condition, message=f.message) for f in failures]
    )


def _refusal(failures: list[rules.Failure]) -> ProblemError:
    return ProblemError(
        409,
        "Resolution refused",
        "the linked incident is not over yet: " + "; ".join(f.message for f in failures),
        errors=[
            {"field": "status", "condition": f.condition, "message": f.message} for f in failures
        ],
        extra={"conditions": [f.condition for f in failures]},
    )


async def post_update(
    session: AsyncSession, who: Who, slug: str, incident_id: int, body: UpdateCreate
) -> IncidentOut:
    page = await page_row(session, slug)
    row = await _status_incident(session, page, incident_id)
    allowed = (
        {s.value for s in rules.MaintenanceStatus}
        if row.kind == "maintenance"
        else {s.value for s in rules.IncidentStatus}
    )
    if body.status not in allowed:
        raise Invalid("status", f"must be one of {', '.join(sorted(allowed))}")
    if body.override and not body.justification.strip():
        raise Invalid("justification", "an override needs a justification")
    overridden: list[rules.Failure] = []
    if row.kind == "incident" and body.status == "resolved" and row.status != "resolved":
        failures = await check_guard(session, row)
        if failures and not body.override:
            raise _refusal(failures)
        if failures:
            if isinstance(who, Principal) and not who.can(Permission.STATUSPAGE_OVERRIDE):
                raise ProblemError(
                    403,
                    "Forbidden",
                    f"overriding the guard needs the {Permission.STATUSPAGE_OVERRIDE.value} "
                    "permission",
                )
            overridden = failures
    before = snapshot(row)
    ids, changes = await _apply_components(session, page, body.components, "components")
    row.component_ids = sorted({*[int(i) for i in row.component_ids], *ids})
    now = utcnow()
    row.status = body.status
    if body.impact is not None:
        row.impact = body.impact
    if body.status == "monitoring" and row.monitoring_at is None:
        row.monitoring_at = now
    if body.status in ("resolved", "completed") and row.resolved_at is None:
        row.resolved_at = now
    if body.status in rules.UNRESOLVED:
        row.resolved_at = None  # re-opened
    update = StatusIncidentUpdate(
        status_incident_id=row.id,
        status=body.status,
        body=body.body,
        at=now,
        affected_components=changes,
        author=_author(who),
    )
    session.add(update)
    await session.flush()
    touch(page)
    audit.record(
        session,
        _actor(who),
        "update",
        f"status_{row.kind}",
        row.id,
        before=before,
        after={**snapshot(row), "override": bool(overridden)},
    )
    if overridden and row.incident_id is not None:
        incident = await session.get(Incident, row.incident_id)
        if incident is not None:
            incidents.note(
                session,
                incident,
                _actor(who),
                "deviation",
                "Status page incident resolved against the premature-resolution guard: "
                f"{body.justification.strip()}",
                {
                    "source": "status_page",
                    "status_incident_id": row.id,
                    "justification": body.justification.strip(),
                    "conditions": [
                        {"condition": f.condition, "message": f.message} for f in overridden
                    ],
                },
            )
    await _comms_log(session, who, page, row, update)
    if body.notify:
        await _notify(session, update)
    updates = (await _updates(session, [row.id]))[row.id]
    out = await _incident_out(session, who, row, updates)
    await session.commit()
    return out


# --- subscribers -------------------------------------------------------------------------


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(get_settings().secret_key, salt=TOKEN_SALT)


def subscriber_token(subscriber: Subscriber, purpose: str) -> str:
    return _serializer().dumps({"s": subscriber.id, "p": purpose})


def link(subscriber: Subscriber, purpose: str) -> str:
    base = get_settings().base_url.rstrip("/")
    return f"{base}/status/{purpose}/{subscriber_token(subscriber, purpose)}"


async def read_token(session: AsyncSession, token: str, purpose: str) -> Subscriber:
    try:
        data = _serializer().loads(token)
    except BadSignature:
        raise ProblemError(400, "Invalid link", "this link is not valid") from None
    if not isinstance(data, dict) or data.get("p") != purpose:
        raise ProblemError(400, "Invalid link", "this link is not valid")
    row = await session.get(Subscriber, int(data["s"]))
    if row is None:
        raise ProblemError(410, "Gone", "this subscription no longer exists")
    return row


def _valid_email(address: str) -> bool:
    local, at, domain = address.partition("@")
    return bool(at and local and "." in domain and " " not in address and len(address) <= 320)


def _valid_webhook(url: str) -> bool:
    return url.startswith(("https://", "http://")) and len(url) <= 2000 and " " not in url


async def subscribe(
    session: AsyncSession,
    page: StatusPage,
    *,
    email: str | None,
    webhook: str | None,
    component_ids: list[int],
) -> Subscriber:
    """A new (or renewed) subscription. E-mail waits for its confirmation link; a webhook is
    confirmed at once (nobody reads a webhook's inbox)."""
    if bool(email) == bool(webhook):
        raise Invalid("email", "give either an e-mail address or a webhook URL")
    if email and not _valid_email(email):
        raise Invalid("email", "is not an e-mail address")
    if webhook and not _valid_webhook(webhook):
        raise Invalid("webhook", "must be an http(s) URL")
    if email and not page.email_subscriptions:
        raise Invalid("email", "this page does not take e-mail subscriptions")
    if webhook and not page.webhook_subscriptions:
        raise Invalid("webhook", "this page does not take webhook subscriptions")
    known = set(await session.scalars(sa.select(Component.id).where(Component.page_id == page.id)))
    for index, component_id in enumerate(component_ids):
        if component_id not in known:
            raise Invalid(f"components/{index}", "there is no such component on this page")
    mode, address = ("email", email.lower()) if email else ("webhook", webhook or "")
    row = await session.scalar(
        sa.select(Subscriber).where(
            Subscriber.page_id == page.id, Subscriber.mode == mode, Subscriber.address == address
        )
    )
    now = utcnow()
    if row is None:
        row = Subscriber(page_id=page.id, mode=mode, address=address)
        session.add(row)
    row.component_ids = sorted(set(component_ids))
    if mode == "email" and row.unsubscribed_at is not None:
        row.confirmed_at = None  # coming back needs the address's consent again
    row.unsubscribed_at = None
    if mode == "webhook":
        row.confirmed_at = row.confirmed_at or now
        row.secret = new_secret("whsec_")
    await session.flush()
    audit.record(
        session,
        Actor.system("status page"),
        "subscribe",
        "status_subscriber",
        row.id,
        after={"mode": mode, "page": page.slug, "components": row.component_ids},
    )
    if mode == "email" and row.confirmed_at is None:
        await jobs.enqueue(session, DELIVER_KIND, {"confirm": row.id})
    await session.commit()
    return row


async def confirm(session: AsyncSession, token: str) -> Subscriber:
    row = await read_token(session, token, "confirm")
    if row.confirmed_at is None or row.unsubscribed_at is not None:
        row.confirmed_at = utcnow()
        row.unsubscribed_at = None
        audit.record(session, Actor.system("status page"), "confirm", "status_subscriber", row.id)
    await session.commit()
    return row


async def unsubscribe(session: AsyncSession, token: str) -> Subscriber:
    row = await read_token(session, token, "unsubscribe")
    if row.unsubscribed_at is None:
        row.unsubscribed_at = utcnow()
        audit.record(
            session, Actor.system("status page"), "unsubscribe", "status_subscriber", row.id
        )
    await session.commit()
    return row


async def subscriber_counts(session: AsyncSession, slug: str) -> SubscriberCounts:
    page = await page_row(session, slug)
    rows = await session.execute(
        sa.select(Subscriber.mode, Subscriber.confirmed_at.is_not(None), sa.func.count())
        .where(Subscriber.page_id == page.id, Subscriber.unsubscribed_at.is_(None))
        .group_by(Subscriber.mode, Subscriber.confirmed_at.is_not(None))
    )
    counts = {"email_confirmed": 0, "email_pending": 0, "webhook": 0}
    for mode, confirmed, n in rows:
        if mode == "webhook":
            counts["webhook"] += int(n)
        else:
            counts["email_confirmed" if confirmed else "email_pending"] += int(n)
    return SubscriberCounts(**counts)
