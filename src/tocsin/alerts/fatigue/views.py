"""The alert fatigue page under Alerts: the same report as the API, with a CSV link."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.ext.asyncio import AsyncSession

from tocsin.alerts.fatigue import service
from tocsin.auth.dependencies import Requires
from tocsin.auth.permissions import Permission
from tocsin.auth.principal import Principal
from tocsin.db.session import get_session
from tocsin.errors import ProblemError
from tocsin.web.templating import render

router = APIRouter(include_in_schema=False)

READ = Depends(Requires(Permission.ALERTS_READ))
DB = Depends(get_session)


def _date(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


@router.get("/alerts/fatigue")
async def fatigue_page(
    request: Request,
    start: str | None = Query(default=None, alias="from"),
    end: str | None = Query(default=None, alias="to"),
    service_slug: str | None = Query(default=None, alias="service"),
    timezone: str | None = None,
    business_hours: str | None = None,
    _: Principal = READ,
    session: AsyncSession = DB,
) -> HTMLResponse:
    form = {
        "from": start or "",
        "to": end or "",
        "service": service_slug or "",
        "timezone": timezone or "",
        "business_hours": business_hours or "",
    }
    error = None
    report = None
    try:
        try:
            begins, ends = _date(start), _date(end)
        except ValueError:
            raise ProblemError(
                422, "Invalid input", "from/to: expected a date, e.g. 2026-01-31"
            ) from None
        query = service.parse_query(begins, ends, service_slug, timezone, business_hours)
        report = await service.build(session, query)
    except ProblemError as exc:
        error = exc.detail
    csv_link = "/api/v1/alerts/fatigue?" + urlencode(
        {**{k: v for k, v in form.items() if v}, "format": "csv"}
    )
    return render(
        request,
        "alerts/fatigue.html",
        status_code=200 if error is None else 422,
        report=report,
        form=form,
        error=error,
        csv_link=csv_link,
    )
