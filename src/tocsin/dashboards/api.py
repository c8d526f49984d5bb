"""REST routes of the dashboards: the same boards the pages show, as JSON for wall screens,
chat bots and scripts."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from sqlalchemy.ext.asyncio import AsyncSession

from tocsin.auth.dependencies import Requires
from tocsin.auth.permissions import Permission
from tocsin.auth.principal import Principal
from tocsin.dashboards import service as dashboards
from tocsin.dashboards.schemas import CommandView, StakeholderView
from tocsin.db.session import get_session

router = APIRouter(prefix="/api/v1/dashboards", tags=["dashboards"])

READ = Depends(Requires(Permission.INCIDENT_READ))
DB = Depends(get_session)


@router.get("/command", response_model=CommandView)
async def command(who: Principal = READ, session: AsyncSession = DB) -> CommandView:
    """Every active incident the caller may see, most urgent first: roles (and the missing
    ones), the next bridge update due, running KPI and SLA clocks, open tasks, recent timeline."""
    return await dashboards.command_view(session, who)


@router.get("/stakeholder", response_model=StakeholderView)
async def stakeholder(_: Principal = READ, session: AsyncSession = DB) -> StakeholderView:
    """Active public incidents in business terms only; never a private incident, whoever asks."""
    return await dashboards.stakeholder_view(session)
