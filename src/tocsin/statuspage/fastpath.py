"""Serves the public status page's cached answers before the framework sees the request.

Once an answer is rendered, sending it is cheap; getting a request to the route is not:
routing, dependency resolution (which opens a database session to find the caller) and three
middlewares cost ten times what the answer does. This ASGI layer sits just inside the request
id, metrics and logging middleware and answers a GET or HEAD itself when the path is one the
application has already answered from the status-page cache (`learn`, called by the route)
and that answer is still current by the route's own rule: the same version memo
(`freshness.recall`, re-read here when it lapses) and the same cache key. Everything else goes
on to the application untouched: a new version to render, a miss, credentials (a bad bearer
token must still get its 401; a session cookie may refresh a session), a request body. The
answer's header list is the one the route sends (`public.Rendered`), so both paths answer
byte for byte alike.

HEAD is answered like GET without the body, from memory or, on a miss, by running the route
as a GET and dropping the body; only for routes that serve the cache, never for the
subscription links (a HEAD must not confirm a subscription).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from prometheus_client import Counter
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tocsin.clock import utcnow
from tocsin.statuspage import freshness, public

FAST_ANSWERS = Counter(
    "tocsin_statuspage_fast_answers_total",
    "Public status page answers sent from memory ahead of the framework",
)
PREFIXES = ("/status", "/api/v2/")
"""where the public answers live; other paths pass with one string test"""


@dataclass(frozen=True)
class Learned:
    slug: str | None
    variant: str
    route: Any
    """the framework's route object, so metrics name the same route on both paths"""


@dataclass
class Tables:
    """What the route and the fast path share, one set per application instance."""

    memos: freshness.Memos = field(default_factory=dict)
    cache: public.Cache = field(default_factory=dict)
    reading: dict[str, tuple[int, asyncio.Future[tuple[int, int] | None]]] = field(
        default_factory=dict
    )
    """page → the version read under way, with `freshness.commits()` when it started"""
    paths: dict[str, Learned] = field(default_factory=dict)
    """request path → the page and answer the route gave for it; only paths of existing
    pages get here (an unknown slug is a 404 before), so it stays small"""


SERVES_CACHE: set[Callable[..., Any]] = set()
"""route endpoints that answer from the cache: only these are run as GET for a HEAD"""
PUBLIC_ROUTES: list[BaseRoute] = []
"""the public status page's routes in their order; the application tries them before any
other (see `tocsin.routes`), so the first of them that takes a path is the one it runs"""

F = TypeVar("F", bound=Callable[..., Any])


def serves_cache(endpoint: F) -> F:
    """Marks a route endpoint whose GET only reads the cache, so a HEAD may run it."""
    SERVES_CACHE.add(endpoint)
    return endpoint


def tables(app: Any) -> Tables:
    found: Tables | None = getattr(app.state, "statuspage", None)
    if found is None:
        found = Tables()
        app.state.statuspage = found
    return found


def learn(scope: Scope, slug: str | None, variant: str) -> None:
    """The route tells which page and answer a path stands for (once per path)."""
    paths = tables(scope["app"]).paths
    if scope["path"] not in paths:
        paths[scope["path"]] = Learned(slug, variant, scope.get("route"))


async def lookup(shared: Tables, learned: Learned, app: Any) -> public.Rendered | None:
    """The cached answer the route would send now, or None when only the route can tell."""
    found = freshness.recall(shared.memos, learned.slug)
    if found is None:
        found = await _reread(shared, learned.slug, app)
        if found is None:
            return None
    return public.cached(
        shared.cache, learned.slug, learned.variant, (*found, utcnow().date().isoformat())
    )


async def _reread(shared: Tables, slug: str | None, app: Any) -> tuple[int, int] | None:
    """The page's version read again once its memo lapsed: one read for all the requests
    that find it lapsed at the same moment, instead of each going through the route to read
    it (under load that was a burst of framework requests and database reads every second).
    A request joins a read only if it started after this process's last change, so the
    change still shows on the next request. None sends the request on to the route, which
    reports a missing page or a failing database as usual."""
    seen = freshness.commits()
    key = slug or ""
    pending = shared.reading.get(key)
    if pending is None or pending[0] != seen:
        task = asyncio.ensure_future(_read(shared.memos, slug, app.state.sessionmaker, seen))
        entry = (seen, task)
        shared.reading[key] = entry

        def done(_: object) -> None:
            if shared.reading.get(key) is entry:
                del shared.reading[key]

        task.add_done_callback(done)
        pending = entry
    try:
        return await asyncio.shield(pending[1])
    except Exception:
        return None


async def _read(
    memos: freshness.Memos, slug: str | None, sessionmaker: Any, seen: int
) -> tuple[int, int] | None:
    async with sessionmaker() as session:
        found = await public.current(session, slug)
    if found is not None:
        freshness.remember(memos, slug, found, seen)
    return found


def _request_headers(scope: Scope) -> tuple[bool, str | None]:
    """(whether the request must go to the application, its first If-None-Match)."""
    if_none_match = None
    for name, value in scope["headers"]:
        if name == b"if-none-match":
            if if_none_match is None:
                if_none_match = value.decode("latin-1")
        elif name == b"authorization" or name == b"transfer-encoding":
            return True, None
        elif name == b"cookie":
            if b"tocsin_" in value:
                return True, None
        elif name == b"content-length" and value.strip() != b"0":
            return True, None
    return False, if_none_match


class StatusFastPath:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] not in ("GET", "HEAD")
            or not scope["path"].startswith(PREFIXES)
        ):
            await self.app(scope, receive, send)
            return
        shared = tables(scope["app"])
        learned = shared.paths.get(scope["path"])
        head = scope["method"] == "HEAD"
        if learned is not None:
            passed, if_none_match = _request_headers(scope)
            hit = None if passed else await lookup(shared, learned, scope["app"])
            if hit is not None:
                scope["route"] = learned.route
                FAST_ANSWERS.inc()
                not_modified = hit.matches(if_none_match)
                await send(
                    {
                        "type": "http.response.start",
                        "status": 304 if not_modified else 200,
                        "headers": hit.not_modified if not_modified else hit.ok,
                    }
                )
                await send(
                    {
                        "type": "http.response.body",
                        "body": b"" if head or not_modified else hit.body,
                    }
                )
                return
        if head and (learned is not None or _serves_cache(scope)):
            await self.app({**scope, "method": "GET"}, receive, _without_body(send))
            return
        await self.app(scope, receive, send)


def _serves_cache(scope: Scope) -> bool:
    """Whether the framework would route this path, as a GET, to a cached answer."""
    probe = {**scope, "method": "GET"}
    for route in PUBLIC_ROUTES:
        match, _ = route.matches(probe)
        if match == Match.FULL:
            return getattr(route, "endpoint", None) in SERVES_CACHE
    return False


def _without_body(send: Send) -> Send:
    """A HEAD run as GET: the same status and headers (Content-Length included), no body."""

    async def drop(message: Message) -> None:
        if message["type"] == "http.response.body":
            message = {**message, "body": b""}
        await send(message)

    return drop
