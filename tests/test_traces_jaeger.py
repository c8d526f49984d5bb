"""Reading traces from an existing Jaeger: a local HTTP server answers `GET /api/traces` with
Jaeger's JSON, an import is queued through the API and run by the worker, and the imported
spans feed failure isolation like exported ones."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from asgi_lifespan import LifespanManager
from httpx import ASGITransport, AsyncClient
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.conftest import Configure, count_rows
from tests.factories import Caller, make_caller
from tests.test_traces_e2e import serving
from tocsin.app import create_app
from tocsin.audit.models import AuditEntry
from tocsin.auth.permissions import Permission, Role
from tocsin.clock import utcnow
from tocsin.config import Settings
from tocsin.jobs.worker import Worker
from tocsin.traces import handlers as _handlers  # noqa: F401
from tocsin.traces import jaeger
from tocsin.traces.models import TraceSpan
from tocsin.traces.service import micros

IMPORT = "/api/v1/traces/imports/jaeger"


def tag(key: str, value: Any) -> dict[str, Any]:
    kinds = {bool: "bool", int: "int64", str: "string"}
    return {"key": key, "type": kinds[type(value)], "value": value}


def jaeger_trace(n: int, start_us: int) -> dict[str, Any]:
    """web → checkout → payments as Jaeger stores it; payments fails, the error propagates.
    64-bit trace ids (16 hex digits), as older Jaeger clients made them."""
    trace_id = f"{n:016x}"

    def child_of(parent: str) -> list[dict[str, Any]]:
        return [{"refType": "CHILD_OF", "traceID": trace_id, "spanID": parent}]

    return {
        "traceID": trace_id,
        "spans": [
            {
                "traceID": trace_id,
                "spanID": f"{n:08x}00000001",
                "operationName": "GET /buy",
                "references": [],
                "startTime": start_us,
                "duration": 90_000,
                "tags": [
                    tag("span.kind", "server"),
                    tag("error", True),
                    tag("http.status_code", 502),
                ],
                "processID": "p1",
            },
            {
                "traceID": trace_id,
                "spanID": f"{n:08x}00000002",
                "operationName": "POST /orders",
                "references": child_of(f"{n:08x}00000001"),
                "startTime": start_us + 1000,
                "duration": 80_000,
                "tags": [tag("span.kind", "server"), tag("otel.status_code", "ERROR")],
                "processID": "p2",
            },
            {
                "traceID": trace_id,
                "spanID": f"{n:08x}00000003",
                "operationName": "POST /charge",
                "references": child_of(f"{n:08x}00000002"),
                "startTime": start_us + 2000,
                "duration": 70_000,
                "tags": [
                    tag("span.kind", "server"),
                    tag("error", True),
                    tag("http.status_code", 500),
                ],
                "logs": [
                    {
                        "timestamp": start_us + 3000,
                        "fields": [tag("event", "error"), tag("message", "card gateway down")],
                    }
                ],
                "processID": "p3",
            },
        ],
        "processes": {
            "p1": {"serviceName": "web", "tags": []},
            "p2": {"serviceName": "checkout", "tags": []},
            "p3": {"serviceName": "payments", "tags": []},
        },
        "warnings": None,
    }


@dataclass
class Jaeger:
    url: str
    traces: list[dict[str, Any]] = field(default_factory=list)
    asked: list[dict[str, str]] = field(default_factory=list)


@pytest.fixture
async def fake_jaeger() -> AsyncIterator[Jaeger]:
    state = Jaeger(url="")

    async def traces(request: Request) -> JSONResponse:
        state.asked.append(dict(request.query_params))
        body = {"data": state.traces, "total": 0, "limit": 0, "offset": 0, "errors": None}
        return JSONResponse(body)

    async with serving(Starlette(routes=[Route("/api/traces", traces)])) as url:
        state.url = url
        yield state


@pytest.fixture
def jaeger_configured(fake_jaeger: Jaeger, configure: Configure) -> None:
    """The worker's handlers read the process settings (cached), not the app's."""
    configure({"TOCSIN_TRACES_JAEGER_URL": fake_jaeger.url})


@pytest.fixture
async def exporter(session: AsyncSession) -> Caller:
    return await make_caller(session, Role.RESPONDER, scopes=frozenset({Permission.TRACES_WRITE}))


async def test_an_import_reads_jaeger_stores_new_spans_once_and_feeds_isolation(
    session: AsyncSession,
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    fake_jaeger: Jaeger,
    exporter: Caller,
    jaeger_configured: None,
) -> None:
    reader = await make_caller(session, Role.RESPONDER)
    await session.rollback()
    configured = settings.model_copy(update={"traces_jaeger_url": fake_jaeger.url})
    now = utcnow()
    fake_jaeger.traces = [jaeger_trace(n, micros(now) - 600_000_000 + n) for n in (1, 2, 3)]
    worker = Worker(configured, sessionmaker, worker_id="importer")
    window = {
        "service": "web",
        "from": (now - timedelta(minutes=30)).isoformat(),
        "to": now.isoformat(),
    }
    application = create_app(configured)
    async with (
        LifespanManager(application),
        AsyncClient(transport=ASGITransport(app=application), base_url="http://t") as client,
    ):
        queued = await client.post(IMPORT, json=window, headers=exporter.headers)
        assert queued.status_code == 202, queued.text
        assert queued.json()["service"] == "web"
        assert await worker.run_once() >= 1

        [asked] = fake_jaeger.asked
        assert asked == {
            "service": "web",
            "start": str(micros(now - timedelta(minutes=30))),
            "end": str(micros(now)),
            "limit": "1000",
        }
        assert await count_rows(session, TraceSpan) == 9
        charge = await session.scalar(sa.select(TraceSpan).where(TraceSpan.service == "payments"))
        assert charge is not None
        assert charge.trace_id == f"{1:032x}"
        assert (charge.parent_span_id, charge.kind) == (f"{1:08x}00000002", 2)
        assert (charge.status_code, charge.error_message, charge.http_status) == (
            2,
            "card gateway down",
            500,
        )
        audit = await session.scalar(
            sa.select(AuditEntry).where(AuditEntry.object_type == "traces")
        )
        assert audit is not None and audit.action == "import"
        await session.rollback()

        isolation = (await client.get("/api/v1/traces/isolation", headers=reader.headers)).json()
        top = isolation["origins"][0]
        assert (top["service"], top["operation"], top["traces"]) == ("payments", "POST /charge", 3)
        assert top["messages"] == [["card gateway down", 3]]
        assert top["propagated_through"] == ["checkout", "web"]

        # A second import over an overlapping window adds only what is new.
        fake_jaeger.traces.append(jaeger_trace(4, micros(now) - 60_000_000))
        again = {**window, "from": (now - timedelta(minutes=31)).isoformat()}
        assert (await client.post(IMPORT, json=again, headers=exporter.headers)).status_code == 202
        assert await worker.run_once() >= 1
        assert await count_rows(session, TraceSpan) == 12


async def test_imports_are_refused_when_jaeger_is_off_or_the_window_is_bad(
    client: AsyncClient, session: AsyncSession, exporter: Caller
) -> None:
    now = utcnow()
    body = {"service": "web", "from": (now - timedelta(hours=1)).isoformat(), "to": now.isoformat()}
    off = await client.post(IMPORT, json=body, headers=exporter.headers)
    assert off.status_code == 409
    assert "TOCSIN_TRACES_JAEGER_URL" in off.text
    viewer = await make_caller(session, Role.VIEWER)
    assert (await client.post(IMPORT, json=body, headers=viewer.headers)).status_code == 403
    unknown = await client.post(IMPORT, json={**body, "url": "http://x"}, headers=exporter.headers)
    assert unknown.status_code == 422
    from tocsin.jobs.models import Job

    assert await count_rows(session, Job) == 0


async def test_a_bad_window_is_refused_naming_the_field(
    session: AsyncSession, settings: Settings, exporter: Caller
) -> None:
    configured = settings.model_copy(update={"traces_jaeger_url": "http://127.0.0.1:9"})
    application = create_app(configured)
    now = utcnow()
    upside_down = {
        "service": "web",
        "from": now.isoformat(),
        "to": (now - timedelta(hours=1)).isoformat(),
    }
    async with (
        LifespanManager(application),
        AsyncClient(transport=ASGITransport(app=application), base_url="http://t") as client,
    ):
        refused = await client.post(IMPORT, json=upside_down, headers=exporter.headers)
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "from"


def test_spans_with_unusable_ids_or_times_are_rejected_alone() -> None:
    good = jaeger_trace(5, 1_700_000_000_000_000)
    broken = jaeger_trace(6, 1_700_000_000_000_000)
    broken["spans"][0]["spanID"] = "0000000000000000"
    broken["spans"][1]["startTime"] = "yesterday"
    broken["spans"][2]["traceID"] = "not hex"
    decoded = jaeger.rows_of({"data": [good, broken]})
    assert len(decoded.rows) == 3
    assert decoded.rejected == 3
    with pytest.raises(jaeger.JaegerError):
        jaeger.rows_of({"errors": [{"code": 500, "msg": "boom"}]})


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)


@given(
    trace_id=st.text("0123456789abcdef", min_size=1, max_size=32),
    span_id=st.text("0123456789abcdef", min_size=1, max_size=16),
    junk=json_values,
)
def test_any_answer_decodes_or_is_refused_and_ids_are_padded(
    trace_id: str, span_id: str, junk: Any
) -> None:
    span = {"traceID": trace_id, "spanID": span_id, "startTime": 1, "duration": 0, "tags": junk}
    decoded = jaeger.rows_of({"data": [{"spans": [span, junk], "processes": junk}, junk]})
    for row in decoded.rows:
        assert len(row["trace_id"]) == 32 and row["trace_id"].endswith(trace_id)
        assert len(row["span_id"]) == 16 and row["span_id"].endswith(span_id)
    assert len(decoded.rows) + decoded.rejected == 1 + isinstance(junk, dict)
    with contextlib.suppress(jaeger.JaegerError):  # refused as a whole; nothing else raised
        jaeger.rows_of(junk)
