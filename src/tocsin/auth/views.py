"""Sign-in and sign-out pages for browsers."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated
from urllib.parse import urlparse

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from tocsin.auth import service
from tocsin.auth.dependencies import SESSION_COOKIE, Requires
from tocsin.auth.permissions import Permission
from tocsin.auth.principal import Principal
from tocsin.config import Settings
from tocsin.db.session import get_session
from tocsin.web.templating import render

router = APIRouter(include_in_schema=False)


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
