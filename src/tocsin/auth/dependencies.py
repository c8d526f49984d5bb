"""How routes say who may call them.

Every route carries exactly one `Requires(permission)` dependency; the test suite walks all
routes and fails when one has none, so no endpoint can be forgotten.
"""

from __future__ import annotations

from fastapi import Depends, HTTPException, Request
from sqlalchemy.ext.asyncio import AsyncSession

from tocsin.auth import service
from tocsin.auth.permissions import Permission
from tocsin.auth.principal import Principal
from tocsin.auth.secrets import same
from tocsin.db.session import get_session

SESSION_COOKIE = "tocsin_session"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


async def _principal(request: Request, session: AsyncSession) -> Principal:
    cached = getattr(request.state, "principal", None)
    if isinstance(cached, Principal):
        return cached
    principal = Principal.anonymous()
    authorization = request.headers.get("authorization", "")
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() == "bearer" and credentials:
        resolved = await service.resolve_token(session, credentials.strip())
        if resolved is None:
            raise HTTPException(
                401,
                "the bearer token is unknown, expired or revoked",
                headers={"WWW-Authenticate": "Bearer"},
            )
        principal = resolved
    elif cookie := request.cookies.get(SESSION_COOKIE):
        principal = await service.resolve_session(session, cookie) or principal
    # End the look-up's transaction: on SQLite every transaction holds the write lock, and a
    # handler that opens a second session must not wait behind its own request.
    await session.commit()
    request.state.principal = principal
    return principal


async def _check_csrf(request: Request, principal: Principal) -> None:
    """Cookie-authenticated writes must echo the session's CSRF token (header or form field)."""
    if principal.via != "session" or request.method in SAFE_METHODS:
        return
    sent = request.headers.get(CSRF_HEADER)
    if not sent and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if not sent or not principal.csrf_token or not same(sent, principal.csrf_token):
        raise HTTPException(403, "missing or wrong CSRF token")


class Requires:
    """Dependency that admits callers holding `permission` and returns their Principal."""

    def __init__(self, permission: Permission) -> None:
        self.permission = permission

    async def __call__(
        self, request: Request, session: AsyncSession = Depends(get_session)
    ) -> Principal:
        principal = await _principal(request, session)
        if self.permission == Permission.PUBLIC:
            return principal
        if not principal.is_authenticated:
            raise HTTPException(
                401, "sign in or send a bearer token", headers={"WWW-Authenticate": "Bearer"}
            )
        await _check_csrf(request, principal)
        if not principal.can(self.permission):
            raise HTTPException(403, f"this needs the {self.permission.value} permission")
        return principal

    def __repr__(self) -> str:
        return f"Requires({self.permission.value})"


def requires(permission: Permission) -> Requires:
    return Requires(permission)
