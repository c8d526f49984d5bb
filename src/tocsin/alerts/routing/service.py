"""Routing rules, and what the pipeline does with them: what people declare, and the
incidents the rules open (tickets are `tickets`).

The pipeline (`tocsin.alerts.service.pipeline`) calls `act` once a group has decided to act,
`follow` for later alerts of a group that already acted, `join` when an alert attaches to an
incident a rule opened, and `group_resolved` when the last alert of a group resolves. Each
runs inside the pipeline job's transaction.

Declaring an incident commits (its timers and live pages need it durable), so a decision
that opens one spans two transactions. Everything after the declaration — the group's link
to it, the decision, private members, the page — is written by one idempotent step in the
job's final transaction. The incident is found again through its link to the alert group,
written in the same transaction that declares it, so a job that dies after the declaration
and is retried never declares twice and still pages: `follow` (or `join`, when the retried
alert meets its own incident first) sees the group's incident with no decision yet and
finishes the step, recording the decision the first attempt would have.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from tocsin.alerts import matchers as matching
from tocsin.alerts.correlation import group_key
from tocsin.alerts.models import Alert, AlertGroup
from tocsin.alerts.normalized import AlertStatus
from tocsin.alerts.paging import page_request
from tocsin.alerts.routing import members, tickets
from tocsin.alerts.routing.decisions import ROUTER, decide
from tocsin.alerts.routing.models import RoutingRule
from tocsin.alerts.routing.refs import group_url
from tocsin.alerts.routing.schemas import Action, RoutingRuleIn, RoutingRuleOut, TrackerIn
from tocsin.alerts.routing.severity import Mapped, incident_severity
from tocsin.alerts.routing.ticketing import missing_settings
from tocsin.alerts.service.integrations import Who, _actor, service_slugs
from tocsin.audit import service as audit
from tocsin.audit.snapshot import snapshot
from tocsin.catalog import service as catalog
from tocsin.catalog.models import Service, Team
from tocsin.clock import utcnow
from tocsin.config import get_settings
from tocsin.errors import Invalid, NotFound
from tocsin.incidents.lifecycle import ACTIVE
from tocsin.incidents.models import Incident, IncidentLink
from tocsin.incidents.schemas import IncidentDeclare, LinkIn, LinkKind, Visibility
from tocsin.incidents.service.common import note, ref_of

INCIDENT = "incident"


# --- rules ----------------------------------------------------------------------------------


async def _rule_out(session: AsyncSession, row: RoutingRule) -> RoutingRuleOut:
    service = team = None
    if row.service_id is not None:
        service = (await service_slugs(session, {row.service_id}))[row.service_id]
    if row.team_id is not None:
        team = await session.scalar(sa.select(Team.slug).where(Team.id == row.team_id))
    return RoutingRuleOut(
        id=row.id,
        slug=row.slug,
        service=service,
        team=team,
        position=row.position,
        matchers=list(row.matchers),
        action=Action(row.action),
        severity_label=row.severity_label,
        severity_map=dict(row.severity_map),
        default_severity=row.default_severity,
        page=row.page,
        visibility=Visibility(row.visibility),
        tracker=None if row.tracker is None else dict(row.tracker),
    )


async def _check(session: AsyncSession, body: RoutingRuleIn) -> tuple[int | None, int | None]:
    """Validate everything before anything is written; (service id, team id)."""
    if (body.service is None) == (body.team is None):
        raise Invalid("service", "give exactly one of service or team")
    try:
        matching.parse([m.model_dump() for m in body.matchers])
    except matching.MatcherError as exc:
        raise Invalid("matchers", str(exc)) from None
    if not matching.LABEL_NAME.match(body.severity_label):
        raise Invalid("severity_label", f"invalid label name {body.severity_label!r}")
    if body.visibility == Visibility.PRIVATE and body.action != Action.INCIDENT:
        raise Invalid("visibility", "only an incident rule opens something private")
    if body.tracker is not None:
        if body.action != Action.TICKET:
            raise Invalid("tracker", "only a ticket rule files tickets in a tracker")
        problem = missing_settings(body.tracker.kind, get_settings())
        if problem is not None:
            raise Invalid("tracker.kind", problem)
    if body.action == Action.INCIDENT:
        from tocsin.policy import service as policy

        known = await policy.severity_slugs(session)
        listed = ", ".join(sorted(known)) or "none are defined yet"
        for key, slug in body.severity_map.items():
            if slug not in known:
                raise Invalid(f"severity_map.{key}", f"unknown severity {slug!r} (known: {listed})")
        if body.default_severity not in known:
            raise Invalid(
                "default_severity",
                f"unknown severity {body.default_severity!r} (known: {listed})",
            )
    if body.service is not None:
        try:
            return await catalog.service_id(session, body.service), None
        except NotFound:
            raise Invalid("service", f"no service {body.service!r} in the catalog") from None
    team_id = await session.scalar(sa.select(Team.id).where(Team.slug == body.team))
    if team_id is None:
        raise Invalid("team", f"no team {body.team!r} in the catalog")
    return None, team_id


async def put_rule(
    session: AsyncSession, who: Who, body: RoutingRuleIn, *, commit: bool = True
) -> RoutingRuleOut:
    """Create or replace the rule named `body.slug`."""
    service_id, team_id = await _check(session, body)
    row = await session.scalar(sa.select(RoutingRule).where(RoutingRule.slug == body.slug))
    before = snapshot(row) if row is not None else None
    if row is None:
        row = RoutingRule(slug=body.slug)
        session.add(row)
    row.service_id, row.team_id = service_id, team_id
    row.position = body.position
    row.matchers = [m.as_dict() for m in matching.parse([m.model_dump() for m in body.matchers])]
    row.action = body.action.value
    row.severity_label = body.severity_label
    row.severity_map = dict(body.severity_map)
    row.default_severity = body.default_severity
    row.page = body.page
    row.visibility = body.visibility.value
    row.tracker = _tracker(body.tracker)
    await session.flush()
    audit.record(
        session,
        _actor(who),
        "update" if before else "create",
        "routing-rule",
        row.id,
        before=before,
        after=snapshot(row),
    )
    if commit:
        await session.commit()
    return await _rule_out(session, row)


def _tracker(body: TrackerIn | None) -> dict[str, Any] | None:
    return None if body is None else body.model_dump(mode="json")


async def list_rules(session: AsyncSession) -> list[RoutingRuleOut]:
    rows = await session.scalars(
        sa.select(RoutingRule).order_by(RoutingRule.position, RoutingRule.id)
    )
    return [await _rule_out(session, row) for row in rows]


async def delete_rule(session: AsyncSession, who: Who, slug: str) -> None:
    row = await session.scalar(sa.select(RoutingRule).where(RoutingRule.slug == slug))
    if row is None:
        raise NotFound("routing rule", slug)
    audit.record(session, _actor(who), "delete", "routing-rule", row.id, before=snapshot(row))
    await session.delete(row)
    await session.commit()


async def rule_for(
    session: AsyncSession, service: Service, labels: dict[str, object]
) -> RoutingRule | None:
    """The first matching rule of the service, else of its owning team; None: page."""
    scopes = [RoutingRule.service_id == service.id]
    if service.owner_team_id is not None:
        scopes.append(RoutingRule.team_id == service.owner_team_id)
    for scope in scopes:
        rows = await session.scalars(
            sa.select(RoutingRule).where(scope).order_by(RoutingRule.position, RoutingRule.id)
        )
        for row in rows:
            found = matching.parse(row.matchers)
            if not found or matching.matches_all(found, labels):
                return row
    return None


# --- the pipeline's side ----------------------------------------------------------------------


@dataclass(frozen=True)
class Acted:
    """What `act` did: whether the pipeline should still page the group the usual way, and
    the incident it opened (which `act` has paged itself when its rule says so)."""

    page: bool
    incident_id: int | None = None


async def _linked_incident(session: AsyncSession, group_id: int) -> int | None:
    found = await session.scalar(
        sa.select(IncidentLink.incident_id)
        .where(IncidentLink.url == group_url(group_id), IncidentLink.kind == LinkKind.ALERT.value)
        .order_by(IncidentLink.incident_id)
        .limit(1)
    )
    return None if found is None else int(found)


async def act(
    session: AsyncSession, row: Alert, service: Service, group: AlertGroup, now: datetime
) -> Acted:
    """Apply the first matching rule to a group that decided to act. May commit (declaring
    an incident commits); everything written before is consistent on its own, and what must
    follow the declaration is finished by `_opened`, which a retried job runs again."""
    rule = await rule_for(session, service, row.labels)
    if rule is None or rule.action == Action.PAGE.value:
        return Acted(page=True)
    group.paged_at = now
    if rule.action == Action.TICKET.value:
        await tickets.open_ticket(session, row, service, group, rule, now)
        return Acted(page=False)
    incident_id = await _linked_incident(session, group.id)
    if incident_id is None:
        incident_id = await _declare(session, row, service, group, rule, _severity(row, rule))
        group = await session.get(AlertGroup, group.id) or group
        row = await session.get(Alert, row.id) or row
        service = await session.get(Service, service.id) or service
    await _opened(session, row, service, group, rule, incident_id, now)
    return Acted(page=False, incident_id=incident_id)


def _severity(row: Alert, rule: RoutingRule) -> Mapped:
    return incident_severity(
        row.labels, row.severity, rule.severity_label, rule.severity_map, rule.default_severity
    )


async def _declare(
    session: AsyncSession,
    row: Alert,
    service: Service,
    group: AlertGroup,
    rule: RoutingRule,
    mapped: Mapped,
) -> int:
    """Declare the rule's incident, linked to the group. Commits."""
    from tocsin.incidents.service import incidents

    await session.flush()
    name = row.summary or str(row.labels.get("alertname", "alert"))
    out = await incidents.declare(
        session,
        ROUTER,
        IncidentDeclare(
            title=f"[{service.slug}] {name}"[:200],
            summary=f"Opened by routing rule {rule.slug} from alert group #{group.id}.",
            severity=mapped.severity,
            visibility=Visibility(rule.visibility),
            services=[service.slug],
            links=[
                LinkIn(
                    kind=LinkKind.ALERT, url=group_url(group.id), title=f"Alert group #{group.id}"
                )
            ],
            impact_started_at=row.starts_at if row.starts_at <= utcnow() else None,
        ),
    )
    return out.id


