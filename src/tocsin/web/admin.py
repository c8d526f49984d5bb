"""Administration pages: who can sign in, and what changed (the audit trail)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.ext.asyncio import AsyncSession

from tocsin.audit import service as audit
from tocsin.auth import service as auth
from tocsin.auth.dependencies import Requires
from tocsin.auth.permissions import Permission
from tocsin.auth.principal import Principal
from tocsin.db.session import get_session
from tocsin.web.templating import render

router = APIRouter(prefix="/admin", include_in_schema=False)

AUDIT_PAGE_SIZE = 50


@router.get("/users")
async def users_page(
    request: Request,
    _: Principal = Depends(Requires(Permission.USERS_READ)),
    session: AsyncSession = Depends(get_session),
) -> HTMLResponse:
    users = await auth.list_users(session)
    return render(request, "admin/users.html", users=users)


def changed_fields(before: dict[str, Any] | None, after: dict[str, Any] | None) -> list[str]:
    """The keys whose value differs between two snapshots: what a reader scans for first."""
    before, after = before or {}, after or {}
    return sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))


@router.get("/audit")
async def audit_page(
    request: Request,
    object_type: str | None = Query(default=None, max_length=64),
    object_id: str | None = Query(default=None, max_length=100),
    action: str | None = Query(default=None, max_length=100),
    actor: str | None = Query(default=None, max_length=320),
    before_id: int | None = Query(default=None, ge=1),
    _: Principal = Depends(Requires(Permission.AUDIT_READ)),
    session: AsyncSession = Depends(get_session),
) -> HTMLResponse:
    query = audit.AuditQuery(
        object_type=object_type or None,
        object_id=object_id or None,
        action=action or None,
        actor_label=actor or None,
        before_id=before_id,
        limit=AUDIT_PAGE_SIZE,
    )
    entries = await audit.search(session, query)
    rows = [(entry, changed_fields(entry.before, entry.after)) for entry in entries]
    filters = {"object_type": object_type, "object_id": object_id, "action": action, "actor": actor}
    older = None
    if len(entries) == AUDIT_PAGE_SIZE:
        kept = {k: v for k, v in filters.items() if v}
        older = urlencode({**kept, "before_id": entries[-1].id})
    return render(request, "admin/audit.html", rows=rows, older=older, filters=filters)
