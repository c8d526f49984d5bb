"""Runs the ingestion handlers ahead of the whole application stack.

A monitoring tool posts a few hundred to a few thousand times a second during a storm, and
for a one-alert body the framework's part of a request cost more than parsing and storing
the alert: matching it against every route of the application, resolving dependencies, and
passing each message through the layers of middleware (server errors, telemetry, sessions,
body size, request id), each wrapping `receive` and `send` once more. The ingestion routes
need none of it: they authenticate by integration key, not by user session, and each is a
handler that takes only the request (`tocsin.alerts.ingest.HANDLERS`).

`IngestFastPath` is the application's front door (`tocsin.app.TocsinApp` asks it first). It
matches a POST against the ingestion routes only and runs the route's own handler; the
framework route runs the same handler, so both paths answer alike. What the middleware would
have done for these requests it does itself, once: the request id (kept or made, answered in
`x-request-id`), the request metrics and log line under the route's template, and the body
size limit (413). Anything else passes on untouched.

Errors are answered as the framework would: a `ProblemError` becomes the same problem+json
body; anything unexpected propagates to the server, which answers 500.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import Counter
from starlette.requests import Request
from starlette.routing import BaseRoute, Match, Route
from starlette.types import Receive, Scope, Send

from tocsin.alerts.ingest import HANDLERS, Handler, router
from tocsin.errors import ProblemError, problem_response
from tocsin.observability import BodyLimit, BodyTooLarge, observed, send_too_large

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
    """Finds and serves ingestion requests; `take` says whether a request is one."""

    def __init__(self, max_body_bytes: int) -> None:
        self.max_body_bytes = max_body_bytes
        self._routes = fast_routes(router.routes)

    def take(self, scope: Scope) -> tuple[Route, Handler] | None:
        """The route and handler of an ingestion request (its path parameters put in
        `scope`), or None for anything else."""
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or not scope["path"].startswith(PREFIXES)
        ):
            return None
        for route, handler in self._routes:
            match, child = route.matches(scope)
            if match is Match.FULL:
                scope.update(child)
                scope["route"] = route  # metrics and logs name the route as the framework does
                return route, handler
        return None

    async def serve(self, handler: Handler, scope: Scope, receive: Receive, send: Send) -> None:
        FAST_REQUESTS.inc()
        with observed(scope) as request:
            request.status = await self._answer(handler, scope, receive, send, request.request_id)

    async def _answer(
        self, handler: Handler, scope: Scope, receive: Receive, send: Send, rid: str
    ) -> int:
        limit = BodyLimit(scope, receive, self.max_body_bytes)
        if limit.declared_too_large:
            await send_too_large(scope, send, limit.max_bytes)
            return 413
        request = Request(scope, limit.receive)
        try:
            response = await handler(request)
        except ProblemError as exc:
            response = problem_response(
                request, exc.status, exc.title, exc.detail, exc.errors, exc.headers, exc.extra
            )
        except BodyTooLarge:
            await send_too_large(scope, send, limit.max_bytes)
            return 413
        response.headers["x-request-id"] = rid
        await response(scope, receive, send)
        return response.status_code
