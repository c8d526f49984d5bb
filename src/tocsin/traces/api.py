"""The OTLP/HTTP receiver (`POST /v1/traces`) and the trace read API under /api/v1/traces.

The receiver answers exactly as OTLP/HTTP prescribes so that SDK exporters and the Collector
work unmodified: 200 with an ExportTraceServiceResponse in the request's encoding (with
`partialSuccess` when spans were rejected), 400 with a google.rpc.Status when the body cannot
be decoded (nothing stored), 415 for other content types, 503 with Retry-After when too many
exports are in flight. It authenticates with an ordinary API token carrying `traces:write`,
sent as `Authorization: Bearer …` (OTEL_EXPORTER_OTLP_HEADERS).
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends, Query, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from tocsin.auth.dependencies import Requires
from tocsin.auth.permissions import Permission
from tocsin.auth.principal import Principal
from tocsin.config import Settings
from tocsin.db.session import get_session
from tocsin.traces import handlers as _handlers  # noqa: F401  (the prune job)
from tocsin.traces import otlp, service
from tocsin.traces.admission import Gate
from tocsin.traces.schemas import (
    DependencyMapOut,
    FiguresOut,
    ImportQueued,
    IsolationOut,
    JaegerImportIn,
)

receiver = APIRouter(tags=["traces"])
router = APIRouter(prefix="/api/v1", tags=["traces"])

READ = Depends(Requires(Permission.TRACES_READ))
WRITE = Depends(Requires(Permission.TRACES_WRITE))
DB = Depends(get_session)

# google.rpc.Code values used in Status bodies.
INVALID_ARGUMENT = 3
UNAVAILABLE = 14


def _gate(request: Request) -> Gate:
    gate = getattr(request.app.state, "trace_gate", None)
    if not isinstance(gate, Gate):
        gate = Gate()
        request.app.state.trace_gate = gate
    return gate


def _answer(status: int, body: bytes, content_type: str, **headers: str) -> Response:
    return Response(body, status_code=status, media_type=content_type, headers=headers)


@receiver.post("/v1/traces")
async def export_traces(
    request: Request, who: Principal = WRITE, session: AsyncSession = DB
) -> Response:
    """OTLP/HTTP trace export, protobuf or JSON, optionally gzip."""
    settings: Settings = request.app.state.settings
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in {otlp.PROTOBUF, otlp.JSON}:
        message = "send application/x-protobuf or application/json"
        return _answer(415, otlp.status_body(INVALID_ARGUMENT, message, otlp.JSON), otlp.JSON)
    gate = _gate(request)
    if gate.in_flight >= settings.traces_max_concurrent_exports:
        body = otlp.status_body(UNAVAILABLE, "too many exports in flight", content_type)
        return _answer(503, body, content_type, **{"Retry-After": "1"})
    gate.in_flight += 1
    try:
        raw = await request.body()
        try:
            data = otlp.decompress(
                raw,
                request.headers.get("content-encoding", ""),
                settings.traces_max_decompressed_bytes,
            )
            decoded = otlp.spans_of(otlp.parse(data, content_type))
        except otlp.Malformed as exc:
            body = otlp.status_body(INVALID_ARGUMENT, str(exc), content_type)
            return _answer(400, body, content_type)
        await service.accept(session, gate, decoded.rows, settings)
    finally:
        gate.in_flight -= 1
    message = "; ".join(decoded.reasons)
    return _answer(200, otlp.response_body(decoded.rejected, message, content_type), content_type)


@router.get("/traces/isolation", response_model=IsolationOut)
async def isolation(
    from_: datetime | None = Query(None, alias="from"),
    to: datetime | None = None,
    entry: str | None = Query(None, max_length=100),
    _: Principal = READ,
    session: AsyncSession = DB,
) -> IsolationOut:
    """Where the errors of the window (default: the last hour) originate, ranked."""
    start, end = service.window(from_, to)
    return await service.isolate(session, start, end, entry)


@router.get("/incidents/{ref}/isolation", response_model=IsolationOut)
async def incident_isolation(
    ref: str,
    entry: str | None = Query(None, max_length=100),
    who: Principal = READ,
    session: AsyncSession = DB,
) -> IsolationOut:
    """Isolation over the incident's impact window; private incidents only for participants."""
    return await service.incident_isolation(session, who, ref, entry)


@router.get("/traces/services", response_model=FiguresOut)
async def service_figures(
    from_: datetime | None = Query(None, alias="from"),
    to: datetime | None = None,
    _: Principal = READ,
    session: AsyncSession = DB,
) -> FiguresOut:
    return await service.service_figures(session, from_, to)


@router.get("/traces/dependencies", response_model=DependencyMapOut)
async def dependency_map(
    from_: datetime | None = Query(None, alias="from"),
    to: datetime | None = None,
    _: Principal = READ,
    session: AsyncSession = DB,
) -> DependencyMapOut:
    return await service.dependency_map(session, from_, to)


@router.post("/traces/imports/jaeger", response_model=ImportQueued, status_code=202)
async def import_from_jaeger(
    body: JaegerImportIn, request: Request, who: Principal = WRITE, session: AsyncSession = DB
) -> ImportQueued:
    """Read a service's traces in a window from the configured Jaeger, in the background."""
    settings: Settings = request.app.state.settings
    return await service.queue_jaeger_import(session, who, body, settings.traces_jaeger_url)
