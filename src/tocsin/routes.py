"""The one place that lists every router the application serves."""

from __future__ import annotations

from fastapi import FastAPI

from tocsin import ops
from tocsin.audit import api as audit_api
from tocsin.auth import api as auth_api
from tocsin.auth import views as auth_views
from tocsin.config import Settings


def include_routes(app: FastAPI, settings: Settings) -> None:
    app.include_router(ops.router)
    app.include_router(auth_api.router)
    app.include_router(audit_api.router)
    app.include_router(auth_views.router)
