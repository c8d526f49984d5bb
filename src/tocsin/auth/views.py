"""Sign-in and sign-out for browsers: password form and single sign-on."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated
from urllib.parse import urlparse

import httpx
import structlog
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.base_client.errors import MismatchingStateError
from authlib.integrations.starlette_client import OAuthError
from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from joserfc.errors import JoseError
from sqlalchemy.ext.asyncio import AsyncSession

from tocsin.auth import service, sso
from tocsin.auth.dependencies import SESSION_COOKIE, Requires
from tocsin.auth.permissions import Permission
from tocsin.auth.principal import Principal
from tocsin.config import Settings
from tocsin.db.session import get_session
from tocsin.errors import ProblemError
from tocsin.web.templating import render

router = APIRouter(include_in_schema=False)
log = structlog.get_logger("tocsin.auth")

SSO_NEXT_KEY = "oidc_next"


def safe_next(target: str | None) -> str:
    """Only same-site paths: an open redirect after login is a phishing tool."""
    if not target:
        return "/"
    parsed = urlparse(target)
    if parsed.scheme or parsed.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


def set_session_cookie(response: Response, settings: Settings, value: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        value,
        max_age=settings.session_lifetime_hours * 3600,
        httponly=True,
        secure=settings.secure_cookies,
        samesite="lax",
        path="/",
    )


@router.get("/login")
async def login_form(
    request: Request,
    next: str | None = None,
    principal: Principal = Depends(Requires(Permission.PUBLIC)),
) -> Response:
    if principal.is_authenticated:
        return RedirectResponse(safe_next(next), status_code=303)
    return render(request, "login.html", next=safe_next(next), error=None)


@router.post("/login")
async def login_submit(
    request: Request,
    email: Annotated[str, Form(max_length=320)],
    password: Annotated[str, Form(max_length=1024)],
    next: Annotated[str | None, Form()] = None,
    _: Principal = Depends(Requires(Permission.PUBLIC)),
    session: AsyncSession = Depends(get_session),
) -> Response:
    settings: Settings = request.app.state.settings
    user = await service.authenticate_password(session, email, password)
    if user is None:
        return render(
            request,
            "login.html",
            status_code=401,
            next=safe_next(next),
            error="Wrong e-mail or password.",
            email=email,
        )
    new = await service.start_session(
        session, user, lifetime=timedelta(hours=settings.session_lifetime_hours)
    )
    response = RedirectResponse(safe_next(next), status_code=303)
    set_session_cookie(response, settings, new.cookie_value)
    return response


@router.post("/logout")
async def logout(
    request: Request,
    _: Principal = Depends(Requires(Permission.AUTHENTICATED)),
    session: AsyncSession = Depends(get_session),
) -> Response:
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        await service.end_session(session, cookie)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def _sso_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    if not settings.oidc_enabled:
        raise ProblemError(404, "Not found", "single sign-on is not configured")
    return settings


def _sso_failed(request: Request, status: int, reason: str) -> Response:
    log.warning("sso.refused", reason=reason)
    return render(
        request,
        "login.html",
        status_code=status,
        next="/",
        error=f"Single sign-on failed: {reason}.",
    )


@router.get("/auth/oidc/login")
async def oidc_login(
    request: Request,
    next: str | None = None,
    _: Principal = Depends(Requires(Permission.PUBLIC)),
) -> Response:
    """Sends the browser to the identity provider; `next` waits in the signed SSO cookie."""
    settings = _sso_settings(request)
    request.session[SSO_NEXT_KEY] = safe_next(next)
    try:
        redirect: Response = await sso.client_for(request.app).authorize_redirect(
            request, sso.callback_url(settings)
        )
    except httpx.HTTPError:
        return _sso_failed(request, 502, "the identity provider does not answer")
    return redirect


@router.get("/auth/oidc/callback")
async def oidc_callback(
    request: Request,
    _: Principal = Depends(Requires(Permission.PUBLIC)),
    session: AsyncSession = Depends(get_session),
) -> Response:
    """Exchanges the code, verifies the ID token, then signs in like the password form does."""
    settings = _sso_settings(request)
    client = sso.client_for(request.app)
    try:
        token = await client.authorize_access_token(request)
    except MismatchingStateError:
        # Forged, replayed or expired: the state was not issued to this browser.
        return _sso_failed(request, 400, "the sign-in request is unknown or expired; start again")
    except OAuthError as exc:
        # The provider said no (access_denied, invalid_grant…).
        return _sso_failed(request, 400, exc.description or exc.error or "invalid response")
    except (AuthlibBaseError, JoseError) as exc:
        return _sso_failed(request, 400, f"the ID token is not valid ({type(exc).__name__})")
    except httpx.HTTPError:
        return _sso_failed(request, 502, "the identity provider does not answer")
    claims = token.get("userinfo")
    if not claims:
        return _sso_failed(request, 400, "the identity provider sent no ID token")
    try:
        identity = sso.identity_from_claims(claims)
        user = await sso.find_or_create_user(session, settings, identity)
    except sso.SsoRefused as exc:
        await session.rollback()
        return _sso_failed(request, 403, str(exc))
    new = await service.start_session(
        session, user, lifetime=timedelta(hours=settings.session_lifetime_hours), method="oidc"
    )
    response = RedirectResponse(safe_next(request.session.pop(SSO_NEXT_KEY, None)), 303)
    set_session_cookie(response, settings, new.cookie_value)
    return response
