"""Trace errors as evidence of when an incident's impact started.

Real systems log a stray failed request now and then, so one error span proves little: a
service counts as failing from the first error span that is followed by at least
`BURST - 1` more within `WITHIN` (a sustained failure). Earlier lone errors are still shown, as
evidence that is not trusted, so the responder sees why the proposal did not pick them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from tocsin.incidents.reports.evidence import Evidence
from tocsin.traces.models import TraceSpan

SOURCE = "trace-error"
BURST = 3
WITHIN_US = 60_000_000
"""A minute, in the span table's microseconds."""
SCAN = 5_000
"""Error spans read per service at most: the first sustained stretch is near the start."""


def first_burst(times: Sequence[int], burst: int = BURST, within: int = WITHIN_US) -> int | None:
    """Index of the first of `burst` sorted times that fall within `within` of it, if any."""
    for index in range(len(times) - burst + 1):
        if times[index + burst - 1] - times[index] <= within:
            return index
    return None


def _at(start_us: int) -> datetime:
    return datetime.fromtimestamp(start_us / 1_000_000, tz=UTC)


async def trace_errors(
    session: AsyncSession, services: frozenset[str], since: datetime, until: datetime
) -> list[Evidence]:
    found: list[Evidence] = []
    low, high = int(since.timestamp() * 1_000_000), int(until.timestamp() * 1_000_000)
    for service in sorted(services):
        rows = (
            await session.execute(
                sa.select(
                    TraceSpan.start_us,
                    TraceSpan.operation,
                    TraceSpan.error_message,
                    TraceSpan.trace_id,
                )
                .where(
                    TraceSpan.status_code == 2,
                    TraceSpan.service == service,
                    TraceSpan.start_us >= low,
                    TraceSpan.start_us <= high,
                )
                .order_by(TraceSpan.start_us)
                .limit(SCAN)
            )
        ).all()
        if not rows:
            continue
        burst = first_burst([row.start_us for row in rows])
        first = rows[0]
        if burst != 0:
            found.append(
                Evidence(
                    source=SOURCE,
                    at=_at(first.start_us),
                    description=_describe(
                        service, first.operation, first.error_message, first.trace_id
                    ),
                    credible=False,
                    reason=f"a lone error, not {BURST} within a minute",
                )
            )
        if burst is not None:
            row = rows[burst]
            found.append(
                Evidence(
                    source=SOURCE,
                    at=_at(row.start_us),
                    description=_describe(service, row.operation, row.error_message, row.trace_id),
                )
            )
    return found


def _describe(service: str, operation: str, message: str | None, trace_id: str) -> str:
    text = f"errors in traces of {service} ({operation}): {message or 'error status'}"
    return f"{text}; first trace {trace_id}"[:1000]
