"""REST routes for customer reports under /api/v1/customer-reports, and an incident's
impact-start proposal under /api/v1/incidents/{ref}/impact-start."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from tocsin.auth.dependencies import Requires
from tocsin.auth.permissions import Permission
from tocsin.auth.principal import Principal
from tocsin.db.session import get_session
from tocsin.errors import Invalid
from tocsin.incidents.reports import clusters as cluster_service
from tocsin.incidents.reports import formats, impact, matching, service
from tocsin.incidents.reports.schemas import (
    ClusterDeclare,
    ClusterOut,
    IntakeOut,
    LinkIn,
    ProposalAccept,
    ProposalOut,
    ReportIn,
    ReportOut,
)
from tocsin.incidents.schemas import IncidentOut

router = APIRouter(tags=["customer reports"])
PREFIX = "/api/v1/customer-reports"

READ = Depends(Requires(Permission.INCIDENT_READ))
REPORT = Depends(Requires(Permission.INCIDENT_NOTE))
WRITE = Depends(Requires(Permission.INCIDENT_WRITE))
DECLARE = Depends(Requires(Permission.INCIDENT_DECLARE))
DB = Depends(get_session)
ClusterSize = Annotated[int, Query(ge=2, le=1000)]
WindowMinutes = Annotated[int, Query(ge=1, le=24 * 60)]


def _status(response: Response, result: IntakeOut) -> IntakeOut:
    response.status_code = 201 if result.stored else 200
    return result


@router.post(PREFIX, response_model=IntakeOut, status_code=201)
async def submit(
    body: ReportIn, response: Response, who: Principal = REPORT, session: AsyncSession = DB
) -> IntakeOut:
    """One report; 201 when stored, 200 when this external id was already stored."""
    return _status(response, await service.intake(session, who, "api", [("", body)]))


async def _csv_text(request: Request) -> str:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "multipart/form-data":
        form = await request.form()
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise Invalid("file", "send the CSV file in the form field 'file'")
        raw = await upload.read()
    elif kind in {"text/csv", "text/plain", "application/csv"}:
        raw = await request.body()
    else:
        raise Invalid("content-type", "send text/csv, or multipart/form-data with a 'file' field")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Invalid("file", "the file must be UTF-8 text") from exc


@router.post(f"{PREFIX}/import", response_model=IntakeOut, status_code=201)
async def import_csv(
    request: Request, response: Response, who: Principal = REPORT, session: AsyncSession = DB
) -> IntakeOut:
    """A CSV file of reports: every row is checked first, and one bad row stores nothing."""
    rows = formats.parse_csv(await _csv_text(request))
    result = await service.intake(
        session, who, "csv", [(f"line {line}.", body) for line, body in rows]
    )
    return _status(response, result)


@router.post(f"{PREFIX}/webhook/zendesk", response_model=IntakeOut, status_code=201)
async def zendesk(
    response: Response,
    payload: Annotated[dict[str, Any], Body()],
    who: Principal = REPORT,
    session: AsyncSession = DB,
) -> IntakeOut:
    """A Zendesk-style ticket webhook (shape in docs/integrations.md), with a bearer API token."""
    services, customers = await service.known_slugs(session)
    body = formats.parse_zendesk(payload, services, customers)
    return _status(response, await service.intake(session, who, "webhook", [("ticket.", body)]))


@router.get(PREFIX, response_model=list[ReportOut])
async def list_reports(
    service_slug: Annotated[str | None, Query(alias="service")] = None,
    incident: str | None = None,
    unlinked: bool = False,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    who: Principal = READ,
    session: AsyncSession = DB,
) -> list[ReportOut]:
    """Newest first; a link to an incident the caller may not see is not shown."""
    return await service.list_reports(
        session, who, service=service_slug, incident=incident, unlinked=unlinked, limit=limit
    )


@router.get(f"{PREFIX}/clusters", response_model=list[ClusterOut])
async def clusters(
    size: ClusterSize = matching.DEFAULT_CLUSTER_SIZE,
    window_minutes: WindowMinutes = int(matching.DEFAULT_CLUSTER_WINDOW.total_seconds() // 60),
    who: Principal = READ,
    session: AsyncSession = DB,
) -> list[ClusterOut]:
    """At least `size` unlinked reports on one service within `window_minutes`."""
    return await cluster_service.get_clusters(session, who, size, timedelta(minutes=window_minutes))


@router.post(
    f"{PREFIX}/clusters/{{service_slug}}/declare", response_model=IncidentOut, status_code=201
)
async def declare_from_cluster(
    service_slug: str,
    body: ClusterDeclare,
    size: ClusterSize = matching.DEFAULT_CLUSTER_SIZE,
    window_minutes: WindowMinutes = int(matching.DEFAULT_CLUSTER_WINDOW.total_seconds() // 60),
    who: Principal = DECLARE,
    session: AsyncSession = DB,
) -> IncidentOut:
    """Open an incident on the cluster's service; the cluster's reports are linked to it."""
    return await cluster_service.declare_from_cluster(
        session, who, service_slug, body, size, timedelta(minutes=window_minutes)
    )


@router.put(f"{PREFIX}/{{report_id}}/incident", response_model=ReportOut)
async def link(
    report_id: int, body: LinkIn, who: Principal = WRITE, session: AsyncSession = DB
) -> ReportOut:
    return await service.link(session, who, report_id, body.incident)


@router.delete(f"{PREFIX}/{{report_id}}/incident", response_model=ReportOut)
async def unlink(report_id: int, who: Principal = WRITE, session: AsyncSession = DB) -> ReportOut:
    return await service.unlink(session, who, report_id)


@router.get("/api/v1/incidents/{ref}/impact-start", response_model=ProposalOut)
async def impact_start(ref: str, who: Principal = READ, session: AsyncSession = DB) -> ProposalOut:
    """The earliest credible evidence of impact, with every piece of evidence considered."""
    return await impact.proposal(session, who, ref)


@router.post("/api/v1/incidents/{ref}/impact-start/accept", response_model=IncidentOut)
async def accept_impact_start(
    ref: str,
    body: ProposalAccept | None = None,
    who: Principal = WRITE,
    session: AsyncSession = DB,
) -> IncidentOut:
    """Set impact start to the proposal; changing one already set needs a reason."""
    return await impact.accept(session, who, ref, body or ProposalAccept())
