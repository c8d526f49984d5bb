"""Structured logs, request ids, Prometheus metrics and the request-size guard."""

from __future__ import annotations

import contextlib
import json
import logging
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from dataclasses import dataclass, field
from typing import Any

import structlog
from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tocsin.context import request_id_var

REQUESTS = Counter(
    "tocsin_http_requests_total", "HTTP requests handled", ["method", "route", "status"]
)
LATENCY = Histogram(
    "tocsin_http_request_duration_seconds",
    "HTTP request latency",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)

MetricsRefresher = Callable[[Any], Awaitable[None]]
_refreshers: list[MetricsRefresher] = []


def add_metrics_refresher(refresher: MetricsRefresher) -> None:
    """Gauges read from the database (queue depth, lag) are refreshed when /metrics is scraped."""
    if refresher not in _refreshers:
        _refreshers.append(refresher)


async def refresh_metrics(sessionmaker: Any) -> None:
    for refresher in _refreshers:
        await refresher(sessionmaker)


def _add_request_id(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    rid = request_id_var.get()
    if rid:
        event.setdefault("request_id", rid)
    return event


def configure_logging(level: str = "info", fmt: str = "json") -> None:
    renderer: Any = (
        structlog.processors.JSONRenderer() if fmt == "json" else structlog.dev.ConsoleRenderer()
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _add_request_id,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=False,
    )


log = structlog.get_logger("tocsin")


def request_id(scope: Scope) -> str:
    """The caller's id when it sent a usable one, so its logs and ours can be joined."""
    incoming = b""
    for name, value in scope.get("headers") or ():
        if name == b"x-request-id":
            incoming = value
            break
    rid = incoming.decode("latin-1")
    return rid if 0 < len(rid) <= 64 else uuid.uuid4().hex


def record_request(scope: Scope, status: int, started: float) -> None:
    """Metrics and the one log line of a finished request, under its route's template."""
    elapsed = time.perf_counter() - started
    route = scope.get("route")
    template = getattr(route, "path", None) or "unmatched"
    method = scope.get("method", "")
    REQUESTS.labels(method, template, str(status)).inc()
    LATENCY.labels(method, template).observe(elapsed)
    if template not in {"/metrics", "/healthz", "/readyz"}:
        log.info(
            "request",
            method=method,
            path=scope.get("path"),
            route=template,
            status=status,
            duration_ms=round(elapsed * 1000, 2),
        )


@dataclass
class Observed:
    """One request being handled: its id, and the status to record when it ends."""

    request_id: str
    status: int = 500
    started: float = field(default_factory=time.perf_counter)


@contextlib.contextmanager
def observed(scope: Scope) -> Iterator[Observed]:
    """The request id set for the request's logs, then its metrics and log line at the end
    (status 500 unless the handler set another)."""
    request = Observed(request_id(scope))
    token = request_id_var.set(request.request_id)
    try:
        yield request
    finally:
        record_request(scope, request.status, request.started)
        request_id_var.reset(token)


class RequestContextMiddleware:
    """Gives each request an id (or keeps the caller's), times it and logs one line per request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        with observed(scope) as request:
            rid = request.request_id.encode()

            async def send_wrapper(message: Message) -> None:
                if message["type"] == "http.response.start":
                    request.status = message["status"]
                    message.setdefault("headers", [])
                    message["headers"] = [*message["headers"], (b"x-request-id", rid)]
                await send(message)

            await self.app(scope, receive, send_wrapper)


class BodyTooLarge(Exception):
    """The body grew past the limit while it was read."""


class BodyLimit:
    """Counts a request's body as it is read, and raises `BodyTooLarge` past `max_bytes`;
    `exceeded` stays set even if a framework caught the exception and answered 400."""

    def __init__(self, scope: Scope, receive: Receive, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.exceeded = False
        self._receive = receive
        self._seen = 0
        declared = dict(scope.get("headers") or []).get(b"content-length")
        self.declared_too_large = (
            declared is not None and declared.isdigit() and int(declared) > max_bytes
        )

    async def receive(self) -> Message:
        message = await self._receive()
        if message["type"] == "http.request":
            self._seen += len(message.get("body", b""))
            if self._seen > self.max_bytes:
                self.exceeded = True
                raise BodyTooLarge
        return message


class BodySizeLimitMiddleware:
    """Refuses bodies over the configured size with 413 before the app reads them whole."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = BodyLimit(scope, receive, self.max_bytes)
        if limit.declared_too_large:
            await send_too_large(scope, send, self.max_bytes)
            return

        async def guarded_send(message: Message) -> None:
            # Frameworks turn an error raised while reading the body into their own 400;
            # a body cut short for its size must answer 413 instead.
            if not limit.exceeded:
                await send(message)

        with contextlib.suppress(BodyTooLarge):
            await self.app(scope, limit.receive, guarded_send)
        if limit.exceeded:
            await send_too_large(scope, send, self.max_bytes)


async def send_too_large(scope: Scope, send: Send, max_bytes: int) -> None:
    """The 413 problem answer of a body over `max_bytes`."""
    body = json.dumps(
        {
            "type": "about:blank",
            "title": "Request body too large",
            "status": 413,
            "detail": f"bodies are limited to {max_bytes} bytes",
            "instance": scope.get("path", ""),
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/problem+json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
