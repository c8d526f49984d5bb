"""On-call pages: schedules with a two-week timeline, escalation policies, pages with their
acknowledge buttons, "my on-call", and the confirm page behind a notification's acknowledge
link (which needs no login: the signed link is the credential).

Schedules, their overrides and escalation policies are edited here through the same service
functions as the API and `tocsin apply`, so they are checked, team-scoped and audited alike;
a refusal shows the form again with the reason beside the field it names."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import available_timezones

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from tocsin.audit.service import Actor
from tocsin.auth import service as auth
from tocsin.auth.dependencies import Requires
from tocsin.auth.permissions import Permission
from tocsin.auth.principal import Principal
from tocsin.catalog import service as catalog
from tocsin.clock import utcnow
from tocsin.db.session import get_session
from tocsin.errors import Invalid, ProblemError
from tocsin.oncall import forms as oncall_forms
from tocsin.oncall import service
from tocsin.oncall.schemas import PolicyIn, ScheduleIn, SegmentOut
from tocsin.schemas import Input
from tocsin.web import forms
from tocsin.web.templating import render

router = APIRouter(include_in_schema=False)

READ = Depends(Requires(Permission.ONCALL_READ))
RESPOND = Depends(Requires(Permission.ONCALL_RESPOND))
MANAGE = Depends(Requires(Permission.ONCALL_MANAGE))
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
    return render(
        request,
        "oncall/index.html",
        schedules=schedules,
        current=current,
        may_manage=principal.can(Permission.ONCALL_MANAGE),
        deleted=request.query_params.get("deleted"),
    )


async def _team_ids(session: AsyncSession) -> dict[str, int]:
    return {team.slug: team.id for team in await catalog.list_teams(session)}


def _may_change(principal: Principal, team_id: int | None) -> bool:
    """Whether to offer edit controls: the service decides, this only mirrors its rule."""
    if not principal.can(Permission.ONCALL_MANAGE):
        return False
    return principal.is_admin or team_id in principal.team_ids


async def _may_change_team(session: AsyncSession, principal: Principal, team: str | None) -> bool:
    return _may_change(principal, None if team is None else (await _team_ids(session)).get(team))


async def _refuse_unless_may_change(
    session: AsyncSession, principal: Principal, team: str | None
) -> None:
    if not await _may_change_team(session, principal, team):
        raise ProblemError(403, "Forbidden", "only members of the owning team may change this")


async def _default_team(session: AsyncSession, principal: Principal) -> str:
    """A responder's new schedule or policy belongs to their team unless they say otherwise."""
    if principal.is_admin:
        return ""
    mine = [t.slug for t in await catalog.list_teams(session) if t.id in principal.team_ids]
    return mine[0] if mine else ""


async def _people(session: AsyncSession) -> list[tuple[int, str]]:
    return [(u.id, u.name or u.email) for u in await auth.list_users(session) if u.is_active]


def _actions(form: Any) -> tuple[str | None, str | None]:
    return forms.optional(form, "add"), forms.optional(form, "remove")


# --- schedules --------------------------------------------------------------------------------


