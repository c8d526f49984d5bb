"""An incident's KPIs as of now: its milestone times against its severity's targets."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from tocsin.clock import utcnow
from tocsin.incidents import kpis
from tocsin.incidents.schemas import KpiOut
from tocsin.incidents.service.common import Who, load, milestone_times


def _seconds(delta: timedelta | None) -> float | None:
    return None if delta is None else delta.total_seconds()


async def get_kpis(session: AsyncSession, who: Who, ref: str) -> list[KpiOut]:
    from tocsin.policy import service as policy

    incident = await load(session, who, ref)
    targets = (await policy.get_policy(session, incident.severity)).kpi_targets
    times = kpis.Milestones.from_times(await milestone_times(session, incident.id))
    return [
        KpiOut(
            kpi=f.kpi.value,
            milestone=f.milestone,
            measured_from=f.measured_from,
            started_at=f.started_at,
            reached_at=f.reached_at,
            elapsed_seconds=_seconds(f.elapsed),
            target_seconds=_seconds(f.target),
            status=f.status.value,
            time_left_seconds=_seconds(f.time_left),
            overrun_seconds=_seconds(f.overrun),
            deadline=f.deadline,
            note=f.note,
        )
        for f in kpis.figures(times, targets, utcnow())
    ]
