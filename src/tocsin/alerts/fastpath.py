"""Runs the ingestion handlers ahead of the framework.

A monitoring tool posts a few hundred to a few thousand times a second during a storm, and
for a one-alert body the framework's part of a request (matching it against every route of
the application, resolving dependencies, the session and exception middleware, the
request-response wrapper) cost more than parsing and storing the alert. The ingestion routes
need none of it: they authenticate by integration key, not by user session, and each is a
handler that takes only the request (`tocsin.alerts.ingest.HANDLERS`). This ASGI layer,
inside the request id, metrics, logging and body-size middleware, matches a POST against
those routes only and runs the route's own handler; the framework route runs the same
handler, so both paths answer alike. Anything else passes on untouched.

Errors are answered as the framework would: a `ProblemError` becomes the same problem+json
body; anything unexpected propagates to the server-error middleware outside.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import Counter
from starlette.requests import Request
from starlette.routing import BaseRoute, Match, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from tocsin.alerts.ingest import HANDLERS, Handler, router
from tocsin.errors import ProblemError, problem_response

FAST_REQUESTS = Counter(
    "tocsin_ingest_fast_requests_total",
    "Ingestion requests answered by the route's handler ahead of the framework",
)
PREFIXES = ("/api/v1/ingest/", "/api/v1/heartbeat", "/api/v2/alerts", "/v2/", "/generic/")
"""where ingestion routes live; other paths pass with one string test"""


def fast_routes(routes: Iterable[BaseRoute]) -> list[tuple[Route, Handler]]:
    """The ingestion routes, each with the handler its endpoint runs (the router is
    included without a prefix, so its routes' paths are the application's)."""
    found = []
    for route in routes:
        endpoint = getattr(route, "endpoint", None)
        if isinstance(route, Route) and endpoint in HANDLERS:
            found.append((route, HANDLERS[endpoint]))
    return found


class IngestFastPath:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._routes = fast_routes(router.routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or not scope["path"].startswith(PREFIXES)
        ):
            await self.app(scope, receive, send)
            return
        for route, handler in self._routes:
            match, child = route.matches(scope)
            if match is Match.FULL:
                scope.update(child)
                scope["route"] = route  # metrics and logs name the route as the framework does
                await self._run(handler, scope, receive, send)
                return
        await self.app(scope, receive, send)

    async def _run(self, handler: Handler, scope: Scope, receive: Receive, send: Send) -> None:
        FAST_REQUESTS.inc()
        request = Request(scope, receive)
        try:
            response = await handler(request)
        except ProblemError as exc:
            response = problem_response(
                request, exc.status, exc.title, exc.detail, exc.errors, exc.headers, exc.extra
            )
        await response(scope, receive, send)
