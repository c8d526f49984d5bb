"""REST routes of on-call under /api/v1/oncall: schedules, overrides, policies, the
service-to-policy mapping, who is on call, my shifts, and pages."""

from __future__ import annotations

from datetime import datetime, timedelta

from fastapi import APIRouter, Depends, Query, Response
from pydantic import AwareDatetime
from sqlalchemy.ext.asyncio import AsyncSession

from tocsin.auth.dependencies import Requires
from tocsin.auth.permissions import Permission
from tocsin.auth.principal import Principal
from tocsin.clock import utcnow
from tocsin.db.session import get_session
from tocsin.oncall import handlers as _handlers  # noqa: F401  (paging and escalation timers)
from tocsin.oncall import service
from tocsin.oncall.schemas import (
    OverrideIn,
    OverrideOut,
    PageOut,
    PolicyIn,
    PolicyOut,
    ReassignIn,
    ScheduleIn,
    ScheduleOut,
    SegmentOut,
    ServicePolicyIn,
    ShiftOut,
    WhoOut,
)

router = APIRouter(prefix="/api/v1/oncall", tags=["on-call"])

READ = Depends(Requires(Permission.ONCALL_READ))
MANAGE = Depends(Requires(Permission.ONCALL_MANAGE))
RESPOND = Depends(Requires(Permission.ONCALL_RESPOND))
DB = Depends(get_session)


@router.get("/schedules", response_model=list[ScheduleOut])
async def list_schedules(who: Principal = READ, session: AsyncSession = DB) -> list[ScheduleOut]:
    return await service.list_schedules(session)


@router.post("/schedules", response_model=ScheduleOut, status_code=201)
async def create_schedule(
    body: ScheduleIn, who: Principal = MANAGE, session: AsyncSession = DB
) -> ScheduleOut:
    return await service.save_schedule(session, who, body)


@router.get("/schedules/{slug}", response_model=ScheduleOut)
async def get_schedule(slug: str, who: Principal = READ, session: AsyncSession = DB) -> ScheduleOut:
    return await service.get_schedule(session, slug)


@router.put("/schedules/{slug}", response_model=ScheduleOut)
async def replace_schedule(
    slug: str, body: ScheduleIn, who: Principal = MANAGE, session: AsyncSession = DB
) -> ScheduleOut:
    """Replace name, team and layers; overrides are kept."""
    return await service.save_schedule(session, who, body, slug)


@router.delete("/schedules/{slug}", status_code=204)
async def delete_schedule(
    slug: str, who: Principal = MANAGE, session: AsyncSession = DB
) -> Response:
    await service.delete_schedule(session, who, slug)
    return Response(status_code=204)


@router.get("/schedules/{slug}/render", response_model=list[SegmentOut])
async def render_schedule(
    slug: str,
    since: AwareDatetime | None = None,
    until: AwareDatetime | None = None,
    who: Principal = READ,
    session: AsyncSession = DB,
) -> list[SegmentOut]:
    """Who is on call from `since` (now) to `until` (two weeks later), with the layer that
    put them there."""
    start = since or utcnow()
    return await service.render_schedule(session, slug, start, until or start + timedelta(days=14))


@router.post("/schedules/{slug}/overrides", response_model=OverrideOut, status_code=201)
async def add_override(
    slug: str, body: OverrideIn, who: Principal = MANAGE, session: AsyncSession = DB
) -> OverrideOut:
    return await service.add_override(session, who, slug, body)


@router.delete("/schedules/{slug}/overrides/{override_id}", status_code=204)
async def delete_override(
    slug: str, override_id: int, who: Principal = MANAGE, session: AsyncSession = DB
) -> Response:
    await service.delete_override(session, who, slug, override_id)
    return Response(status_code=204)


@router.get("/policies", response_model=list[PolicyOut])
async def list_policies(who: Principal = READ, session: AsyncSession = DB) -> list[PolicyOut]:
    return await service.list_policies(session)


@router.post("/policies", response_model=PolicyOut, status_code=201)
async def create_policy(
    body: PolicyIn, who: Principal = MANAGE, session: AsyncSession = DB
) -> PolicyOut:
    return await service.save_policy(session, who, body)


@router.get("/policies/{slug}", response_model=PolicyOut)
async def get_policy(slug: str, who: Principal = READ, session: AsyncSession = DB) -> PolicyOut:
    return await service.get_policy(session, slug)


@router.put("/policies/{slug}", response_model=PolicyOut)
async def replace_policy(
    slug: str, body: PolicyIn, who: Principal = MANAGE, session: AsyncSession = DB
) -> PolicyOut:
    return await service.save_policy(session, who, body, slug)


@router.delete("/policies/{slug}", status_code=204)
async def delete_policy(slug: str, who: Principal = MANAGE, session: AsyncSession = DB) -> Response:
    await service.delete_policy(session, who, slug)
    return Response(status_code=204)


@router.put("/services/{service_slug}/policy", response_model=PolicyOut)
async def attach_service(
    service_slug: str, body: ServicePolicyIn, who: Principal = MANAGE, session: AsyncSession = DB
) -> PolicyOut:
    """Page for the service through this policy (team-scoped by the service's owner)."""
    return await service.attach_service(session, who, service_slug, body.policy)


@router.get("/who", response_model=WhoOut)
async def who_is_on_call(
    service_slug: str = Query(alias="service"),
    at: AwareDatetime | None = None,
    who: Principal = READ,
    session: AsyncSession = DB,
) -> WhoOut:
    """The people each level of the service's policy reaches at `at` (now)."""
    moment: datetime = at or utcnow()
    return await service.who_is_on_call(session, service_slug, moment)


@router.get("/me", response_model=list[ShiftOut])
async def my_oncall(who: Principal = READ, session: AsyncSession = DB) -> list[ShiftOut]:
    """The caller's shifts over the next two weeks, in every schedule."""
    assert who.user_id is not None
    return await service.my_shifts(session, who.user_id, utcnow())


@router.get("/pages", response_model=list[PageOut])
async def list_pages(
    status: str | None = Query(default=None, pattern="^(open|acknowledged|resolved)$"),
    who: Principal = READ,
    session: AsyncSession = DB,
) -> list[PageOut]:
    return await service.list_pages(session, who, status)


@router.get("/pages/{page_id}", response_model=PageOut)
async def get_page(page_id: int, who: Principal = READ, session: AsyncSession = DB) -> PageOut:
    return await service.get_page(session, who, page_id)


@router.post("/pages/{page_id}/acknowledge", response_model=PageOut)
async def acknowledge(
    page_id: int, who: Principal = RESPOND, session: AsyncSession = DB
) -> PageOut:
    return await service.acknowledge(session, who, page_id)


@router.post("/pages/{page_id}/resolve", response_model=PageOut)
async def resolve(page_id: int, who: Principal = RESPOND, session: AsyncSession = DB) -> PageOut:
    return await service.resolve(session, who, page_id)


@router.post("/pages/{page_id}/reassign", response_model=PageOut)
async def reassign(
    page_id: int, body: ReassignIn, who: Principal = RESPOND, session: AsyncSession = DB
) -> PageOut:
    return await service.reassign(session, who, page_id, body)
