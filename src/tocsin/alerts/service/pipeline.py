"""The pipeline stage after ingestion: decide, for one stored alert, what happens and why.

It runs in the durable "alerts.process" job that ingestion enqueues in its own transaction,
so receiving stays one short transaction and a crash between storing and deciding loses
nothing. One job decides every alert one request changed (`alert_ids`), in the request's
order: during a storm the job bookkeeping then costs once per request instead of per alert.
The facts (silences, maintenance, open incidents, the dependency graph, recent alerts) are
read here; the decisions are taken by the pure `tocsin.alerts.correlation`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from weakref import WeakKeyDictionary

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from tocsin.alerts import matchers as matching
from tocsin.alerts.correlation import (
    DEFAULT_RULE,
    Cause,
    Decision,
    Rule,
    Sighting,
    corroboration,
    group_key,
    inhibiting_cause,
    is_flapping,
    is_synthetic,
)
from tocsin.alerts.maintenance import Window
from tocsin.alerts.models import (
    Alert,
    AlertEvent,
    AlertGroup,
    CorrelationRule,
    MaintenanceWindow,
    Silence,
)
from tocsin.alerts.normalized import AlertStatus, Severity
from tocsin.alerts.paging import page_request
from tocsin.alerts.routing import service as routing
from tocsin.alerts.service import decisions
from tocsin.audit.service import Actor
from tocsin.catalog.graph import DependencyGraph
from tocsin.catalog.graph_cache import cached_dependency_graph
from tocsin.catalog.models import Service
from tocsin.clock import utcnow
from tocsin.db import dialect
from tocsin.incidents.lifecycle import ACTIVE
from tocsin.incidents.models import Incident, IncidentAffected
from tocsin.incidents.service.common import note
from tocsin.jobs import service as jobs
from tocsin.oncall import service as oncall

REEVALUATE_JOB = "alerts.reevaluate"
PROCESS_JOB = "alerts.process"
REEVALUATE_BATCH = 100
STATE_KINDS = ("created", "resolved", "refired")
WATCHDOG = "Watchdog"
PIPELINE = Actor.system("alert pipeline")


def rule_from(row: CorrelationRule) -> Rule:
    return Rule(
        group_by=tuple(row.group_by) or DEFAULT_RULE.group_by,
        group_wait=timedelta(seconds=row.group_wait_seconds),
        min_alerts=row.min_alerts,
        min_sources=row.min_sources,
        window=timedelta(seconds=row.window_seconds),
        flap_changes=row.flap_changes,
        flap_window=timedelta(seconds=row.flap_window_seconds),
    )


_SERVICES_NAMED = sa.select(Service.id, Service.slug).where(
    Service.slug.in_(sa.bindparam("slugs", expanding=True))
)
_OLDEST = sa.func.min(Alert.id)
_OLDEST_CRITICAL = (
    sa.select(Alert.service_id, _OLDEST)
    .where(
        Alert.service_id.in_(sa.bindparam("ids", expanding=True)),
        Alert.status == sa.literal_column(f"'{AlertStatus.FIRING.value}'"),
        Alert.severity == sa.literal_column(f"'{Severity.CRITICAL.value}'"),
    )
    .group_by(Alert.service_id)
    .order_by(_OLDEST)
)
"""The oldest firing critical alert of each of some services. The oldest is enough to name
the cause; during a storm a service may have thousands, and reading them all made every
decision slower. Services are named by id and the values spelt as literals: the shape of
query for which SQLite uses the partial index of firing critical alerts (joined on the slug,
its planner walked every firing alert instead). Built once, like the queries below, since
building a statement for every decision cost more than running it."""
_ACTIVE_SILENCES = (
    sa.select(Silence)
    .where(
        Silence.starts_at <= sa.bindparam("now"),
        Silence.ends_at > sa.bindparam("now"),
        Silence.expired_at.is_(None),
    )
    .order_by(Silence.id)
)
_OPEN_WINDOWS = sa.select(MaintenanceWindow).where(
    MaintenanceWindow.service_id == sa.bindparam("service_id"),
    MaintenanceWindow.ended_at.is_(None),
)
_SERVICE_RULE = sa.select(CorrelationRule).where(
    CorrelationRule.service_id == sa.bindparam("service_id")
)
_TEAM_RULE = sa.select(CorrelationRule).where(CorrelationRule.team_id == sa.bindparam("team_id"))
_STATE_CHANGES = sa.select(AlertEvent.at).where(
    AlertEvent.alert_id == sa.bindparam("alert_id"),
    AlertEvent.kind.in_(STATE_KINDS),
    AlertEvent.at >= sa.bindparam("since"),
)
_OPEN_GROUP = (
    sa.select(AlertGroup)
    .where(
        AlertGroup.service_id == sa.bindparam("service_id"),
        AlertGroup.key == sa.bindparam("key"),
        AlertGroup.open,
    )
    .order_by(AlertGroup.id.desc())
)
_SIGHTINGS = sa.select(
    Alert.last_received_at, Alert.integration_id, Alert.source, Alert.labels
).where(
    Alert.service_id == sa.bindparam("service_id"),
    Alert.status == AlertStatus.FIRING.value,
    Alert.last_received_at >= sa.bindparam("since"),
)


@dataclass
class Topology:
    """What one version of the dependency graph tells every decision: the services upstream of
    each service and the ids of the services named. It is kept with the graph object that
    `cached_dependency_graph` hands out, so it lasts exactly as long as that graph: every
    write of a service or a dependency stamps a new graph version, and the next job gets a
    new graph. Reading the ids of the upstream services for every job was one statement in
    every decision job of a storm, walking the graph another slice of its time."""

    upstream: dict[str, frozenset[str]] = field(default_factory=dict)
    ids: dict[str, int] = field(default_factory=dict)

    def upstream_of(self, graph: DependencyGraph, slug: str) -> frozenset[str]:
        if slug not in self.upstream:
            found = graph.upstream(slug) if slug in graph.nodes else ()
            self.upstream[slug] = frozenset(found)
        return self.upstream[slug]

    async def ids_of(self, session: AsyncSession, slugs: frozenset[str]) -> dict[int, str]:
        """service id -> slug of those of `slugs` that exist."""
        missing = sorted(slug for slug in slugs if slug not in self.ids)
        if missing:
            named = await session.execute(_SERVICES_NAMED, {"slugs": missing})
            self.ids.update({slug: service_id for service_id, slug in named})
        return {self.ids[slug]: slug for slug in slugs if slug in self.ids}


_topologies: WeakKeyDictionary[DependencyGraph, Topology] = WeakKeyDictionary()
"""graph -> what was learnt from it; the graph is not kept in its Topology, or the entry would
keep its own key alive"""


def topology_of(graph: DependencyGraph) -> Topology:
    held = _topologies.get(graph)
    if held is None:
        held = _topologies[graph] = Topology()
    return held


@dataclass
class Facts:
    """What the decisions of one job share, read at most once per job: none of it is changed
    by a decision, and a job's alerts are decided within milliseconds of each other."""

    rules: dict[int, Rule] = field(default_factory=dict)
    graph: DependencyGraph | None = None
    silences: list[tuple[Silence, list[matching.Matcher]]] | None = None
    windows: dict[int, list[MaintenanceWindow]] = field(default_factory=dict)
    critical: dict[frozenset[str], list[Cause]] = field(default_factory=dict)
    incidents: dict[frozenset[str], list[Cause]] = field(default_factory=dict)
    """Open incidents on some services. Only a decision that goes on to group, route or page
    (or a resolution) can open or close one, so those empty it (`forget_incidents`); until
    then, every alert of a storm that is inhibited or attached reads the same rows again."""
    services: dict[int, Service] = field(default_factory=dict)
    """The job's services, held here: the session's identity map keeps only objects something
    else refers to, so a `session.get` per alert read the same row again for every alert."""

    async def critical_upstream(
        self, session: AsyncSession, upstream: frozenset[str]
    ) -> list[Cause]:
        """The oldest firing critical alert of each upstream service, oldest first. (A
        service's own critical alerts never inhibit it, so they are not read.)"""
        if not upstream:
            return []
        if upstream not in self.critical:
            slugs = await topology_of(await self._graph(session)).ids_of(session, upstream)
            found = await session.execute(_OLDEST_CRITICAL, {"ids": sorted(slugs)})
            self.critical[upstream] = [
                Cause(slugs[service_id], alert_id=alert_id) for service_id, alert_id in found
            ]
        return self.critical[upstream]

    async def open_incidents(self, session: AsyncSession, slugs: frozenset[str]) -> list[Cause]:
        if slugs not in self.incidents:
            rows = await session.execute(_OPEN_INCIDENTS, {"slugs": sorted(slugs)})
            self.incidents[slugs] = [
                Cause(slug, incident_id=incident_id) for slug, incident_id in rows
            ]
        return self.incidents[slugs]

    def forget_incidents(self) -> None:
        self.incidents.clear()

    async def maintenance_windows(
        self, session: AsyncSession, service_id: int
    ) -> list[MaintenanceWindow]:
        if service_id not in self.windows:
            self.windows[service_id] = list(
                await session.scalars(_OPEN_WINDOWS, {"service_id": service_id})
            )
        return self.windows[service_id]

    async def rule(self, session: AsyncSession, service: Service) -> Rule:
        if service.id not in self.rules:
            self.rules[service.id] = await rule_for(session, service)
        return self.rules[service.id]

    async def _graph(self, session: AsyncSession) -> DependencyGraph:
        if self.graph is None:
            self.graph = await cached_dependency_graph(session)
        return self.graph

    async def upstream_of(self, session: AsyncSession, slug: str) -> frozenset[str]:
        graph = await self._graph(session)
        return topology_of(graph).upstream_of(graph, slug)

    async def active_silences(
        self, session: AsyncSession, now: datetime
    ) -> list[tuple[Silence, list[matching.Matcher]]]:
        if self.silences is None:
            rows = await session.scalars(_ACTIVE_SILENCES, {"now": now})
            self.silences = [(row, matching.parse(row.matchers)) for row in rows]
        return self.silences