async def _opened(
    session: AsyncSession,
    row: Alert,
    service: Service,
    group: AlertGroup,
    rule: RoutingRule | None,
    incident_id: int,
    now: datetime,
) -> None:
    """Everything that follows a rule's declaration, in the job's last transaction, written
    so that running it again changes nothing: the group's link, the decisions, the private
    incident's members and the page (queued under the pipeline's own dedup key)."""
    incident = await session.get(Incident, incident_id)
    assert incident is not None
    private = incident.visibility == Visibility.PRIVATE.value
    group.incident_id = incident_id
    group.paged_at = group.paged_at or now
    name = "a private incident" if private else f"incident {ref_of(incident_id)}"
    if rule is not None and rule.action == Action.INCIDENT.value:
        mapped = _severity(row, rule)
        why = f"{mapped.severity} from {mapped.why}; routing rule {rule.slug}"
    else:  # the rule changed between the declaration and a retry
        why = f"{incident.severity}; a routing rule that has since changed"
    ref = f"incident:{incident_id}"
    decide(session, row, INCIDENT, f"opened {name} ({why})", ref, now)
    await _attach_members(session, row, group, incident_id, now)
    if private:
        await members.admit(session, incident, service, ROUTER, now)
    if rule is None or rule.page:
        await _page(session, service, row, group, incident_id)


