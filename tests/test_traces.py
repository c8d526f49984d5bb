"""The OTLP/HTTP receiver and what is read back from stored spans: figures, the dependency map
against the catalog, failure isolation (also over an incident's window), retention."""

from __future__ import annotations

import gzip
import json
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from google.rpc.status_pb2 import Status as RpcStatus  # type: ignore[import-untyped]
from httpx import AsyncClient
from hypothesis import given
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import count_rows
from tests.factories import Caller, make_caller
from tocsin.audit.service import Actor
from tocsin.auth.permissions import Permission, Role
from tocsin.catalog import service as catalog
from tocsin.catalog.schemas import DependencyIn, ServiceCreate
from tocsin.clock import FrozenClock, utcnow
from tocsin.policy import service as policy
from tocsin.traces import service as traces
from tocsin.traces.evidence import first_burst
from tocsin.traces.models import TraceSpan

PROTO = {"Content-Type": "application/x-protobuf"}
JSON = {"Content-Type": "application/json"}


@pytest.fixture
async def exporter(session: AsyncSession) -> Caller:
    return await make_caller(session, Role.RESPONDER, scopes=frozenset({Permission.TRACES_WRITE}))


@pytest.fixture
async def reader(session: AsyncSession) -> Caller:
    return await make_caller(session, Role.RESPONDER)


def _nanos(offset_ms: int = 0) -> int:
    return traces.micros(utcnow()) * 1000 + offset_ms * 1_000_000


def span(
    trace: int,
    span_id: int,
    parent: int | None,
    name: str,
    *,
    error: str | None = None,
    http: int | None = None,
    start_ms: int = -1000,
    duration_ms: int = 20,
    kind: int = Span.SPAN_KIND_SERVER,
) -> Span:
    attributes = []
    if http is not None:
        attributes.append(KeyValue(key="http.response.status_code", value=AnyValue(int_value=http)))
    attributes.append(KeyValue(key="http.route", value=AnyValue(string_value="/" + name)))
    attributes.append(KeyValue(key="ignored.big", value=AnyValue(string_value="x" * 50)))
    return Span(
        trace_id=trace.to_bytes(16, "big"),
        span_id=span_id.to_bytes(8, "big"),
        parent_span_id=b"" if parent is None else parent.to_bytes(8, "big"),
        name=name,
        kind=kind,  # type: ignore[arg-type]
        start_time_unix_nano=_nanos(start_ms),
        end_time_unix_nano=_nanos(start_ms + duration_ms),
        attributes=attributes,
        status=Status(code=Status.STATUS_CODE_ERROR, message=error)
        if error
        else Status(code=Status.STATUS_CODE_UNSET),
    )


def export(by_service: dict[str, list[Span]]) -> ExportTraceServiceRequest:
    return ExportTraceServiceRequest(
        resource_spans=[
            ResourceSpans(
                resource=Resource(
                    attributes=[KeyValue(key="service.name", value=AnyValue(string_value=service))]
                ),
                scope_spans=[ScopeSpans(spans=spans)],
            )
            for service, spans in by_service.items()
        ]
    )


def failing_checkout(trace: int) -> dict[str, list[Span]]:
    """web → checkout → payments, payments failing, the error propagating up."""
    base = trace * 10
    return {
        "web": [
            span(trace, base + 1, None, "GET /buy", error="upstream failed", http=502),
            span(trace, base + 2, base + 1, "POST", error="502", http=502, kind=3),
        ],
        "checkout": [
            span(trace, base + 3, base + 2, "POST /orders", error="payment failed", http=502),
            span(trace, base + 4, base + 3, "POST", error="500", http=500, kind=3),
            span(trace, base + 6, base + 3, "GET", http=200, kind=3),
        ],
        "payments": [
            span(trace, base + 5, base + 4, "POST /charge", error="card gateway down", http=500)
        ],
        "inventory": [span(trace, base + 7, base + 6, "GET /stock", http=200)],
    }


def healthy(trace: int) -> dict[str, list[Span]]:
    base = trace * 10
    return {
        "web": [span(trace, base + 1, None, "GET /home", http=200)],
        "catalogue": [span(trace, base + 2, base + 1, "GET /items", http=200)],
    }


async def post_proto(
    client: AsyncClient, caller: Caller, request: ExportTraceServiceRequest, **headers: str
) -> Any:
    return await client.post(
        "/v1/traces",
        content=request.SerializeToString(),
        headers={**PROTO, **caller.headers, **headers},
    )


