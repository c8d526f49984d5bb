"""REST routes of synthetic checks (/api/v1/checks), their secrets (/api/v1/check-secrets)
and an incident's checks (/api/v1/incidents/{ref}/checks)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Response
from sqlalchemy.ext.asyncio import AsyncSession

from tocsin.auth.dependencies import Requires
from tocsin.auth.permissions import Permission
from tocsin.auth.principal import Principal
from tocsin.checks import handlers as _handlers  # noqa: F401  (runs and retention)
from tocsin.checks import incident, service
from tocsin.checks.schemas import (
    CheckCreate,
    CheckDetail,
    CheckOut,
    CheckUpdate,
    ResultOut,
    RunRequested,
    SecretIn,
    SecretOut,
)
from tocsin.db.session import get_session
from tocsin.errors import Invalid

router = APIRouter(prefix="/api/v1", tags=["synthetic checks"])

READ = Depends(Requires(Permission.CHECKS_READ))
MANAGE = Depends(Requires(Permission.CHECKS_MANAGE))
RUN = Depends(Requires(Permission.CHECKS_RUN))
SECRETS = Depends(Requires(Permission.CHECKS_SECRETS))
DB = Depends(get_session)


@router.get("/checks", response_model=list[CheckOut])
async def list_checks(
    service_slug: str | None = Query(default=None, alias="service"),
    who: Principal = READ,
    session: AsyncSession = DB,
) -> list[CheckOut]:
    """Every check with its live status; `?service=` narrows to one service."""
    return await service.list_checks(session, service_slug)


@router.post("/checks", response_model=CheckOut, status_code=201)
async def create_check(
    body: CheckCreate, who: Principal = MANAGE, session: AsyncSession = DB
) -> CheckOut:
    return await service.create_check(session, who, body)


@router.get("/checks/{slug}", response_model=CheckDetail)
async def get_check(slug: str, who: Principal = READ, session: AsyncSession = DB) -> CheckDetail:
    """The check, uptime and latency percentiles over 24 hours, and its latest results."""
    return await service.check_detail(session, slug)


@router.patch("/checks/{slug}", response_model=CheckOut)
async def update_check(
    slug: str, body: CheckUpdate, who: Principal = MANAGE, session: AsyncSession = DB
) -> CheckOut:
    return await service.update_check(session, who, slug, body)


@router.delete("/checks/{slug}", status_code=204)
async def delete_check(slug: str, who: Principal = MANAGE, session: AsyncSession = DB) -> Response:
    await service.delete_check(session, who, slug)
    return Response(status_code=204)


@router.get("/checks/{slug}/results", response_model=list[ResultOut])
async def list_results(
    slug: str,
    failed: bool = False,
    limit: int = 100,
    who: Principal = READ,
    session: AsyncSession = DB,
) -> list[ResultOut]:
    if not 1 <= limit <= 1000:
        raise Invalid("limit", "must be between 1 and 1000")
    return await service.list_results(session, slug, limit=limit, failed_only=failed)


@router.post("/checks/{slug}/run", response_model=RunRequested, status_code=202)
async def run_check(slug: str, who: Principal = RUN, session: AsyncSession = DB) -> RunRequested:
    """Queue a run now at each of the check's locations; results appear under /results."""
    return await service.run_now(session, who, slug)


@router.get("/check-secrets", response_model=list[SecretOut])
async def list_secrets(who: Principal = SECRETS, session: AsyncSession = DB) -> list[SecretOut]:
    return await service.list_secrets(session)


@router.put("/check-secrets/{name}", response_model=SecretOut)
async def put_secret(
    name: str, body: SecretIn, who: Principal = SECRETS, session: AsyncSession = DB
) -> SecretOut:
    if body.name != name:
        raise Invalid("name", "must match the name in the URL")
    return await service.put_secret(session, who, body)


@router.delete("/check-secrets/{name}", status_code=204)
async def delete_secret(
    name: str, who: Principal = SECRETS, session: AsyncSession = DB
) -> Response:
    await service.delete_secret(session, who, name)
    return Response(status_code=204)


@router.get("/incidents/{ref}/checks", response_model=list[incident.IncidentCheckOut])
async def incident_checks(
    ref: str, who: Principal = READ, session: AsyncSession = DB
) -> list[incident.IncidentCheckOut]:
    """Checks of the incident's affected services with their latest results."""
    return await incident.incident_checks(session, who, ref)


@router.post("/incidents/{ref}/checks/run", response_model=RunRequested, status_code=202)
async def run_incident_checks(
    ref: str, who: Principal = RUN, session: AsyncSession = DB
) -> RunRequested:
    """Run every check of the incident's affected services now."""
    return await incident.run_for_incident(session, who, ref)
