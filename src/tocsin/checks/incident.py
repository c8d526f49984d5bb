"""Checks of an incident's affected services: seen and run on demand from the incident.

Going through the incident's own loader means a private incident the caller may not see is a
404 here too, so the panel never reveals which services a private incident touches.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from tocsin.auth.permissions import Permission
from tocsin.checks import service
from tocsin.checks.models import CheckResult
from tocsin.checks.schemas import CheckOut, ResultOut, RunRequested
from tocsin.incidents.models import IncidentAffected
from tocsin.incidents.service.common import Who, actor_of, finish, load, note, require
from tocsin.schemas import Output


class IncidentCheckOut(Output):
    check: CheckOut
    latest: list[ResultOut]
    """the most recent results, newest first (on-demand runs included)"""


async def _affected(session: AsyncSession, incident_id: int) -> set[str]:
    rows = await session.scalars(
        sa.select(IncidentAffected.slug).where(
            IncidentAffected.incident_id == incident_id, IncidentAffected.kind == "service"
        )
    )
    return set(rows.all())


async def incident_checks(
    session: AsyncSession, who: Who, ref: str, *, latest: int = 3
) -> list[IncidentCheckOut]:
    incident = await load(session, who, ref)
    rows = await service.checks_of_services(session, await _affected(session, incident.id))
    slugs = await service._slugs(session, {r.service_id for r in rows})
    out = []
    for row in rows:
        results = await session.scalars(
            sa.select(CheckResult)
            .where(CheckResult.check_id == row.id)
            .order_by(CheckResult.started_at.desc(), CheckResult.id.desc())
            .limit(latest)
        )
        out.append(
            IncidentCheckOut(
                check=service._out(row, slugs.get(row.service_id, "")),
                latest=[service._result_out(r, row.slug) for r in results],
            )
        )
    return out


async def run_for_incident(session: AsyncSession, who: Who, ref: str) -> RunRequested:
    require(who, Permission.CHECKS_RUN)
    incident = await load(session, who, ref)
    rows = await service.checks_of_services(session, await _affected(session, incident.id))
    queued = await service.request_runs(session, who, rows, note=ref)
    if rows:
        names = ", ".join(r.name for r in rows)
        note(
            session,
            incident,
            actor_of(who),
            "checks_run",
            f"Synthetic checks run on demand: {names}",
            {"checks": [r.slug for r in rows]},
        )
    out = RunRequested(checks=[r.slug for r in rows], runs_queued=queued)
    await finish(session, incident, "incident.checks_run", checks=out.checks)
    return out
