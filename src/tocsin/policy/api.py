"""REST routes for severities and per-severity policies."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response
from sqlalchemy.ext.asyncio import AsyncSession

from tocsin.auth.dependencies import Requires
from tocsin.auth.permissions import Permission
from tocsin.auth.principal import Principal
from tocsin.db.session import get_session
from tocsin.policy import service as policy
from tocsin.policy.schemas import (
    SeverityCreate,
    SeverityOrder,
    SeverityOut,
    SeverityPolicyIn,
    SeverityPolicyOut,
    SeverityPolicyPatch,
    SeverityUpdate,
)

router = APIRouter(prefix="/api/v1", tags=["policy"])

READ = Depends(Requires(Permission.POLICY_READ))
WRITE = Depends(Requires(Permission.POLICY_WRITE))
DB = Depends(get_session)


@router.get("/severities", response_model=list[SeverityOut])
async def list_severities(_: Principal = READ, session: AsyncSession = DB) -> list[SeverityOut]:
    """Most severe first."""
    return await policy.list_severities(session)


@router.post("/severities", response_model=SeverityOut, status_code=201)
async def create_severity(
    body: SeverityCreate, who: Principal = WRITE, session: AsyncSession = DB
) -> SeverityOut:
    return await policy.create_severity(session, who, body)


@router.put("/severity-order", response_model=list[SeverityOut])
async def reorder_severities(
    body: SeverityOrder, who: Principal = WRITE, session: AsyncSession = DB
) -> list[SeverityOut]:
    return await policy.reorder_severities(session, who, body.order)


@router.get("/severities/{slug}", response_model=SeverityOut)
async def get_severity(slug: str, _: Principal = READ, session: AsyncSession = DB) -> SeverityOut:
    return await policy.get_severity(session, slug)


@router.patch("/severities/{slug}", response_model=SeverityOut)
async def update_severity(
    slug: str, body: SeverityUpdate, who: Principal = WRITE, session: AsyncSession = DB
) -> SeverityOut:
    return await policy.update_severity(session, who, slug, body)


@router.delete("/severities/{slug}", status_code=204, response_class=Response)
async def delete_severity(
    slug: str, who: Principal = WRITE, session: AsyncSession = DB
) -> Response:
    await policy.delete_severity(session, who, slug)
    return Response(status_code=204)


@router.get("/policies", response_model=list[SeverityPolicyOut])
async def list_policies(_: Principal = READ, session: AsyncSession = DB) -> list[SeverityPolicyOut]:
    """One policy per severity, most severe first."""
    return await policy.list_policies(session)


@router.get("/policies/{severity}", response_model=SeverityPolicyOut)
async def get_policy(
    severity: str, _: Principal = READ, session: AsyncSession = DB
) -> SeverityPolicyOut:
    return await policy.get_policy(session, severity)


@router.put("/policies/{severity}", response_model=SeverityPolicyOut)
async def set_policy(
    severity: str, body: SeverityPolicyIn, who: Principal = WRITE, session: AsyncSession = DB
) -> SeverityPolicyOut:
    """Replace the severity's whole policy."""
    return await policy.set_policy(session, who, severity, body)


@router.patch("/policies/{severity}", response_model=SeverityPolicyOut)
async def patch_policy(
    severity: str, body: SeverityPolicyPatch, who: Principal = WRITE, session: AsyncSession = DB
) -> SeverityPolicyOut:
    """Replace only the sections sent."""
    return await policy.patch_policy(session, who, severity, body)
