"""Failed synthetic checks as evidence of when an incident's impact started.

A synthetic failure is credible evidence: it is the service failing for a scripted customer.
Only the first failure of each check inside the window is offered, because the proposal picks
the earliest and a thousand later failures would only bury the other evidence.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from tocsin.catalog.models import Service
from tocsin.checks.models import Check, CheckResult
from tocsin.clock import ensure_utc
from tocsin.incidents.reports.evidence import Evidence

SOURCE = "synthetic-check"


async def failed_checks(
    session: AsyncSession, services: frozenset[str], since: datetime, until: datetime
) -> list[Evidence]:
    if not services:
        return []
    first = (
        sa.select(CheckResult.check_id, sa.func.min(CheckResult.started_at).label("at"))
        .join(Check, Check.id == CheckResult.check_id)
        .join(Service, Service.id == Check.service_id)
        .where(
            Service.slug.in_(services),
            CheckResult.ok.is_(False),
            CheckResult.started_at >= since,
            CheckResult.started_at <= until,
        )
        .group_by(CheckResult.check_id)
        .subquery()
    )
    rows = await session.execute(
        sa.select(Check.slug, Check.name, Service.slug, CheckResult.started_at, CheckResult.error)
        .join(first, first.c.check_id == Check.id)
        .join(Service, Service.id == Check.service_id)
        .join(
            CheckResult,
            sa.and_(CheckResult.check_id == Check.id, CheckResult.started_at == first.c.at),
        )
    )
    found: dict[str, Evidence] = {}
    for slug, name, service, at, error in rows:
        found.setdefault(
            slug,
            Evidence(
                source=SOURCE,
                at=ensure_utc(at),
                description=f"synthetic check {name} failed on {service}: {error or 'failed'}"[
                    :1000
                ],
                url=f"/checks/{slug}",
            ),
        )
    return list(found.values())
