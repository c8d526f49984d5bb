"""API shapes of service figures, the dependency map and failure isolation."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from tocsin.schemas import Input


class WindowOut(BaseModel):
    start: datetime
    end: datetime


class OriginOut(BaseModel):
    service: str
    operation: str
    traces: int
    spans: int
    share: float
    example_trace_ids: list[str]
    messages: list[tuple[str, int]]
    http_statuses: list[tuple[int, int]]
    mean_duration_ms: float
    previous_mean_duration_ms: float | None
    latency_shift: float | None
    """Relative change of the operation's mean latency against the previous window."""
    propagated_through: list[str]


class ServiceRankOut(BaseModel):
    service: str
    traces: int
    spans: int
    operations: list[str]
    catalog_service: bool


class IsolationOut(BaseModel):
    window: WindowOut
    previous_window: WindowOut
    entry: str | None
    failing_traces: int
    error_spans: int
    services: list[ServiceRankOut]
    origins: list[OriginOut]


class ServiceFiguresOut(BaseModel):
    service: str
    requests: int
    errors: int
    rate_per_second: float
    error_percent: float
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None


class FiguresOut(BaseModel):
    window: WindowOut
    services: list[ServiceFiguresOut]


class EdgeOut(BaseModel):
    caller: str
    callee: str
    calls: int
    errors: int
    state: str


class DependencyMapOut(BaseModel):
    window: WindowOut
    edges: list[EdgeOut]


class JaegerImportIn(Input):
    """Which traces to read from Jaeger: those of `service` that started in the window."""

    service: str = Field(min_length=1, max_length=100)
    from_: datetime = Field(alias="from")
    to: datetime


class ImportQueued(BaseModel):
    job_id: int
    service: str
    window: WindowOut
