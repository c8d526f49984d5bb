"""REST route of the alert fatigue report (/api/v1/alerts/fatigue), as JSON or CSV."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from tocsin.alerts.fatigue import service
from tocsin.alerts.fatigue.schemas import FatigueReport
from tocsin.auth.dependencies import Requires
from tocsin.auth.permissions import Permission
from tocsin.auth.principal import Principal
from tocsin.db.session import get_session

router = APIRouter(prefix="/api/v1", tags=["alerts"])

READ = Depends(Requires(Permission.ALERTS_READ))
DB = Depends(get_session)


@router.get("/alerts/fatigue", response_model=FatigueReport)
async def fatigue_report(
    start: datetime | None = Query(default=None, alias="from"),
    end: datetime | None = Query(default=None, alias="to"),
    service_slug: str | None = Query(default=None, alias="service"),
    timezone: str | None = None,
    business_hours: str | None = None,
    format: Literal["json", "csv"] = "json",
    who: Principal = READ,
    session: AsyncSession = DB,
) -> FatigueReport | Response:
    """Per alert rule and per service over the window (default: the last 30 days): how much
    they fired and paged, what people did about it, and how to tune them."""
    query = service.parse_query(start, end, service_slug, timezone, business_hours)
    report = await service.build(session, query)
    if format == "csv":
        name = f"alert-fatigue-{query.start:%Y%m%d}-{query.end:%Y%m%d}.csv"
        return Response(
            service.to_csv(report),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
    return report
