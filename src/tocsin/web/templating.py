"""The Jinja environment for pages: autoescaped, with the caller and CSRF token in context."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from tocsin.auth.permissions import Permission
from tocsin.web import assets, navigation

TEMPLATES_DIR = Path(__file__).parent / "templates"
templates = Jinja2Templates(directory=str(TEMPLATES_DIR))


def _when(value: datetime | None) -> str:
    """Times on pages are UTC and say so: a responder compares them with logs and chat."""
    if value is None:
        return "—"
    return value.strftime("%Y-%m-%d %H:%M UTC")


def _duration(seconds: float | int | None) -> str:
    if seconds is None:
        return "—"
    total = int(seconds)
    if total < 60:
        return f"{total} s"
    minutes, secs = divmod(total, 60)
    if minutes < 60:
        return f"{minutes} min" + (f" {secs} s" if secs else "")
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h" + (f" {minutes} min" if minutes else "")
    days, hours = divmod(hours, 24)
    return f"{days} d" + (f" {hours} h" if hours else "")


templates.env.globals.update(
    static_url=assets.static_url,
    vendor_url=assets.vendor_url,
)
templates.env.filters.update(when=_when, duration=_duration)


def render(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    principal = getattr(request.state, "principal", None)
    context.setdefault("principal", principal)
    context.setdefault("csrf_token", getattr(principal, "csrf_token", None) or "")
    context.setdefault("settings", request.app.state.settings)
    permissions: frozenset[Permission] = getattr(principal, "permissions", frozenset())
    sections = navigation.visible_sections(permissions)
    context.setdefault("nav_sections", sections)
    context.setdefault("nav_current", navigation.current_href(request.url.path, sections))
    context.setdefault("missing_assets", assets.missing_vendor_packages())
    return templates.TemplateResponse(request, name, context, status_code=status_code)


def is_htmx(request: Request) -> bool:
    """htmx asks for a fragment; a full navigation (or a reload) asks for the whole page."""
    return request.headers.get("hx-request") == "true"
