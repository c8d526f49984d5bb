"""Clusters: bursts of customer reports no incident explains yet, and declaring from one.

Only unlinked reports take part, so nothing about any incident (private or not) can be read
from a cluster.
"""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from tocsin.auth.permissions import Permission
from tocsin.clock import ensure_utc, utcnow
from tocsin.errors import NotFound
from tocsin.incidents import service as incidents
from tocsin.incidents.reports import matching
from tocsin.incidents.reports.models import CustomerReport
from tocsin.incidents.reports.schemas import ClusterDeclare, ClusterOut
from tocsin.incidents.reports.service import link_report, outs
from tocsin.incidents.schemas import IncidentDeclare, IncidentOut, Visibility
from tocsin.incidents.service.common import Who, actor_of, finish, load, require

CLUSTER_LOOKBACK = timedelta(hours=24)
"""Unlinked reports older than this no longer form clusters: that trouble is over."""


async def _clusters(
    session: AsyncSession, size: int, window: timedelta
) -> tuple[list[matching.Cluster], dict[int, CustomerReport]]:
    rows = (
        await session.scalars(
            sa.select(CustomerReport).where(
                CustomerReport.incident_id.is_(None),
                CustomerReport.reported_at >= utcnow() - CLUSTER_LOOKBACK,
            )
        )
    ).all()
    by_id = {r.id: r for r in rows}
    found = matching.clusters(
        [matching.Report(r.id, r.service, ensure_utc(r.reported_at)) for r in rows], size, window
    )
    return found, by_id


async def get_clusters(
    session: AsyncSession, who: Who, size: int, window: timedelta
) -> list[ClusterOut]:
    """Bursts of reports no incident explains yet (unlinked reports only, so no incident —
    private or not — is revealed through them)."""
    require(who, Permission.INCIDENT_READ)
    found, by_id = await _clusters(session, size, window)
    return [
        ClusterOut(
            service=c.service,
            count=len(c.report_ids),
            first_at=c.first_at,
            last_at=c.last_at,
            reports=await outs(session, who, [by_id[i] for i in c.report_ids]),
        )
        for c in found
    ]


async def declare_from_cluster(
    session: AsyncSession,
    who: Who,
    service: str,
    body: ClusterDeclare,
    size: int,
    window: timedelta,
) -> IncidentOut:
    """Open an incident on the cluster's service and link the cluster's reports to it."""
    require(who, Permission.INCIDENT_DECLARE)
    found, by_id = await _clusters(session, size, window)
    cluster = next((c for c in found if c.service == service), None)
    if cluster is None:
        raise NotFound("cluster of customer reports on", service)
    declared = await incidents.declare(
        session,
        who,
        IncidentDeclare(
            title=body.title or f"Customer reports on {service}",
            summary=f"Opened from {len(cluster.report_ids)} customer reports on {service} "
            f"between {cluster.first_at.isoformat()} and {cluster.last_at.isoformat()}.",
            severity=body.severity,
            visibility=Visibility(body.visibility),
            services=[service],
        ),
    )
    incident = await load(session, who, declared.ref)
    actor = actor_of(who)
    for report_id in cluster.report_ids:
        report = by_id[report_id]
        await session.refresh(report)
        if report.incident_id is None:
            link_report(session, incident, report, actor, actor.label)
    await finish(
        session, incident, "incident.customer_report_linked", count=len(cluster.report_ids)
    )
    return declared
