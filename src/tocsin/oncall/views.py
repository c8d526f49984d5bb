"""On-call pages: schedules with a two-week timeline, escalation policies, pages with their
acknowledge buttons, "my on-call", and the confirm page behind a notification's acknowledge
link (which needs no login: the signed link is the credential)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from tocsin.audit.service import Actor
from tocsin.auth.dependencies import Requires
from tocsin.auth.permissions import Permission
from tocsin.auth.principal import Principal
from tocsin.clock import utcnow
from tocsin.db.session import get_session
from tocsin.errors import ProblemError
from tocsin.oncall import service
from tocsin.oncall.schemas import SegmentOut
from tocsin.web.templating import render

router = APIRouter(include_in_schema=False)

READ = Depends(Requires(Permission.ONCALL_READ))
RESPOND = Depends(Requires(Permission.ONCALL_RESPOND))
PUBLIC = Depends(Requires(Permission.PUBLIC))
DB = Depends(get_session)

DAY = timedelta(days=1)


@dataclass(frozen=True)
class Bar:
    user: str
    source: str
    start: datetime
    end: datetime
    left: float
    width: float


@dataclass(frozen=True)
class Day:
    start: datetime
    bars: list[Bar]


def _days(segments: list[SegmentOut], start: datetime, count: int) -> list[Day]:
    """Cut segments into one row per UTC day, each bar placed as a percentage of the day."""
    days = []
    for index in range(count):
        lo = start + DAY * index
        hi = lo + DAY
        bars = []
        for s in segments:
            a, b = max(s.start, lo), min(s.end, hi)
            if a < b:
                left = (a - lo) / DAY * 100
                bars.append(
                    Bar(s.user, s.source, a, b, round(left, 2), round((b - a) / DAY * 100, 2))
                )
        days.append(Day(lo, bars))
    return days


def _midnight(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


@router.get("/oncall")
async def overview(
    request: Request, principal: Principal = READ, session: AsyncSession = DB
) -> HTMLResponse:
    now = utcnow()
    schedules = await service.list_schedules(session)
    current = {}
    for s in schedules:
        ids = await service.on_call_user_ids(session, s.id, now)
        labels = await service.user_labels(session, set(ids))
        current[s.slug] = ", ".join(labels[i] for i in ids) or "nobody"
    return render(request, "oncall/index.html", schedules=schedules, current=current)


@router.get("/oncall/schedules/{slug}")
async def schedule_page(
    request: Request, slug: str, principal: Principal = READ, session: AsyncSession = DB
) -> HTMLResponse:
    schedule = await service.get_schedule(session, slug)
    start = _midnight(utcnow())
    segments = await service.render_schedule(session, slug, start, start + DAY * 14)
    members = {m for layer in schedule.layers for m in layer.members}
    return render(
        request,
        "oncall/schedule.html",
        schedule=schedule,
        days=_days(segments, start, 14),
        segments=segments,
        users=await service.user_labels(session, members),
    )


@router.get("/oncall/policies")
async def policies_page(
    request: Request, principal: Principal = READ, session: AsyncSession = DB
) -> HTMLResponse:
    policies = await service.list_policies(session)
    schedules = {s.id: s.name for s in await service.list_schedules(session)}
    ids = {t.id for p in policies for level in p.levels for t in level.targets if t.type == "user"}
    return render(
        request,
        "oncall/policies.html",
        policies=policies,
        schedules=schedules,
        teams=await service.team_names(session),
        users=await service.user_labels(session, ids),
    )


@router.get("/oncall/pages")
async def pages_page(
    request: Request, principal: Principal = READ, session: AsyncSession = DB
) -> HTMLResponse:
    pages = await service.list_pages(session, principal)
    return render(
        request,
        "oncall/pages.html",
        pages=pages,
        may_respond=principal.can(Permission.ONCALL_RESPOND),
    )


@router.post("/oncall/pages/{page_id}/acknowledge")
async def acknowledge_submit(
    page_id: int, principal: Principal = RESPOND, session: AsyncSession = DB
) -> Response:
    try:
        await service.acknowledge(session, principal, page_id, via="web")
    except ProblemError as exc:
        if exc.status != 409:
            raise
        await session.rollback()  # acknowledged by someone else meanwhile: nothing to do
    return RedirectResponse("/oncall/pages", status_code=303)


@router.post("/oncall/pages/{page_id}/resolve")
async def resolve_submit(
    page_id: int, principal: Principal = RESPOND, session: AsyncSession = DB
) -> Response:
    try:
        await service.resolve(session, principal, page_id)
    except ProblemError as exc:
        if exc.status != 409:
            raise
        await session.rollback()
    return RedirectResponse("/oncall/pages", status_code=303)


@router.get("/oncall/me")
async def my_page(
    request: Request, principal: Principal = READ, session: AsyncSession = DB
) -> HTMLResponse:
    assert principal.user_id is not None
    shifts = await service.my_shifts(session, principal.user_id, utcnow())
    pages = [
        p
        for p in await service.list_pages(session, principal, "open")
        if principal.user_id in p.notified
    ]
    return render(request, "oncall/me.html", shifts=shifts, pages=pages)


async def _link_page(
    request: Request, session: AsyncSession, token: str, done: bool = False
) -> HTMLResponse:
    try:
        page_id, _ = service.read_ack_token(token)
        page = await service.get_page(session, Actor.system("acknowledge link"), page_id)
    except ProblemError as exc:
        return render(
            request, "oncall/ack.html", status_code=exc.status, page=None, error=exc.detail
        )
    return render(request, "oncall/ack.html", page=page, token=token, done=done, error=None)


@router.get("/oncall/ack/{token}")
async def ack_link_page(
    request: Request, token: str, principal: Principal = PUBLIC, session: AsyncSession = DB
) -> HTMLResponse:
    """A confirm form, so that a link preview or a mail scanner fetching the URL does not
    acknowledge the page by itself."""
    return await _link_page(request, session, token)


@router.post("/oncall/ack/{token}")
async def ack_link_submit(
    request: Request, token: str, principal: Principal = PUBLIC, session: AsyncSession = DB
) -> HTMLResponse:
    try:
        await service.acknowledge_by_link(session, token)
    except ProblemError as exc:
        await session.rollback()
        if exc.status != 409:
            return render(
                request, "oncall/ack.html", status_code=exc.status, page=None, error=exc.detail
            )
    return await _link_page(request, session, token, done=True)