async def rule_for(session: AsyncSession, service: Service) -> Rule:
    """The service's own rule, else its owning team's, else the default."""
    row = await session.scalar(_SERVICE_RULE, {"service_id": service.id})
    if row is None and service.owner_team_id is not None:
        row = await session.scalar(_TEAM_RULE, {"team_id": service.owner_team_id})
    return DEFAULT_RULE if row is None else rule_from(row)


def _decide(
    session: AsyncSession,
    row: Alert,
    decision: Decision,
    reason: str,
    ref: str | None,
    now: datetime,
) -> None:
    decisions.decide(session, row, decision.value, reason, ref, now)


_ALERTS_WITH_SERVICES = (
    sa.select(Alert, Service)
    .join(Service, Service.id == Alert.service_id)
    .where(Alert.id.in_(sa.bindparam("ids", expanding=True)))
)
"""A job's alerts with their services, in one statement."""


async def evaluate(session: AsyncSession, alert_id: int, change: str = "changed") -> None:
    """Decide about one alert; no commit (the job's transaction owns it)."""
    await evaluate_many(session, [alert_id], change)


async def evaluate_many(
    session: AsyncSession, alert_ids: Sequence[int], change: str = "changed"
) -> None:
    """Decide about several alerts in the given order, in the caller's transaction (no
    commit); each decision sees the ones before it, exactly as separate jobs would."""
    ids = list(dict.fromkeys(alert_ids))
    if not ids:
        return
    if dialect.is_postgres(session):
        # One decision at a time per service: two workers deciding two alerts of one new
        # group at once would otherwise open two groups and page twice. (SQLite has a single
        # writer and its transactions begin IMMEDIATE, so they are already serialised.)
        # FOR NO KEY UPDATE leaves ingestion's foreign-key checks on the service unblocked;
        # taking the locks in id order keeps two batches from deadlocking each other.
        services = sa.select(Alert.service_id).where(Alert.id.in_(ids))
        await session.execute(
            sa.select(Service.id)
            .where(Service.id.in_(services))
            .order_by(Service.id)
            .with_for_update(key_share=True)
        )
    facts = Facts()
    rows: dict[int, Alert] = {}
    for alert, service in await session.execute(
        _ALERTS_WITH_SERVICES, {"ids": ids}, execution_options={"populate_existing": True}
    ):
        rows[alert.id] = alert
        facts.services[service.id] = service
    for alert_id in ids:
        row = rows.get(alert_id)
        if row is not None:
            await _evaluate(session, row, change, facts)