async def _page(
    session: AsyncSession, service: Service, row: Alert, group: AlertGroup, incident_id: int
) -> None:
    """Queue the page of the incident's group, keyed like every page of a group, so a second
    queueing (a retry, another alert of the group deciding at once) adds nothing."""
    from tocsin.oncall import service as oncall

    request = page_request(service, row, f"alert-group:{group.id}", incident_id, group.id)
    await oncall.queue_page(session, request)


async def _unfinished(session: AsyncSession, row: Alert, group: AlertGroup, now: datetime) -> bool:
    """A group whose rule declared an incident, but whose job died before it recorded the
    incident and paged: finish that now. False when the group is not in that state."""
    if group.incident_id is not None:
        return False
    incident_id = await _linked_incident(session, group.id)
    if incident_id is None:
        return False
    service = await session.get(Service, group.service_id)
    assert service is not None
    rule = await rule_for(session, service, row.labels)
    await _opened(session, row, service, group, rule, incident_id, now)
    return True


async def _attach_members(
    session: AsyncSession, row: Alert, group: AlertGroup, incident_id: int, now: datetime
) -> None:
    members = await session.scalars(
        sa.select(Alert).where(
            Alert.group_id == group.id,
            Alert.id != row.id,
            Alert.status == AlertStatus.FIRING.value,
        )
    )
    for member in members:
        decide(
            session,
            member,
            "attached",
            f"attached to incident {ref_of(incident_id)} opened for group #{group.id}",
            f"incident:{incident_id}",
            now,
        )