def merged(*exports: dict[str, list[Span]]) -> dict[str, list[Span]]:
    out: dict[str, list[Span]] = {}
    for one in exports:
        for service, spans in one.items():
            out.setdefault(service, []).extend(spans)
    return out


async def test_a_protobuf_export_is_stored_and_answered_in_protobuf(
    client: AsyncClient, session: AsyncSession, exporter: Caller, clock: FrozenClock
) -> None:
    response = await post_proto(client, exporter, export(failing_checkout(1)))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/x-protobuf"
    answer = ExportTraceServiceResponse.FromString(response.content)
    assert not answer.HasField("partial_success")
    assert await count_rows(session, TraceSpan) == 7
    charge = await session.scalar(sa.select(TraceSpan).where(TraceSpan.service == "payments"))
    assert charge is not None
    assert charge.trace_id == f"{1:032x}" and charge.parent_span_id == f"{14:016x}"
    assert charge.error_message == "card gateway down" and charge.http_status == 500
    assert charge.duration_us == 20_000
    assert charge.attributes == {"http.route": "/POST /charge"}


async def test_a_gzipped_export_is_accepted(
    client: AsyncClient, session: AsyncSession, exporter: Caller, clock: FrozenClock
) -> None:
    body = gzip.compress(export(healthy(2)).SerializeToString())
    response = await client.post(
        "/v1/traces",
        content=body,
        headers={**PROTO, **exporter.headers, "Content-Encoding": "gzip"},
    )
    assert response.status_code == 200
    assert await count_rows(session, TraceSpan) == 2


def otlp_json_span(trace_hex: str, span_hex: str, **extra: Any) -> dict[str, Any]:
    now = _nanos()
    return {
        "traceId": trace_hex,
        "spanId": span_hex,
        "name": "GET /json",
        "kind": 2,
        "startTimeUnixNano": str(now - 5_000_000),
        "endTimeUnixNano": str(now),
        "status": {"code": 2, "message": "boom"},
        "someFutureField": {"ignored": True},
        **extra,
    }


def otlp_json(*spans: dict[str, Any]) -> dict[str, Any]:
    return {
        "resourceSpans": [
            {
                "resource": {
                    "attributes": [{"key": "service.name", "value": {"stringValue": "api"}}]
                },
                "scopeSpans": [{"scope": {"name": "manual"}, "spans": list(spans)}],
            }
        ]
    }


async def test_an_otlp_json_export_with_hex_ids_is_stored_and_answered_in_json(
    client: AsyncClient, session: AsyncSession, exporter: Caller, clock: FrozenClock
) -> None:
    trace_hex = "5b8efff798038103d269b633813fc60c"
    body = otlp_json(otlp_json_span(trace_hex, "eee19b7ec3c1b174", parentSpanId=""))
    response = await client.post("/v1/traces", json=body, headers={**exporter.headers})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {}
    stored = await session.scalar(sa.select(TraceSpan))
    assert stored is not None
    assert (stored.trace_id, stored.span_id, stored.parent_span_id) == (
        trace_hex,
        "eee19b7ec3c1b174",
        None,
    )
    assert (stored.service, stored.status_code, stored.error_message) == ("api", 2, "boom")
    assert stored.duration_us == 5000
    # No attribute worth keeping: SQL NULL, not a JSON null, so IS NULL finds it.
    assert stored.attributes is None
    empty = sa.select(sa.func.count()).select_from(TraceSpan).where(TraceSpan.attributes.is_(None))
    assert await session.scalar(empty) == 1


async def test_invalid_spans_are_rejected_alone_with_partial_success(
    client: AsyncClient, session: AsyncSession, exporter: Caller, clock: FrozenClock
) -> None:
    good = otlp_json_span("5b8efff798038103d269b633813fc60c", "eee19b7ec3c1b174")
    zero_trace = otlp_json_span("0" * 32, "eee19b7ec3c1b175")
    short_span = otlp_json_span("5b8efff798038103d269b633813fc60c", "abcd")
    backwards = otlp_json_span(
        "5b8efff798038103d269b633813fc60c",
        "eee19b7ec3c1b176",
        startTimeUnixNano="2000",
        endTimeUnixNano="1000",
    )
    response = await client.post(
        "/v1/traces",
        json=otlp_json(good, zero_trace, short_span, backwards),
        headers=exporter.headers,
    )
    assert response.status_code == 200
    partial = response.json()["partialSuccess"]
    assert partial["rejectedSpans"] == "3"
    assert "traceId must be 16 non-zero bytes" in partial["errorMessage"]
    assert "spans[2]: spanId" in partial["errorMessage"]
    assert await count_rows(session, TraceSpan) == 1