async def _evaluate(session: AsyncSession, row: Alert, change: str, facts: Facts) -> None:
    now = utcnow()
    service = facts.services[row.service_id]  # read by evaluate_many
    if row.status == AlertStatus.RESOLVED.value:
        facts.forget_incidents()
        await _resolved(session, row, now)
        return
    if str(row.labels.get("alertname", "")) == WATCHDOG:
        _decide(
            session,
            row,
            Decision.HEARTBEAT,
            "Watchdog alert: counts as a heartbeat ping",
            None,
            now,
        )
        return
    if await _silenced(session, row, now, facts) or await _in_maintenance(session, row, now, facts):
        return
    if await _inhibited(session, row, service, now, facts):
        return
    # What follows may open or close an incident (a routing rule declares one, and it
    # commits): the next alert of the job reads the open incidents again.
    facts.forget_incidents()
    rule = await facts.rule(session, service)
    if await _flapping(session, row, service, rule, now):
        return
    row.flapping = False
    row.flap_paged = False
    group = await _group(session, row, service, rule, now)
    ref = f"group:{group.id}"
    if group.paged_at is not None and await routing.follow(session, row, group, now):
        return
    if group.paged_at is not None:
        _decide(
            session,
            row,
            Decision.GROUPED,
            f"grouped into group #{group.id}, which already paged",
            ref,
            now,
        )
        return
    why = corroboration(rule, await _sightings(session, row, rule, now), now)
    if why is None:
        _decide(
            session,
            row,
            Decision.AWAITING,
            f"awaiting corroboration: needs {_needs(rule)} within "
            f"{int(rule.window.total_seconds() // 60)} min, or a failing synthetic check",
            ref,
            now,
        )
        return
    wait_until = group.opened_at + rule.group_wait
    if now < wait_until:
        _decide(
            session,
            row,
            Decision.GROUPED,
            f"grouped into group #{group.id}; waiting until {wait_until:%H:%M:%S} UTC "
            "(group wait) before paging",
            ref,
            now,
        )
        await jobs.enqueue(
            session,
            PROCESS_JOB,
            {"alert_id": row.id, "change": "group_wait"},
            run_at=wait_until,
            idempotency_key=f"alerts.group_wait:{group.id}",
        )
        return
    acted = await routing.act(session, row, service, group, now)
    if acted.page:
        await _page_group(session, row, service, group, why, now)


