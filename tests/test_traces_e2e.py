"""The done-when test of trace-based failure isolation: a small system of four services on
loopback, each traced with the real OpenTelemetry SDK and exporting with the real OTLP/HTTP
exporter to Tocsin served by uvicorn. One inner service fails; isolation must name it first.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import uvicorn
from opentelemetry import context as otel_context
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.browser.server import running_server
from tests.conftest import count_rows
from tests.factories import make_caller
from tocsin.auth.permissions import Permission, Role
from tocsin.config import Settings
from tocsin.traces.models import TraceSpan

PROPAGATOR = TraceContextTextMapPropagator()
Handler = Callable[["DemoService", Request], Awaitable[Response]]


@contextlib.asynccontextmanager
async def serving(app: Any) -> AsyncIterator[str]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    host, port = sock.getsockname()
    server = uvicorn.Server(
        uvicorn.Config(app, lifespan="off", log_level="warning", access_log=False)
    )
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign]
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        await task
        sock.close()


class DemoService:
    """One service of the demo: a Starlette app whose requests and outgoing calls are spans of
    its own TracerProvider (its own `service.name`), exported to Tocsin over OTLP/HTTP."""

    def __init__(self, name: str, tocsin: str, token: str, handler: Handler) -> None:
        self.name = name
        self.provider = TracerProvider(resource=Resource.create({"service.name": name}))
        self.provider.add_span_processor(
            BatchSpanProcessor(
                OTLPSpanExporter(
                    endpoint=f"{tocsin}/v1/traces",
                    headers={"Authorization": f"Bearer {token}"},
                    compression=Compression.Gzip,
                )
            )
        )
        self.tracer = self.provider.get_tracer("demo")
        self.handler = handler
        self.peers: dict[str, str] = {}
        self.http = httpx.AsyncClient(timeout=10)
        self.app = Starlette(routes=[Route("/{path:path}", self.serve, methods=["GET", "POST"])])

    async def serve(self, request: Request) -> Response:
        parent = PROPAGATOR.extract(dict(request.headers))
        route = "/" + request.path_params["path"]
        with self.tracer.start_as_current_span(
            f"{request.method} {route}",
            context=parent,
            kind=SpanKind.SERVER,
            attributes={"http.request.method": request.method, "http.route": route},
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            try:
                response = await self.handler(self, request)
            except Exception as exc:
                span.record_exception(exc)
                span.set_status(Status(StatusCode.ERROR, str(exc)))
                response = JSONResponse({"error": str(exc)}, status_code=500)
            span.set_attribute("http.response.status_code", response.status_code)
            if response.status_code >= 500 and span.status.status_code is not StatusCode.ERROR:
                span.set_status(Status(StatusCode.ERROR, f"answered {response.status_code}"))
            return response

    async def call(self, peer: str, path: str) -> httpx.Response:
        with self.tracer.start_as_current_span(
            "POST", kind=SpanKind.CLIENT, attributes={"peer.service": peer}
        ) as span:
            headers: dict[str, str] = {}
            PROPAGATOR.inject(headers, context=otel_context.get_current())
            answer = await self.http.post(self.peers[peer] + path, headers=headers)
            span.set_attribute("http.response.status_code", answer.status_code)
            if answer.status_code >= 500:
                span.set_status(Status(StatusCode.ERROR, f"{peer} answered {answer.status_code}"))
            return answer

    async def flush(self) -> None:
        await asyncio.to_thread(self.provider.force_flush)

    async def close(self) -> None:
        await self.http.aclose()
        await asyncio.to_thread(self.provider.shutdown)


async def web(service: DemoService, request: Request) -> Response:
    if request.url.path == "/browse":
        answer = await service.call("inventory", "/stock")
    else:
        answer = await service.call("checkout", "/orders")
    return JSONResponse({"upstream": answer.status_code}, status_code=answer.status_code)


async def checkout(service: DemoService, request: Request) -> Response:
    stock = await service.call("inventory", "/stock")
    assert stock.status_code == 200
    charge = await service.call("payments", "/charge")
    if charge.status_code != 200:
        return JSONResponse({"error": "payment failed"}, status_code=502)
    return JSONResponse({"ok": True})


async def payments(service: DemoService, request: Request) -> Response:
    raise ConnectionError("card gateway refused the connection")


async def inventory(service: DemoService, request: Request) -> Response:
    return JSONResponse({"stock": 3})


async def test_isolation_names_the_failing_inner_service_of_a_real_traced_system(
    session: AsyncSession, settings: Settings
) -> None:
    exporter = await make_caller(
        session, Role.RESPONDER, scopes=frozenset({Permission.TRACES_WRITE})
    )
    reader = await make_caller(session, Role.RESPONDER)
    async with running_server(settings) as tocsin:
        handlers = {"web": web, "checkout": checkout, "payments": payments, "inventory": inventory}
        services = {
            name: DemoService(name, tocsin, exporter.token, handler)
            for name, handler in handlers.items()
        }
        async with contextlib.AsyncExitStack() as stack:
            urls = {
                name: await stack.enter_async_context(serving(svc.app))
                for name, svc in services.items()
            }
            for svc in services.values():
                svc.peers = urls
            async with httpx.AsyncClient(timeout=10) as user:
                for _ in range(6):
                    assert (await user.post(urls["web"] + "/buy")).status_code == 502
                for _ in range(4):
                    assert (await user.get(urls["web"] + "/browse")).status_code == 200
            for svc in services.values():
                await svc.flush()
                await svc.close()

        async with httpx.AsyncClient(base_url=tocsin, headers=reader.headers) as api:
            isolation = (await api.get("/api/v1/traces/isolation")).json()
            assert isolation["failing_traces"] == 6
            assert isolation["services"][0]["service"] == "payments"
            top = isolation["origins"][0]
            assert (top["service"], top["operation"], top["traces"]) == (
                "payments",
                "POST /charge",
                6,
            )
            assert top["messages"] == [["card gateway refused the connection", 6]]
            assert top["http_statuses"] == [[500, 6]]
            assert set(top["propagated_through"]) == {"checkout", "web"}
            assert len(top["example_trace_ids"]) == 3

            entered = await api.get("/api/v1/traces/isolation", params={"entry": "web"})
            assert entered.json()["origins"][0]["service"] == "payments"

            edges = (await api.get("/api/v1/traces/dependencies")).json()["edges"]
            seen = {(e["caller"], e["callee"]): e["calls"] for e in edges}
            assert seen == {
                ("web", "checkout"): 6,
                ("web", "inventory"): 4,
                ("checkout", "inventory"): 6,
                ("checkout", "payments"): 6,
            }
            figures = (await api.get("/api/v1/traces/services")).json()["services"]
            front = next(f for f in figures if f["service"] == "web")
            assert (front["requests"], front["errors"]) == (10, 6)

            stored = await count_rows(session, TraceSpan)
            await session.rollback()  # SQLite: release the write lock the server needs
            # Malformed exports over real HTTP: the spec's answers, nothing stored.
            truncated = await api.post(
                "/v1/traces",
                content=b"\x0a\x85\x01\x0a",
                headers={"Content-Type": "application/x-protobuf", **exporter.headers},
            )
            assert truncated.status_code == 400
            bad_json = await api.post(
                "/v1/traces",
                content=b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "zz"}]}]}]}',
                headers={"Content-Type": "application/json", **exporter.headers},
            )
            assert bad_json.status_code == 400
            assert bad_json.json()["code"] == 3
            assert await count_rows(session, TraceSpan) == stored
