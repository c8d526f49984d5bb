"""Incident pages: the list, the declare form and one incident's page.

Forms post to page routes that call the same service functions as the API, so a page can
never do what the API would refuse, and a refusal is shown beside the form that caused it.
The timeline panel refreshes itself when a live incident event arrives.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from tocsin.auth.dependencies import Requires
from tocsin.auth.permissions import Permission
from tocsin.auth.principal import Principal
from tocsin.db.session import get_session
from tocsin.errors import ProblemError
from tocsin.incidents import service as incidents
from tocsin.incidents.lifecycle import Status, allowed_targets
from tocsin.incidents.milestones import LABELS, Milestone
from tocsin.incidents.schemas import (
    ROLE_LABELS,
    ChecklistItemSet,
    IncidentDeclare,
    IncidentType,
    NoteIn,
    RoleAssign,
    StatusChange,
    Visibility,
)
from tocsin.web import forms
from tocsin.web.templating import is_htmx, render

router = APIRouter(include_in_schema=False)

READ = Depends(Requires(Permission.INCIDENT_READ))
DB = Depends(get_session)


async def _severities(session: AsyncSession) -> list[Any]:
    from tocsin.policy import service as policy

    return list(await policy.list_severities(session))


@router.get("/incidents")
async def incidents_page(
    request: Request,
    active: str = "",
    principal: Principal = READ,
    session: AsyncSession = DB,
) -> HTMLResponse:
    only_active = {"1": True, "0": False}.get(active)
    rows = await incidents.list_incidents(
        session, principal, incidents.IncidentFilter(active=only_active)
    )
    return render(
        request,
        "incidents/list.html",
        incidents=rows,
        active=active,
        may_declare=principal.can(Permission.INCIDENT_DECLARE),
    )


async def _declare_form(
    request: Request,
    session: AsyncSession,
    values: dict[str, Any],
    errors: forms.FormErrors,
    status_code: int = 200,
) -> HTMLResponse:
    return render(
        request,
        "incidents/declare.html",
        status_code=status_code,
        values=values,
        errors=errors,
        severities=await _severities(session),
        types=list(IncidentType),
        visibilities=list(Visibility),
    )


@router.get("/incidents/new")
async def declare_form(
    request: Request,
    _: Principal = Depends(Requires(Permission.INCIDENT_DECLARE)),
    session: AsyncSession = DB,
) -> HTMLResponse:
    values = {"type": "outage", "visibility": "public", "severity": "", "services": ""}
    return await _declare_form(request, session, values, forms.FormErrors())


@router.post("/incidents/new")
async def declare_submit(
    request: Request,
    principal: Principal = Depends(Requires(Permission.INCIDENT_DECLARE)),
    session: AsyncSession = DB,
) -> Response:
    form = await request.form()
    values = {
        "title": forms.text(form, "title"),
        "summary": forms.text(form, "summary"),
        "severity": forms.text(form, "severity"),
        "type": forms.text(form, "type") or "outage",
        "visibility": forms.text(form, "visibility") or "public",
        "services": forms.text(form, "services"),
    }
    body = {**values, "services": forms.split_list(values["services"])}
    try:
        declared = await incidents.declare(session, principal, IncidentDeclare.model_validate(body))
    except ValidationError as exc:
        return await _declare_form(request, session, values, forms.from_validation(exc), 422)
    except ProblemError as exc:
        await session.rollback()
        if exc.status not in {409, 422}:
            raise
        return await _declare_form(request, session, values, forms.from_problem(exc), 422)
    return RedirectResponse(f"/incidents/{declared.ref}", status_code=303)


async def _detail(
    request: Request,
    session: AsyncSession,
    principal: Principal,
    ref: str,
    errors: forms.FormErrors | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    incident = await incidents.get_incident(session, principal, ref)
    return render(
        request,
        "incidents/detail.html",
        status_code=status_code,
        incident=incident,
        timeline=await incidents.get_timeline(session, principal, ref),
        checklists=await incidents.get_checklists(session, principal, ref),
        roles=await incidents.get_roles(session, principal, ref),
        kpis=await incidents.get_kpis(session, principal, ref),
        milestones=[(m, LABELS[m], incident.milestones.get(m.value)) for m in Milestone],
        targets=sorted(allowed_targets(Status(incident.status)), key=list(Status).index),
        role_labels=ROLE_LABELS,
        errors=errors or forms.FormErrors(),
        may_write=principal.can(Permission.INCIDENT_WRITE),
        may_note=principal.can(Permission.INCIDENT_NOTE),
    )


@router.get("/incidents/{ref}")
async def incident_page(
    request: Request, ref: str, principal: Principal = READ, session: AsyncSession = DB
) -> HTMLResponse:
    return await _detail(request, session, principal, ref)


@router.get("/incidents/{ref}/timeline")
async def timeline_fragment(
    request: Request, ref: str, principal: Principal = READ, session: AsyncSession = DB
) -> HTMLResponse:
    """The timeline panel alone, for the page's live refresh."""
    incident = await incidents.get_incident(session, principal, ref)
    timeline = await incidents.get_timeline(session, principal, ref)
    name = "incidents/_timeline.html" if is_htmx(request) else "incidents/timeline.html"
    return render(request, name, incident=incident, timeline=timeline)