def _needs(rule: Rule) -> str:
    parts = []
    if rule.min_alerts > 1:
        parts.append(f"at least {rule.min_alerts} alerts")
    if rule.min_sources > 1:
        parts.append(f"at least {rule.min_sources} distinct sources")
    return " or ".join(parts)


async def _resolved(session: AsyncSession, row: Alert, now: datetime) -> None:
    earlier = f" (was {row.decision}: {row.decision_reason})" if row.decision else ""
    _decide(session, row, Decision.RESOLVED, f"resolved{earlier}"[:2000], row.decision_ref, now)
    if row.group_id is not None:
        firing = await session.scalar(
            sa.select(sa.func.count())
            .select_from(Alert)
            .where(Alert.group_id == row.group_id, Alert.status == AlertStatus.FIRING.value)
        )
        group = await session.get(AlertGroup, row.group_id)
        if group is not None and not firing and group.open:
            group.open = False
            group.status = AlertStatus.RESOLVED.value
            group.resolved_at = now
            await routing.group_resolved(session, group, now)
    # Alerts this one inhibited are decided again: their cause is gone.
    inhibited = await session.scalar(
        sa.select(Alert.id).where(Alert.decision_ref == f"alert:{row.id}").limit(1)
    )
    if inhibited is not None:
        await request_reevaluation(session, f"alert:{row.id}", now)


async def request_reevaluation(session: AsyncSession, ref: str, at: datetime) -> None:
    """Decide again, at `at`, every firing alert whose decision points at `ref`."""
    await jobs.enqueue(
        session,
        REEVALUATE_JOB,
        {"ref": ref},
        run_at=at,
        idempotency_key=f"{REEVALUATE_JOB}:{ref}:{at.isoformat()}",
    )


