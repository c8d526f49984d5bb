"""The coordination panel of an incident page (tasks by workstream, decisions, open conflicts
with a resolve form), its own page for browsers without scripts, and the forms behind it.

Forms go through the same use cases as the API, so the page can never do what the API would
refuse; a refusal is shown beside the panel.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import FormData

from tocsin.auth.dependencies import Requires
from tocsin.auth.permissions import Permission
from tocsin.auth.principal import Principal
from tocsin.db.session import get_session
from tocsin.errors import Invalid
from tocsin.incidents import service as incidents
from tocsin.incidents.coordination import service
from tocsin.incidents.coordination.schemas import (
    ConflictRaise,
    DecisionCreate,
    TaskCreate,
    TaskOut,
    TaskPatch,
    WorkstreamCreate,
)
from tocsin.web import forms
from tocsin.web.templating import is_htmx, render

router = APIRouter(include_in_schema=False)

READ = Depends(Requires(Permission.INCIDENT_READ))
WRITE = Depends(Requires(Permission.INCIDENT_WRITE))
DB = Depends(get_session)


async def _page(
    request: Request,
    session: AsyncSession,
    principal: Principal,
    ref: str,
    errors: forms.FormErrors | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    incident = await incidents.get_incident(session, principal, ref)
    workstreams = await service.list_workstreams(session, principal, ref)
    tasks = await service.list_tasks(session, principal, ref)
    grouped: list[tuple[str, list[TaskOut]]] = [
        (f"{w.team}: {w.goal}", [t for t in tasks if t.workstream_id == w.id]) for w in workstreams
    ]
    loose = [t for t in tasks if t.workstream_id is None]
    if loose:
        grouped.append(("No workstream", loose))
    name = (
        "incidents/coordination/_panel.html"
        if is_htmx(request)
        else "incidents/coordination/page.html"
    )
    return render(
        request,
        name,
        status_code=status_code,
        incident=incident,
        workstreams=workstreams,
        tasks=tasks,
        grouped=grouped,
        decisions=await service.list_decisions(session, principal, ref),
        conflicts=await service.list_conflicts(session, principal, ref),
        may_write=principal.can(Permission.INCIDENT_WRITE),
        errors=errors or forms.FormErrors(),
    )


@router.get("/incidents/{ref}/coordination")
async def coordination_page(
    request: Request, ref: str, principal: Principal = READ, session: AsyncSession = DB
) -> HTMLResponse:
    """The panel alone for the incident page (and its live refresh), else a page of its own."""
    return await _page(request, session, principal, ref)


async def _act(
    request: Request,
    session: AsyncSession,
    principal: Principal,
    ref: str,
    action: Callable[[FormData], Awaitable[Any]],
) -> Response:
    form = await request.form()
    _, errors = await forms.attempt(session, lambda: action(form))
    if errors:
        return await _page(request, session, principal, ref, errors, 422)
    return RedirectResponse(f"/incidents/{ref}", status_code=303)


def _lines(value: str) -> list[str]:
    """One option per line: options often contain commas."""
    return [line.strip() for line in value.splitlines() if line.strip()]


def _dissent(value: str) -> list[dict[str, str]]:
    """One dissent per line, `who: note`."""
    out = []
    for line in value.splitlines():
        who, _, note = line.partition(":")
        if who.strip():
            out.append({"who": who.strip(), "note": note.strip()})
    return out


def _decision(form: FormData) -> DecisionCreate:
    return DecisionCreate.model_validate(
        {
            "decision": forms.text(form, "decision"),
            "options": _lines(forms.text(form, "options")),
            "rationale": forms.text(form, "rationale"),
            "dissent": _dissent(forms.text(form, "dissent")),
        }
    )


@router.post("/incidents/{ref}/coordination/workstreams")
async def workstream_submit(
    request: Request, ref: str, principal: Principal = WRITE, session: AsyncSession = DB
) -> Response:
    async def go(form: FormData) -> None:
        body = WorkstreamCreate.model_validate(
            {
                "team": forms.text(form, "team"),
                "goal": forms.text(form, "goal"),
                "lead": forms.optional(form, "lead"),
            }
        )
        await service.create_workstream(session, principal, ref, body)

    return await _act(request, session, principal, ref, go)


@router.post("/incidents/{ref}/coordination/tasks")
async def task_submit(
    request: Request, ref: str, principal: Principal = WRITE, session: AsyncSession = DB
) -> Response:
    async def go(form: FormData) -> None:
        body = TaskCreate.model_validate(
            {
                "title": forms.text(form, "title"),
                "team": forms.text(form, "team"),
                "priority": forms.text(form, "priority") or "P3",
                "owner": forms.optional(form, "owner"),
                "due_at": forms.optional(form, "due_at"),
                "workstream_id": forms.optional(form, "workstream_id"),
            }
        )
        await service.create_task(session, principal, ref, body)

    return await _act(request, session, principal, ref, go)


@router.post("/incidents/{ref}/coordination/tasks/{task_id}")
async def task_status_submit(
    request: Request,
    ref: str,
    task_id: int,
    principal: Principal = WRITE,
    session: AsyncSession = DB,
) -> Response:
    async def go(form: FormData) -> None:
        body = TaskPatch.model_validate({"status": forms.text(form, "status")})
        await service.update_task(session, principal, ref, task_id, body)

    return await _act(request, session, principal, ref, go)


@router.post("/incidents/{ref}/coordination/conflicts")
async def conflict_submit(
    request: Request, ref: str, principal: Principal = WRITE, session: AsyncSession = DB
) -> Response:
    async def go(form: FormData) -> None:
        body = ConflictRaise.model_validate(
            {"other_task_id": forms.text(form, "other_task_id"), "note": forms.text(form, "note")}
        )
        raw = forms.text(form, "task_id")
        if not raw.isdigit():
            raise Invalid("task_id", "choose the task that conflicts")
        task_id = int(raw)
        await service.raise_conflict(session, principal, ref, task_id, body)

    return await _act(request, session, principal, ref, go)


@router.post("/incidents/{ref}/coordination/conflicts/{conflict_id}/resolve")
async def resolve_submit(
    request: Request,
    ref: str,
    conflict_id: int,
    principal: Principal = WRITE,
    session: AsyncSession = DB,
) -> Response:
    async def go(form: FormData) -> None:
        await service.resolve_conflict(session, principal, ref, conflict_id, _decision(form))

    return await _act(request, session, principal, ref, go)


@router.post("/incidents/{ref}/coordination/decisions")
async def decision_submit(
    request: Request, ref: str, principal: Principal = WRITE, session: AsyncSession = DB
) -> Response:
    async def go(form: FormData) -> None:
        await service.create_decision(session, principal, ref, _decision(form))

    return await _act(request, session, principal, ref, go)