@pytest.mark.parametrize(
    ("content_type", "body", "needle"),
    [
        ("application/x-protobuf", b"\x0a\xff\xff\xff", "not a valid ExportTraceServiceRequest"),
        ("application/json", b'{"resourceSpans": [', "not valid JSON"),
        (
            "application/json",
            json.dumps(otlp_json(otlp_json_span("not-hex-at-all", "eee19b7ec3c1b174"))).encode(),
            "traceId must be a hex-encoded id",
        ),
        ("application/json", b'{"resourceSpans": "nope"}', "not a valid OTLP/JSON export"),
    ],
)
async def test_malformed_exports_answer_400_with_a_status_and_store_nothing(
    client: AsyncClient,
    session: AsyncSession,
    exporter: Caller,
    clock: FrozenClock,
    content_type: str,
    body: bytes,
    needle: str,
) -> None:
    valid = export(failing_checkout(1)).SerializeToString()
    if content_type == "application/x-protobuf":
        body = valid[: len(valid) // 2] + body  # a truncated export
    response = await client.post(
        "/v1/traces", content=body, headers={"Content-Type": content_type, **exporter.headers}
    )
    assert response.status_code == 400
    if content_type == "application/json":
        status = response.json()
        assert status["code"] == 3
        assert needle in status["message"]
    else:
        status = RpcStatus.FromString(response.content)
        assert status.code == 3
    assert await count_rows(session, TraceSpan) == 0


async def test_truncated_gzip_and_other_content_types_are_refused(
    client: AsyncClient, session: AsyncSession, exporter: Caller, clock: FrozenClock
) -> None:
    body = gzip.compress(export(healthy(2)).SerializeToString())[:-10]
    cut = await client.post(
        "/v1/traces",
        content=body,
        headers={**PROTO, **exporter.headers, "Content-Encoding": "gzip"},
    )
    assert cut.status_code == 400
    text = await client.post(
        "/v1/traces",
        content=b"hello",
        headers={"Content-Type": "text/plain", **exporter.headers},
    )
    assert text.status_code == 415
    assert await count_rows(session, TraceSpan) == 0


async def test_exports_need_a_token_with_traces_write(
    client: AsyncClient, session: AsyncSession, clock: FrozenClock
) -> None:
    body = export(healthy(2)).SerializeToString()
    anonymous = await client.post("/v1/traces", content=body, headers=PROTO)
    assert anonymous.status_code == 401
    viewer = await make_caller(session, Role.VIEWER)
    refused = await client.post("/v1/traces", content=body, headers={**PROTO, **viewer.headers})
    assert refused.status_code == 403
    narrow = await make_caller(session, Role.RESPONDER, scopes=frozenset({Permission.ALERTS_READ}))
    scoped = await client.post("/v1/traces", content=body, headers={**PROTO, **narrow.headers})
    assert scoped.status_code == 403
    assert await count_rows(session, TraceSpan) == 0


async def test_too_many_exports_in_flight_answer_503_with_retry_after(
    client: AsyncClient, session: AsyncSession, exporter: Caller, clock: FrozenClock, app: Any
) -> None:
    from tocsin.traces.admission import Gate

    gate = Gate()
    gate.in_flight = app.state.settings.traces_max_concurrent_exports
    app.state.trace_gate = gate
    response = await post_proto(client, exporter, export(healthy(2)))
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert await count_rows(session, TraceSpan) == 0


async def test_isolation_ranks_the_service_where_errors_originate(
    client: AsyncClient, session: AsyncSession, exporter: Caller, reader: Caller, clock: FrozenClock
) -> None:
    batch = merged(*(failing_checkout(t) for t in range(1, 6)), *(healthy(t) for t in range(6, 9)))
    assert (await post_proto(client, exporter, export(batch))).status_code == 200
    response = await client.get("/api/v1/traces/isolation", headers=reader.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["failing_traces"] == 5
    assert [s["service"] for s in body["services"]] == ["payments"]
    top = body["origins"][0]
    assert (top["service"], top["operation"], top["traces"], top["share"]) == (
        "payments",
        "POST /charge",
        5,
        1.0,
    )
    assert top["messages"] == [["card gateway down", 5]]
    assert top["http_statuses"] == [[500, 5]]
    assert top["example_trace_ids"] == [f"{t:032x}" for t in (1, 2, 3)]
    assert top["propagated_through"] == ["checkout", "web"]
    only_web = await client.get(
        "/api/v1/traces/isolation", params={"entry": "catalogue"}, headers=reader.headers
    )
    assert only_web.json()["origins"] == []


async def test_isolation_reports_the_latency_shift_against_the_previous_window(
    client: AsyncClient, session: AsyncSession, exporter: Caller, reader: Caller, clock: FrozenClock
) -> None:
    before = {"payments": [span(1, 1, None, "POST /charge", start_ms=-90 * 60_000, duration_ms=10)]}
    now = {"payments": [span(2, 1, None, "POST /charge", error="slow", duration_ms=40)]}
    assert (await post_proto(client, exporter, export(before))).status_code == 200
    assert (await post_proto(client, exporter, export(now))).status_code == 200
    body = (await client.get("/api/v1/traces/isolation", headers=reader.headers)).json()
    top = body["origins"][0]
    assert (top["mean_duration_ms"], top["previous_mean_duration_ms"]) == (40.0, 10.0)
    assert top["latency_shift"] == 3.0


async def test_bad_windows_are_refused_naming_the_field(
    client: AsyncClient, reader: Caller, clock: FrozenClock
) -> None:
    response = await client.get(
        "/api/v1/traces/isolation",
        params={"from": "2026-01-05T10:00:00Z", "to": "2026-01-05T09:00:00Z"},
        headers=reader.headers,
    )
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "from" in response.text


async def test_viewers_and_stakeholders_cannot_read_traces(
    client: AsyncClient, session: AsyncSession, clock: FrozenClock
) -> None:
    for role in (Role.VIEWER, Role.STAKEHOLDER, Role.COMMUNICATOR):
        caller = await make_caller(session, role)
        response = await client.get("/api/v1/traces/isolation", headers=caller.headers)
        assert response.status_code == 403


async def test_figures_and_the_dependency_map_against_the_catalog(
    client: AsyncClient, session: AsyncSession, exporter: Caller, reader: Caller, clock: FrozenClock
) -> None:
    system = Actor.system("test")
    for slug in ("payments", "inventory", "ledger"):
        await catalog.create_service(session, system, ServiceCreate(slug=slug, name=slug))
    await catalog.create_service(
        session,
        system,
        ServiceCreate(
            slug="checkout",
            name="Checkout",
            dependencies=[DependencyIn(service="payments"), DependencyIn(service="ledger")],
        ),
    )
    await session.commit()
    batch = merged(*(failing_checkout(t) for t in range(1, 3)), healthy(3))
    assert (await post_proto(client, exporter, export(batch))).status_code == 200

    figures = (await client.get("/api/v1/traces/services", headers=reader.headers)).json()
    web = next(s for s in figures["services"] if s["service"] == "web")
    assert (web["requests"], web["errors"], web["error_percent"]) == (3, 2, 66.67)
    assert web["p50_ms"] == 20.0 and web["p99_ms"] == 20.0
    assert web["rate_per_second"] == round(3 / 3600, 4)

    edges = (await client.get("/api/v1/traces/dependencies", headers=reader.headers)).json()
    states = {
        (e["caller"], e["callee"]): (e["state"], e["calls"], e["errors"]) for e in edges["edges"]
    }
    assert states[("checkout", "payments")] == ("declared", 2, 2)
    assert states[("checkout", "inventory")] == ("undeclared", 2, 0)
    assert states[("web", "checkout")] == ("undeclared", 2, 2)
    assert states[("checkout", "ledger")] == ("unused", 0, 0)

    page = await client.get("/traces", headers=reader.headers)
    assert page.status_code == 200
    assert "undeclared" in page.text and "payments" in page.text


async def test_incident_isolation_uses_the_impact_window_and_respects_privacy(
    client: AsyncClient, session: AsyncSession, exporter: Caller, clock: FrozenClock
) -> None:
    await policy.ensure_default_policies(session)
    await catalog.create_service(
        session, Actor.system("test"), ServiceCreate(slug="checkout", name="Checkout")
    )
    await session.commit()
    owner = await make_caller(session, Role.RESPONDER)
    outsider = await make_caller(session, Role.RESPONDER)
    old = {"ledger": [span(9, 1, None, "POST /post", error="old failure", start_ms=-3 * 3600_000)]}
    assert (await post_proto(client, exporter, export(old))).status_code == 200
    assert (await post_proto(client, exporter, export(failing_checkout(1)))).status_code == 200
    declared = await client.post(
        "/api/v1/incidents",
        json={
            "title": "Checkout errors",
            "severity": "sev1",
            "services": ["checkout"],
            "visibility": "private",
            "impact_started_at": (utcnow() - timedelta(minutes=30)).isoformat(),
        },
        headers=owner.headers,
    )
    assert declared.status_code == 201, declared.text
    ref = declared.json()["ref"]
    mine = await client.get(f"/api/v1/incidents/{ref}/isolation", headers=owner.headers)
    assert mine.status_code == 200, mine.text
    assert [o["service"] for o in mine.json()["origins"]] == ["payments"]
    hidden = await client.get(f"/api/v1/incidents/{ref}/isolation", headers=outsider.headers)
    assert hidden.status_code == 404
    panel = await client.get(
        f"/incidents/{ref}/isolation", headers={**owner.headers, "HX-Request": "true"}
    )
    assert panel.status_code == 200 and "card gateway down" in panel.text
    assert "old failure" not in panel.text
    hidden_panel = await client.get(f"/incidents/{ref}/isolation", headers=outsider.headers)
    assert hidden_panel.status_code == 404


async def test_spans_past_the_retention_are_pruned(
    client: AsyncClient, session: AsyncSession, exporter: Caller, clock: FrozenClock
) -> None:
    old = {"web": [span(1, 1, None, "GET /", start_ms=-80 * 3600_000)]}
    assert (await post_proto(client, exporter, export(merged(old, healthy(2))))).status_code == 200
    assert await count_rows(session, TraceSpan) == 3
    deleted = await traces.prune(session, retention_hours=72)
    await session.commit()
    assert deleted == 1
    assert await count_rows(session, TraceSpan) == 2
    from tocsin.jobs.models import Job

    queued = await session.scalar(sa.select(Job).where(Job.kind == traces.PRUNE_KIND))
    assert queued is not None and queued.run_at > utcnow()


async def test_sampling_keeps_error_traces_and_drops_ok_ones(
    session: AsyncSession, exporter: Caller, clock: FrozenClock, settings: Any
) -> None:
    from asgi_lifespan import LifespanManager
    from httpx import ASGITransport

    from tocsin.app import create_app

    sampled = settings.model_copy(update={"traces_sample_ratio": 0.0})
    application = create_app(sampled)
    async with (
        LifespanManager(application),
        AsyncClient(transport=ASGITransport(app=application), base_url="http://t") as c,
    ):
        response = await post_proto(c, exporter, export(merged(failing_checkout(1), healthy(2))))
    assert response.status_code == 200
    stored = set((await session.scalars(sa.select(TraceSpan.trace_id).distinct())).all())
    assert stored == {f"{1:032x}"}
    assert await count_rows(session, TraceSpan) == 7


def failing_inventory(trace: int) -> dict[str, list[Span]]:
    """web → checkout → inventory, inventory failing and the error propagating up."""
    base = trace * 10
    return {
        "web": [span(trace, base + 1, None, "GET /buy", error="upstream failed", http=502)],
        "checkout": [
            span(trace, base + 2, base + 1, "POST /orders", error="no stock answer", http=502)
        ],
        "inventory": [
            span(trace, base + 3, base + 2, "GET /stock", error="stock db timeout", http=503)
        ],
    }


async def test_the_traces_page_and_the_incident_panel_show_the_ranking_in_order(
    client: AsyncClient, session: AsyncSession, exporter: Caller, reader: Caller, clock: FrozenClock
) -> None:
    await policy.ensure_default_policies(session)
    await catalog.create_service(
        session, Actor.system("test"), ServiceCreate(slug="checkout", name="Checkout")
    )
    await session.commit()
    batch = merged(*(failing_checkout(t) for t in range(1, 4)), failing_inventory(4), healthy(5))
    assert (await post_proto(client, exporter, export(batch))).status_code == 200

    page = await client.get("/traces", headers=reader.headers)
    assert page.status_code == 200
    isolation_section = page.text.split('id="isolation-heading"', 1)[1]
    assert "4 failing traces" in isolation_section
    assert "Most likely origin: <strong>payments</strong>" in isolation_section
    rows = isolation_section.split("<tbody>", 1)[1].split("</tbody>", 1)[0].split("<tr>")[1:]
    assert [row.split("<td>")[1].split("</td>")[0] for row in rows] == ["payments", "inventory"]
    times = "\N{MULTIPLICATION SIGN}"
    assert f"card gateway down {times}3" in rows[0] and f"500 {times}3" in rows[0]
    assert f"<code>{1:032x}</code>" in rows[0]
    assert f"stock db timeout {times}1" in rows[1] and f"503 {times}1" in rows[1]

    declared = await client.post(
        "/api/v1/incidents",
        json={
            "title": "Checkout errors",
            "severity": "sev2",
            "services": ["checkout"],
            "impact_started_at": (utcnow() - timedelta(minutes=10)).isoformat(),
        },
        headers=reader.headers,
    )
    assert declared.status_code == 201, declared.text
    ref = declared.json()["ref"]
    own_page = await client.get(f"/incidents/{ref}/isolation", headers=reader.headers)
    assert own_page.status_code == 200
    assert "<h1>" in own_page.text and "Checkout errors" in own_page.text
    panel = own_page.text.split('id="isolation"', 1)[1]
    assert panel.index("card gateway down") < panel.index("stock db timeout")
    assert "Most likely origin: <strong>payments</strong>" in panel
    incident_page = await client.get(f"/incidents/{ref}", headers=reader.headers)
    assert f'hx-get="/incidents/{ref}/isolation"' in incident_page.text


async def test_an_empty_window_says_so_on_the_page(
    client: AsyncClient, reader: Caller, clock: FrozenClock
) -> None:
    page = await client.get("/traces?window=15m", headers=reader.headers)
    assert page.status_code == 200
    assert "No spans in this window" in page.text
    assert "No error spans between" in page.text
    refused = await client.get("/traces?window=2y", headers=reader.headers)
    assert refused.status_code == 422


async def test_sustained_trace_errors_are_evidence_of_impact_start_and_lone_ones_are_not(
    client: AsyncClient, session: AsyncSession, exporter: Caller, clock: FrozenClock
) -> None:
    await policy.ensure_default_policies(session)
    await catalog.create_service(
        session, Actor.system("test"), ServiceCreate(slug="checkout", name="Checkout")
    )
    await session.commit()
    owner = await make_caller(session, Role.RESPONDER)
    minute = 60_000
    stray = span(50, 500, None, "POST /orders", error="stray timeout", start_ms=-90 * minute)
    burst = [
        span(60 + i, 600 + i, None, "POST /orders", error="db pool exhausted", start_ms=ms)
        for i, ms in enumerate((-40 * minute, -40 * minute + 20_000, -40 * minute + 50_000))
    ]
    sent = await post_proto(client, exporter, export({"checkout": [stray, *burst]}))
    assert sent.status_code == 200, sent.text
    declared = await client.post(
        "/api/v1/incidents",
        json={
            "title": "Checkout errors",
            "severity": "sev2",
            "services": ["checkout"],
            "impact_started_at": (utcnow() - timedelta(minutes=10)).isoformat(),
        },
        headers=owner.headers,
    )
    assert declared.status_code == 201, declared.text
    ref = declared.json()["ref"]

    answer = await client.get(f"/api/v1/incidents/{ref}/impact-start", headers=owner.headers)
    assert answer.status_code == 200, answer.text
    found = [e for e in answer.json()["evidence"] if e["source"] == "trace-error"]
    by_trust = {e["credible"]: e for e in found}
    assert len(found) == 2
    assert "stray timeout" in by_trust[False]["description"]
    assert "db pool exhausted" in by_trust[True]["description"]
    burst_start = (utcnow() - timedelta(minutes=40)).isoformat().replace("+00:00", "")
    assert by_trust[True]["at"].startswith(burst_start[:16])  # to the minute
    assert answer.json()["proposed"] == by_trust[True]["at"]


@given(st.lists(st.integers(min_value=0, max_value=10**9), max_size=30))
def test_first_burst_finds_the_earliest_sustained_stretch(times: list[int]) -> None:
    ordered = sorted(times)
    found = first_burst(ordered, burst=3, within=60)
    stretches = [i for i in range(len(ordered) - 2) if ordered[i + 2] - ordered[i] <= 60]
    assert found == (stretches[0] if stretches else None)