async def follow(session: AsyncSession, row: Alert, group: AlertGroup, now: datetime) -> bool:
    """A later alert of a group that already opened an incident or a ticket joins it."""
    if await _unfinished(session, row, group, now):
        return True
    incident = None if group.incident_id is None else await session.get(Incident, group.incident_id)
    if incident is not None and incident.status in {s.value for s in ACTIVE}:
        ref = f"incident:{group.incident_id}"
        if row.decision_ref != ref:
            note(
                session,
                incident,
                ROUTER,
                "alert.attached",
                f"Alert attached: {row.summary}",
                {"alert_id": row.id, "group_id": group.id, "severity": row.severity},
            )
        private = incident.visibility == "private"
        name = "a private incident" if private else f"incident {ref_of(incident.id)}"
        decide(session, row, "attached", f"attached to {name} of group #{group.id}", ref, now)
        return True
    return await tickets.grouped(session, row, group, now)


async def join(
    session: AsyncSession, row: Alert, service: Service, incident_id: int, group_by: tuple[str, ...]
) -> bool:
    """An alert attached to an incident a rule opened joins that group, so the group resolves
    only when it resolves too.

    The pipeline attaches an alert to its service's open incident before grouping it, so a
    decision retried after dying between its declaration and its page arrives here, not at
    `follow`: its own group is finished (recorded and paged) first. True when that happened:
    the alert's decision is then the incident it opened, not an attachment to it."""
    finished = False
    own = None if row.group_id is None else await session.get(AlertGroup, row.group_id)
    if (
        own is not None
        and own.paged_at is not None
        and await _linked_incident(session, own.id) == incident_id
    ):
        finished = await _unfinished(session, row, own, utcnow())
    key = group_key(service.slug, row.labels, group_by)
    group_id = await session.scalar(
        sa.select(AlertGroup.id).where(
            AlertGroup.service_id == service.id,
            AlertGroup.incident_id == incident_id,
            AlertGroup.key == key,
            AlertGroup.open,
        )
    )
    if group_id is not None:
        row.group_id = group_id
    return finished


async def group_resolved(session: AsyncSession, group: AlertGroup, now: datetime) -> None:
    """Every alert of the group resolved: say so on its incident or ticket (a person closes
    those), and stop the group's page if nobody has acknowledged it yet."""
    from tocsin.oncall import service as oncall
    from tocsin.oncall.models import OncallPage

    members = await session.scalar(
        sa.select(sa.func.count()).select_from(Alert).where(Alert.group_id == group.id)
    )
    if group.incident_id is not None:
        incident = await session.get(Incident, group.incident_id)
        if incident is not None:
            note(
                session,
                incident,
                ROUTER,
                "alerts.resolved",
                f"Alerts resolved: all {members} alert(s) of group #{group.id} have resolved. "
                "The incident stays open until it is closed.",
                {"group_id": group.id, "alerts": members},
            )
    await tickets.alerts_resolved(session, group, now)
    pages = list(
        await session.scalars(
            sa.select(OncallPage.id).where(
                OncallPage.alert_group_id == group.id, OncallPage.status == "open"
            )
        )
    )
    for page_id in pages:
        await oncall.resolve(session, ROUTER, page_id)