async def _act(
    request: Request,
    session: AsyncSession,
    principal: Principal,
    ref: str,
    action: Any,
) -> Response:
    """Run one form action; on refusal show the page again with the reason beside the form."""
    _, errors = await forms.attempt(session, action)
    if errors:
        return await _detail(request, session, principal, ref, errors, 422)
    return RedirectResponse(f"/incidents/{ref}", status_code=303)


@router.post("/incidents/{ref}/notes")
async def note_submit(
    request: Request,
    ref: str,
    principal: Principal = Depends(Requires(Permission.INCIDENT_NOTE)),
    session: AsyncSession = DB,
) -> Response:
    form = await request.form()

    async def go() -> None:
        body = NoteIn.model_validate(
            {"text": forms.text(form, "text"), "kind": forms.text(form, "kind") or "note"}
        )
        await incidents.add_note(session, principal, ref, body)

    return await _act(request, session, principal, ref, go)


@router.post("/incidents/{ref}/status")
async def status_submit(
    request: Request,
    ref: str,
    principal: Principal = Depends(Requires(Permission.INCIDENT_WRITE)),
    session: AsyncSession = DB,
) -> Response:
    form = await request.form()

    async def go() -> None:
        body = StatusChange.model_validate(
            {"status": forms.text(form, "status"), "reason": forms.text(form, "reason")}
        )
        await incidents.change_status(session, principal, ref, body)

    return await _act(request, session, principal, ref, go)


@router.post("/incidents/{ref}/roles")
async def role_submit(
    request: Request,
    ref: str,
    principal: Principal = Depends(Requires(Permission.INCIDENT_WRITE)),
    session: AsyncSession = DB,
) -> Response:
    form = await request.form()

    async def go() -> None:
        body = RoleAssign.model_validate(
            {
                "role": forms.text(form, "role"),
                "user": forms.text(form, "user"),
                "reason": forms.text(form, "reason"),
            }
        )
        await incidents.assign_role(session, principal, ref, body)

    return await _act(request, session, principal, ref, go)


@router.post("/incidents/{ref}/checklists")
async def checklist_submit(
    request: Request,
    ref: str,
    principal: Principal = Depends(Requires(Permission.INCIDENT_WRITE)),
    session: AsyncSession = DB,
) -> Response:
    form = await request.form()

    async def go() -> None:
        body = ChecklistItemSet.model_validate(
            {
                "checklist": forms.text(form, "checklist"),
                "item": forms.text(form, "item"),
                "state": forms.text(form, "state"),
                "reason": forms.text(form, "reason"),
            }
        )
        await incidents.set_item(session, principal, ref, body)

    return await _act(request, session, principal, ref, go)