async def _schedule_form(
    request: Request,
    session: AsyncSession,
    values: dict[str, Any],
    *,
    slug: str | None = None,
    errors: forms.FormErrors | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    return render(
        request,
        "oncall/schedule_edit.html",
        status_code=status_code,
        values=values,
        slug=slug,
        errors=errors or forms.FormErrors(),
        people=await _people(session),
        teams=await catalog.list_teams(session),
        zones=sorted(available_timezones()),
        weekdays=oncall_forms.WEEKDAYS,
        workweek=oncall_forms.WORKWEEK,
    )


@router.get("/oncall/schedules/new")
async def new_schedule_form(
    request: Request, principal: Principal = MANAGE, session: AsyncSession = DB
) -> HTMLResponse:
    team = await _default_team(session, principal)
    return await _schedule_form(request, session, oncall_forms.new_schedule(team, utcnow().date()))


@router.post("/oncall/schedules/new")
async def new_schedule_submit(
    request: Request, principal: Principal = MANAGE, session: AsyncSession = DB
) -> Response:
    return await _save_form(SCHEDULE_FORM, request, session, principal, None)


async def _schedule_page(
    request: Request,
    session: AsyncSession,
    principal: Principal,
    slug: str,
    *,
    override: dict[str, Any] | None = None,
    errors: forms.FormErrors | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    schedule = await service.get_schedule(session, slug)
    start = _midnight(utcnow())
    segments = await service.render_schedule(session, slug, start, start + DAY * 14)
    members = {m for layer in schedule.layers for m in layer.members}
    members |= {o.user_id for o in schedule.overrides}
    may_change = await _may_change_team(session, principal, schedule.team)
    return render(
        request,
        "oncall/schedule.html",
        status_code=status_code,
        schedule=schedule,
        days=_days(segments, start, 14),
        segments=segments,
        users=await service.user_labels(session, members),
        may_change=may_change,
        people=await _people(session) if may_change else [],
        override=override or {"user_id": "", "starts_at": "", "ends_at": ""},
        errors=errors or forms.FormErrors(),
        saved=request.query_params.get("saved") == "1",
    )


@router.get("/oncall/schedules/{slug}")
async def schedule_page(
    request: Request, slug: str, principal: Principal = READ, session: AsyncSession = DB
) -> HTMLResponse:
    return await _schedule_page(request, session, principal, slug)


@router.get("/oncall/schedules/{slug}/edit")
async def edit_schedule_form(
    request: Request, slug: str, principal: Principal = MANAGE, session: AsyncSession = DB
) -> HTMLResponse:
    return await _edit_form(SCHEDULE_FORM, request, session, principal, slug)


@router.post("/oncall/schedules/{slug}/edit")
async def edit_schedule_submit(
    request: Request, slug: str, principal: Principal = MANAGE, session: AsyncSession = DB
) -> Response:
    return await _save_form(SCHEDULE_FORM, request, session, principal, slug)


@router.post("/oncall/schedules/{slug}/delete")
async def delete_schedule_submit(
    request: Request, slug: str, principal: Principal = MANAGE, session: AsyncSession = DB
) -> Response:
    return await _delete_form(SCHEDULE_FORM, request, session, principal, slug)


@router.post("/oncall/schedules/{slug}/overrides")
async def add_override_submit(
    request: Request, slug: str, principal: Principal = MANAGE, session: AsyncSession = DB
) -> Response:
    values = oncall_forms.override_values(await request.form())

    async def add() -> None:
        await service.add_override(session, principal, slug, oncall_forms.override_body(values))

    _, errors = await forms.attempt(session, add, forms.PAGE_REFUSALS)
    if errors:
        return await _schedule_page(
            request,
            session,
            principal,
            slug,
            override=values,
            errors=errors,
            status_code=errors.status,
        )
    return RedirectResponse(f"/oncall/schedules/{slug}#overrides", status_code=303)


@router.post("/oncall/schedules/{slug}/overrides/{override_id}/delete")
async def delete_override_submit(
    slug: str, override_id: int, principal: Principal = MANAGE, session: AsyncSession = DB
) -> Response:
    await service.delete_override(session, principal, slug, override_id)
    return RedirectResponse(f"/oncall/schedules/{slug}#overrides", status_code=303)


@router.get("/oncall/policies")
async def policies_page(
    request: Request, principal: Principal = READ, session: AsyncSession = DB
) -> HTMLResponse:
    policies = await service.list_policies(session)
    schedules = {s.id: s.name for s in await service.list_schedules(session)}
    ids = {t.id for p in policies for level in p.levels for t in level.targets if t.type == "user"}
    team_ids = await _team_ids(session)
    return render(
        request,
        "oncall/policies.html",
        policies=policies,
        schedules=schedules,
        teams=await service.team_names(session),
        users=await service.user_labels(session, ids),
        may_manage=principal.can(Permission.ONCALL_MANAGE),
        may_change={
            p.slug
            for p in policies
            if _may_change(principal, None if p.team is None else team_ids.get(p.team))
        },
        saved=request.query_params.get("saved"),
        deleted=request.query_params.get("deleted"),
    )


async def _policy_form(
    request: Request,
    session: AsyncSession,
    values: dict[str, Any],
    *,
    slug: str | None = None,
    errors: forms.FormErrors | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    groups = [
        ("People", [(f"user:{i}", label) for i, label in await _people(session)]),
        (
            "Schedules (whoever is on call)",
            [(f"schedule:{s.id}", s.name) for s in await service.list_schedules(session)],
        ),
        (
            "Teams (every member)",
            [(f"team:{t.id}", t.name) for t in await catalog.list_teams(session)],
        ),
    ]
    return render(
        request,
        "oncall/policy_edit.html",
        status_code=status_code,
        values=values,
        slug=slug,
        errors=errors or forms.FormErrors(),
        target_groups=groups,
        known_targets={option for _, options in groups for option, _ in options},
        teams=await catalog.list_teams(session),
    )


@router.get("/oncall/policies/new")
async def new_policy_form(
    request: Request, principal: Principal = MANAGE, session: AsyncSession = DB
) -> HTMLResponse:
    values = oncall_forms.new_policy(await _default_team(session, principal))
    return await _policy_form(request, session, values)


@router.post("/oncall/policies/new")
async def new_policy_submit(
    request: Request, principal: Principal = MANAGE, session: AsyncSession = DB
) -> Response:
    return await _save_form(POLICY_FORM, request, session, principal, None)


@router.get("/oncall/policies/{slug}/edit")
async def edit_policy_form(
    request: Request, slug: str, principal: Principal = MANAGE, session: AsyncSession = DB
) -> HTMLResponse:
    return await _edit_form(POLICY_FORM, request, session, principal, slug)


@router.post("/oncall/policies/{slug}/edit")
async def edit_policy_submit(
    request: Request, slug: str, principal: Principal = MANAGE, session: AsyncSession = DB
) -> Response:
    return await _save_form(POLICY_FORM, request, session, principal, slug)


@router.post("/oncall/policies/{slug}/delete")
async def delete_policy_submit(
    request: Request, slug: str, principal: Principal = MANAGE, session: AsyncSession = DB
) -> Response:
    return await _delete_form(POLICY_FORM, request, session, principal, slug)


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


@dataclass(frozen=True)
class _Editor:
    """What differs between the schedule and the policy form; the flow around it is one."""

    load: Callable[[AsyncSession, str], Awaitable[Any]]
    values: Callable[[Any], dict[str, Any]]
    parse: Callable[..., dict[str, Any]]
    body: Callable[[dict[str, Any]], Input]
    save: Callable[[AsyncSession, Principal, Any, str | None], Awaitable[Any]]
    delete: Callable[[AsyncSession, Principal, str], Awaitable[None]]
    show: Callable[..., Awaitable[HTMLResponse]]
    saved_at: Callable[[str], str]
    deleted_at: Callable[[str], str]


SCHEDULE_FORM = _Editor(
    load=service.get_schedule,
    values=oncall_forms.schedule_values,
    parse=oncall_forms.parse_schedule,
    body=lambda values: ScheduleIn.model_validate(oncall_forms.schedule_body(values)),
    save=service.save_schedule,
    delete=service.delete_schedule,
    show=_schedule_form,
    saved_at=lambda slug: f"/oncall/schedules/{slug}?saved=1",
    deleted_at=lambda slug: f"/oncall?deleted={slug}",
)
POLICY_FORM = _Editor(
    load=service.get_policy,
    values=oncall_forms.policy_values,
    parse=oncall_forms.parse_policy,
    body=lambda values: PolicyIn.model_validate(oncall_forms.policy_body(values)),
    save=service.save_policy,
    delete=service.delete_policy,
    show=_policy_form,
    saved_at=lambda slug: f"/oncall/policies?saved={slug}#policy-{slug}",
    deleted_at=lambda slug: f"/oncall/policies?deleted={slug}",
)


async def _edit_form(
    editor: _Editor, request: Request, session: AsyncSession, principal: Principal, slug: str
) -> HTMLResponse:
    """Refused before the form is shown, so nobody fills in a form they may not save."""
    current = await editor.load(session, slug)
    await _refuse_unless_may_change(session, principal, current.team)
    return await editor.show(request, session, editor.values(current), slug=slug)


def _confirmed(form: Any) -> None:
    if forms.text(form, "confirm") != "yes":
        raise Invalid("confirm", "tick the box to confirm the deletion")


async def _delete_form(
    editor: _Editor, request: Request, session: AsyncSession, principal: Principal, slug: str
) -> Response:
    """The box must be ticked, because a deletion cannot be undone from the page; a refusal
    shows the edit form again with the reason beside the box."""
    form = await request.form()

    async def delete() -> None:
        _confirmed(form)
        await editor.delete(session, principal, slug)

    _, errors = await forms.attempt(session, delete, forms.PAGE_REFUSALS)
    if errors:
        return await editor.show(
            request,
            session,
            editor.values(await editor.load(session, slug)),
            slug=slug,
            errors=errors,
            status_code=errors.status,
        )
    return RedirectResponse(editor.deleted_at(slug), status_code=303)


async def _save_form(
    editor: _Editor,
    request: Request,
    session: AsyncSession,
    principal: Principal,
    slug: str | None,
) -> Response:
    """Add/remove-row buttons re-show the form unsaved; Save goes through the API's service
    function, and a refusal re-shows what was sent with the reason beside its field."""
    form = await request.form()
    add, remove = _actions(form)
    if add or remove:
        values = editor.parse(form, keep_blank=True)
        oncall_forms.change_rows(values, add, remove)
        if slug is not None:
            values["slug"] = slug
        return await editor.show(request, session, values, slug=slug)
    values = editor.parse(form)
    if slug is None:
        oncall_forms.fill_slug(values)
    else:
        values["slug"] = slug

    async def save() -> Any:
        return await editor.save(session, principal, editor.body(values), slug)

    saved, errors = await forms.attempt(session, save, forms.PAGE_REFUSALS)
    if errors or saved is None:
        return await editor.show(
            request,
            session,
            values,
            slug=slug,
            errors=errors,
            status_code=errors.status if errors else 422,
        )
    return RedirectResponse(editor.saved_at(saved.slug), status_code=303)