async def reevaluate(session: AsyncSession, ref: str) -> int:
    ids = list(
        await session.scalars(
            sa.select(Alert.id)
            .where(Alert.decision_ref == ref, Alert.status == AlertStatus.FIRING.value)
            .order_by(Alert.id)
        )
    )
    now = utcnow()
    # When the root of a storm clears, thousands of alerts it inhibited are decided again:
    # in jobs of REEVALUATE_BATCH alerts each, not one job per alert.
    chunks = [ids[i : i + REEVALUATE_BATCH] for i in range(0, len(ids), REEVALUATE_BATCH)]
    if chunks:
        await jobs.enqueue_many(
            session,
            [
                jobs.NewJob(
                    PROCESS_JOB,
                    {"alert_ids": chunk, "change": f"re-evaluated ({ref} ended)"},
                    idempotency_key=f"{PROCESS_JOB}:{ref}:{chunk[0]}:{now.isoformat()}",
                )
                for chunk in chunks
            ],
        )
    return len(ids)


async def _silenced(session: AsyncSession, row: Alert, now: datetime, facts: Facts) -> bool:
    for silence, matchers in await facts.active_silences(session, now):
        if matching.matches_all(matchers, row.labels):
            text = f"suppressed by silence #{silence.id} until {silence.ends_at:%Y-%m-%d %H:%M} UTC"
            if silence.comment:
                text += f" ({silence.comment})"
            _decide(session, row, Decision.SILENCED, text, f"silence:{silence.id}", now)
            return True
    return False


async def _in_maintenance(session: AsyncSession, row: Alert, now: datetime, facts: Facts) -> bool:
    for window in await facts.maintenance_windows(session, row.service_id):
        occurrence = window_of(window).active_occurrence(now)
        if occurrence is None:
            continue
        ref = f"maintenance:{window.id}"
        _decide(
            session,
            row,
            Decision.MAINTENANCE,
            f"suppressed by maintenance window #{window.id} until {occurrence[1]:%Y-%m-%d %H:%M} "
            "UTC" + (f" ({window.comment})" if window.comment else ""),
            ref,
            now,
        )
        await request_reevaluation(session, ref, occurrence[1])
        return True
    return False


def window_of(row: MaintenanceWindow) -> Window:
    return Window(
        starts_at=row.starts_at.replace(tzinfo=None),
        duration=timedelta(minutes=row.duration_minutes),
        timezone=row.timezone,
        rrule=row.rrule,
    )


_OPEN_INCIDENTS = (
    sa.select(IncidentAffected.slug, Incident.id)
    .join(Incident, Incident.id == IncidentAffected.incident_id)
    .where(
        IncidentAffected.kind == "service",
        IncidentAffected.slug.in_(sa.bindparam("slugs", expanding=True)),
        Incident.status.in_([s.value for s in ACTIVE]),
    )
    .order_by(Incident.id)
)
"""Built once: building it for every alert, with its list of upstream services, cost more
than running it (a quarter of a decision's time during a storm)."""


async def _causes(
    session: AsyncSession, service: str, upstream: frozenset[str], facts: Facts
) -> list[Cause]:
    """Open incidents on the service or upstream (read again after a decision of this very
    job that may have declared one), then the critical alerts firing upstream (read once per
    job: no decision changes an alert's status or severity)."""
    causes = await facts.open_incidents(session, upstream | {service})
    return causes + await facts.critical_upstream(session, upstream)


async def _inhibited(
    session: AsyncSession, row: Alert, service: Service, now: datetime, facts: Facts
) -> bool:
    upstream = await facts.upstream_of(session, service.slug)
    cause = inhibiting_cause(
        service.slug, upstream, await _causes(session, service.slug, upstream, facts)
    )
    if cause is None:
        return False
    if cause.incident_id is not None:
        await _attach(session, row, service, cause, now, facts)
        return True
    _decide(
        session,
        row,
        Decision.INHIBITED,
        f"inhibited by critical alert #{cause.alert_id} on upstream dependency {cause.service}",
        f"alert:{cause.alert_id}",
        now,
    )
    return True


async def _attach(
    session: AsyncSession, row: Alert, service: Service, cause: Cause, now: datetime, facts: Facts
) -> None:
    incident = await session.get(Incident, cause.incident_id)
    assert incident is not None
    ref = f"incident:{incident.id}"
    where = "this service" if cause.service == service.slug else f"upstream {cause.service}"
    name = "a private incident" if incident.visibility == "private" else f"incident #{incident.id}"
    if await routing.join(
        session, row, service, incident.id, (await facts.rule(session, service)).group_by
    ):
        return  # a retried decision that finished opening this incident: that is its decision
    if row.decision_ref != ref:
        note(
            session,
            incident,
            PIPELINE,
            "alert.attached",
            f"Alert on {service.slug} attached: {row.summary}",
            {"alert_id": row.id, "service": service.slug, "severity": row.severity},
        )
    _decide(
        session,
        row,
        Decision.ATTACHED,
        f"attached to open {name} on {where} instead of paging again",
        ref,
        now,
    )


