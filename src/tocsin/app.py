"""The ASGI application: API, web UI and operational endpoints in one FastAPI app."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.exceptions import HTTPException
from starlette.middleware.sessions import SessionMiddleware
from starlette.types import Message, Receive, Scope, Send

from tocsin import __version__, errors
from tocsin.alerts.fastpath import IngestFastPath
from tocsin.config import Settings, get_settings
from tocsin.db.engine import make_engine, make_sessionmaker
from tocsin.observability import BodySizeLimitMiddleware, RequestContextMiddleware
from tocsin.routes import include_routes
from tocsin.statuspage.fastpath import StatusFastPath


class TocsinApp(FastAPI):
    """The application, with alert ingestion served ahead of its middleware stack.

    Ingestion is the one part of the API that monitoring tools hit thousands of times a
    second; `tocsin.alerts.fastpath` explains what it skips and what it does itself.
    `ingest_fast_path` is None when every request should meet the framework (a test compares
    both paths' answers)."""

    ingest_fast_path: IngestFastPath | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        front = self.ingest_fast_path
        if front is not None and (taken := front.take(scope)) is not None:
            scope["app"] = self  # what the framework sets: handlers reach app.state by it
            await front.serve(taken[1], scope, receive, send)
            return
        await super().__call__(scope, receive, send)


async def _prepare_routes(app: FastAPI) -> None:
    """FastAPI analyses a route's dependencies the first time a request is matched against
    it, so a fresh process spent 200 to 400 ms of its first requests doing that while they, and
    every request behind them on the event loop, waited. A request for a path no route
    matches walks every route once, here, before the server takes traffic."""

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        return None

    scope: Scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/-/prepare-routes",
        "raw_path": b"/-/prepare-routes",
        "root_path": "",
        "query_string": b"",
        "headers": [],
        "app": app,
    }
    with contextlib.suppress(HTTPException):  # the "not found" it is meant to end in
        await app.router(scope, receive, send)


def create_app(
    settings: Settings | None = None, *, run_worker: bool = False, prepare_routes: bool = False
) -> TocsinApp:
    """The application; `prepare_routes` (set by `tocsin serve`) analyses every route at
    start-up, worth it for a long-running server, not for an app made per test."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings)
        app.state.engine = engine
        app.state.sessionmaker = make_sessionmaker(engine)
        worker = None
        if run_worker:
            from tocsin.jobs.worker import start_in_background

            worker = await start_in_background(settings, app.state.sessionmaker)
        if prepare_routes:
            await _prepare_routes(app)
        try:
            yield
        finally:
            if worker is not None:
                await worker.stop()
            await engine.dispose()

    app = TocsinApp(
        title="Tocsin",
        version=__version__,
        description="Incident management: alerts, response, communications, reviews.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    errors.install(app)
    include_routes(app, settings)
    # Starlette's signed cookie only carries the OpenID Connect state across the redirect;
    # browser sessions themselves are server-side rows (see auth/service.py).
    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.secret_key,
        session_cookie="tocsin_sso",
        https_only=settings.secure_cookies,
        same_site="lax",
        max_age=600,
    )
    # Alert ingestion skips the framework and this stack (see alerts.fastpath).
    app.ingest_fast_path = IngestFastPath(settings.max_body_bytes)
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes)
    # Inside the request id and metrics, ahead of everything else: cached public answers.
    app.add_middleware(StatusFastPath)
    app.add_middleware(RequestContextMiddleware)
    return app
