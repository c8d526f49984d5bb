"""The span table: deliberately compact and flat, since it is the largest table by far.

Times are integer microseconds since the epoch rather than datetimes: windows, durations and
percentiles are arithmetic on them, and bulk inserts skip a type conversion per row. Ids are the
lower-case hex strings OTLP/JSON uses, so a trace id pasted from any tracing tool matches.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from tocsin.db.base import Base, JSONType

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


class TraceSpan(Base):
    __tablename__ = "trace_spans"
    __table_args__ = (
        sa.Index("ix_trace_spans_trace_span", "trace_id", "span_id"),
        # Covers the latency evidence of isolation (mean duration of an operation over a
        # window) so it is read from the index alone.
        sa.Index(
            "ix_trace_spans_service_operation_start",
            "service",
            "operation",
            "start_us",
            "duration_us",
        ),
        # Root spans only: the entry-service filter of isolation reads them index-only.
        sa.Index(
            "ix_trace_spans_roots",
            "service",
            "start_us",
            "trace_id",
            postgresql_where=sa.text("parent_span_id IS NULL"),
            sqlite_where=sa.text("parent_span_id IS NULL"),
        ),
        sa.Index("ix_trace_spans_status_start", "status_code", "start_us"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    trace_id: Mapped[str] = mapped_column(sa.String(32))
    span_id: Mapped[str] = mapped_column(sa.String(16))
    parent_span_id: Mapped[str | None] = mapped_column(sa.String(16))
    service: Mapped[str] = mapped_column(sa.String(100))
    """The `service.name` resource attribute; matched with catalog services by slug."""
    operation: Mapped[str] = mapped_column(sa.String(200))
    kind: Mapped[int] = mapped_column(sa.SmallInteger)
    """OTLP SpanKind: 1 internal, 2 server, 3 client, 4 producer, 5 consumer."""
    start_us: Mapped[int] = mapped_column(sa.BigInteger, index=True)
    duration_us: Mapped[int] = mapped_column(sa.BigInteger)
    status_code: Mapped[int] = mapped_column(sa.SmallInteger)
    """OTLP StatusCode: 0 unset, 1 ok, 2 error."""
    error_message: Mapped[str | None] = mapped_column(sa.String(500))
    http_status: Mapped[int | None] = mapped_column(sa.SmallInteger)
    attributes: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    """A subset worth showing next to an error (route, method, peer, exception type)."""
