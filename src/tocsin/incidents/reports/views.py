"""Customer report pages: the reports panel of an incident page, and the reports list with
its clusters. The panel loads itself into the incident page (and refreshes on the incident's
live events), so the incident page needs only to include its placeholder."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from tocsin.auth.dependencies import Requires
from tocsin.auth.permissions import Permission
from tocsin.auth.principal import Principal
from tocsin.db.session import get_session
from tocsin.errors import Invalid, ProblemError
from tocsin.incidents.reports import clusters, impact, matching, service
from tocsin.incidents.reports.schemas import ClusterDeclare, ProposalAccept
from tocsin.web import forms
from tocsin.web.templating import is_htmx, render

router = APIRouter(include_in_schema=False)

READ = Depends(Requires(Permission.INCIDENT_READ))
DB = Depends(get_session)


def _invalid(exc: ValidationError) -> Invalid:
    """A form refusal as a problem, for callers who may not read the page it belongs on."""
    error = exc.errors()[0]
    return Invalid(".".join(str(p) for p in error["loc"]) or "form", str(error["msg"]))


async def _panel(
    request: Request,
    session: AsyncSession,
    principal: Principal,
    ref: str,
    errors: forms.FormErrors | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    proposal = await impact.proposal(session, principal, ref)
    return render(
        request,
        "incidents/reports/panel.html" if is_htmx(request) else "incidents/reports/page.html",
        status_code=status_code,
        ref=proposal.incident,
        proposal=proposal,
        reports=await service.list_reports(session, principal, incident=ref),
        errors=errors or forms.FormErrors(),
        may_write=principal.can(Permission.INCIDENT_WRITE),
    )


@router.get("/incidents/{ref}/customer-reports")
async def panel(
    request: Request, ref: str, principal: Principal = READ, session: AsyncSession = DB
) -> HTMLResponse:
    """The reports panel alone: linked reports and the impact-start proposal."""
    return await _panel(request, session, principal, ref)


@router.post("/incidents/{ref}/impact-start/accept")
async def accept_submit(
    request: Request,
    ref: str,
    principal: Principal = Depends(Requires(Permission.INCIDENT_WRITE)),
    session: AsyncSession = DB,
) -> Response:
    form = await request.form()
    try:
        body = ProposalAccept.model_validate({"reason": forms.text(form, "reason")})
        await impact.accept(session, principal, ref, body)
    except ValidationError as exc:
        if not principal.can(Permission.INCIDENT_READ):
            raise _invalid(exc) from exc
        return await _panel(request, session, principal, ref, forms.from_validation(exc), 422)
    except ProblemError as exc:
        await session.rollback()
        if exc.status not in {409, 422} or not principal.can(Permission.INCIDENT_READ):
            raise
        return await _panel(request, session, principal, ref, forms.from_problem(exc), 422)
    return RedirectResponse(f"/incidents/{ref}", status_code=303)


async def _list(
    request: Request,
    session: AsyncSession,
    principal: Principal,
    errors: forms.FormErrors | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    from tocsin.policy import service as policy

    window = matching.DEFAULT_CLUSTER_WINDOW
    context: dict[str, Any] = {
        "reports": await service.list_reports(session, principal, limit=200),
        "clusters": await clusters.get_clusters(
            session, principal, matching.DEFAULT_CLUSTER_SIZE, window
        ),
        "cluster_size": matching.DEFAULT_CLUSTER_SIZE,
        "window_minutes": int(window / timedelta(minutes=1)),
        "severities": list(await policy.list_severities(session)),
        "may_declare": principal.can(Permission.INCIDENT_DECLARE),
        "errors": errors or forms.FormErrors(),
    }
    return render(request, "incidents/reports/list.html", status_code=status_code, **context)


@router.get("/customer-reports")
async def list_page(
    request: Request, principal: Principal = READ, session: AsyncSession = DB
) -> HTMLResponse:
    return await _list(request, session, principal)


@router.post("/customer-reports/clusters/{service_slug}/declare")
async def declare_submit(
    request: Request,
    service_slug: str,
    principal: Principal = Depends(Requires(Permission.INCIDENT_DECLARE)),
    session: AsyncSession = DB,
) -> Response:
    form = await request.form()
    try:
        body = ClusterDeclare.model_validate(
            {
                "severity": forms.text(form, "severity"),
                "title": forms.optional(form, "title"),
                "visibility": forms.text(form, "visibility") or "public",
            }
        )
        declared = await clusters.declare_from_cluster(
            session,
            principal,
            service_slug,
            body,
            matching.DEFAULT_CLUSTER_SIZE,
            matching.DEFAULT_CLUSTER_WINDOW,
        )
    except ValidationError as exc:
        if not principal.can(Permission.INCIDENT_READ):
            raise _invalid(exc) from exc
        return await _list(request, session, principal, forms.from_validation(exc), 422)
    except ProblemError as exc:
        await session.rollback()
        if exc.status not in {404, 409, 422} or not principal.can(Permission.INCIDENT_READ):
            raise
        return await _list(request, session, principal, forms.from_problem(exc), 422)
    return RedirectResponse(f"/incidents/{declared.ref}", status_code=303)