async def _flapping(
    session: AsyncSession, row: Alert, service: Service, rule: Rule, now: datetime
) -> bool:
    changes = list(
        await session.scalars(_STATE_CHANGES, {"alert_id": row.id, "since": now - rule.flap_window})
    )
    if not is_flapping(rule, changes, now):
        return False
    row.flapping = True
    minutes = int(rule.flap_window.total_seconds() // 60)
    if row.flap_paged:
        _decide(
            session,
            row,
            Decision.FLAPPING,
            f"flapping ({len(changes)} state changes in {minutes} min); already paged once",
            None,
            now,
        )
        return True
    row.flap_paged = True
    dedup = f"alert-flapping:{row.id}"
    await _enqueue_page(session, service, row, dedup, None, row.group_id)
    _decide(
        session,
        row,
        Decision.FLAPPING,
        f"flapping ({len(changes)} state changes in {minutes} min); paged once, not on "
        "every change",
        None,
        now,
    )
    return True


async def _group(
    session: AsyncSession, row: Alert, service: Service, rule: Rule, now: datetime
) -> AlertGroup:
    key = group_key(service.slug, row.labels, rule.group_by)
    if row.group_id is not None:
        current = await session.get(AlertGroup, row.group_id)
        if current is not None and current.open and current.key == key:
            return current
    group = await session.scalar(_OPEN_GROUP, {"service_id": service.id, "key": key})
    if group is None:
        group = AlertGroup(
            service_id=service.id,
            key=key,
            labels={name: str(row.labels.get(name) or "") for name in rule.group_by},
            open=True,
            status=AlertStatus.FIRING.value,
            opened_at=now,
        )
        session.add(group)
        await session.flush()
    group.status = AlertStatus.FIRING.value
    row.group_id = group.id
    return group


async def _sightings(
    session: AsyncSession, row: Alert, rule: Rule, now: datetime
) -> list[Sighting]:
    rows = await session.execute(
        _SIGHTINGS, {"service_id": row.service_id, "since": now - rule.window}
    )
    out = [
        Sighting(at, str(integration), is_synthetic(source, labels))
        for at, integration, source, labels in rows
    ]
    if not any(s.at == row.last_received_at and s.source == str(row.integration_id) for s in out):
        out.append(Sighting(now, str(row.integration_id), is_synthetic(row.source, row.labels)))
    return out


async def _enqueue_page(
    session: AsyncSession,
    service: Service,
    row: Alert,
    dedup_key: str,
    incident_id: int | None,
    group_id: int | None,
) -> None:
    await oncall.queue_page(session, page_request(service, row, dedup_key, incident_id, group_id))


async def _page_group(
    session: AsyncSession, row: Alert, service: Service, group: AlertGroup, why: str, now: datetime
) -> None:
    group.paged_at = now
    await _enqueue_page(session, service, row, f"alert-group:{group.id}", None, group.id)
    ref = f"group:{group.id}"
    _decide(
        session,
        row,
        Decision.PAGED,
        f"paged the on-call of {service.slug} for group #{group.id} ({why})",
        ref,
        now,
    )
    members = await session.scalars(
        sa.select(Alert).where(
            Alert.service_id == service.id,
            Alert.id != row.id,
            Alert.status == AlertStatus.FIRING.value,
            Alert.decision.in_([Decision.GROUPED.value, Decision.AWAITING.value]),
        )
    )
    for member in members:
        if member.decision_ref == ref:
            _decide(
                session,
                member,
                Decision.GROUPED,
                f"grouped into group #{group.id}, which paged ({why})",
                ref,
                now,
            )
        elif member.decision == Decision.AWAITING.value:
            # Corroboration is per service: its other groups may now page too.
            await jobs.enqueue(
                session,
                PROCESS_JOB,
                {"alert_id": member.id, "change": "corroborated"},
                idempotency_key=f"{PROCESS_JOB}:corroborated:{member.id}:{now.isoformat()}",
            )
