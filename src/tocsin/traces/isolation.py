"""Where do the errors of a window originate? Pure ranking over error spans.

An error span is an origin when none of its children failed: its failure is not explained by
anything it called, so this is where to look first. Error spans whose children failed merely
propagated the failure upward. Origins are grouped by service and operation and ranked by the
number of failing traces they explain, so a service that broke a thousand requests outranks
one that broke a handful, however many spans each produced.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field

EXAMPLES = 3


@dataclass(frozen=True)
class ErrorSpan:
    trace_id: str
    span_id: str
    parent_span_id: str | None
    service: str
    operation: str
    message: str | None
    http_status: int | None
    duration_us: int


@dataclass
class Origin:
    service: str
    operation: str
    traces: int
    spans: int
    share: float
    """Fraction of the window's failing traces this origin appears in."""
    example_trace_ids: list[str]
    messages: list[tuple[str, int]]
    http_statuses: list[tuple[int, int]]
    mean_duration_us: int
    propagated_through: list[str] = field(default_factory=list)
    """Services the failure travelled through on its way up (error spans above the origin)."""


def origins(spans: list[ErrorSpan]) -> list[ErrorSpan]:
    """The error spans with no failing child, in input order."""
    failed_parents = {(s.trace_id, s.parent_span_id) for s in spans if s.parent_span_id}
    return [s for s in spans if (s.trace_id, s.span_id) not in failed_parents]


def _ancestors(span: ErrorSpan, by_id: dict[tuple[str, str], ErrorSpan]) -> list[str]:
    seen: list[str] = []
    visited: set[str] = set()
    current = span
    while current.parent_span_id and current.parent_span_id not in visited:
        visited.add(current.parent_span_id)
        parent = by_id.get((current.trace_id, current.parent_span_id))
        if parent is None:
            break
        if parent.service != span.service and parent.service not in seen:
            seen.append(parent.service)
        current = parent
    return seen


def rank(spans: list[ErrorSpan]) -> list[Origin]:
    """Origins grouped by (service, operation), most failing traces first."""
    failing_traces = {s.trace_id for s in spans}
    by_id = {(s.trace_id, s.span_id): s for s in spans}
    groups: dict[tuple[str, str], list[ErrorSpan]] = defaultdict(list)
    for span in origins(spans):
        groups[(span.service, span.operation)].append(span)
    ranked = []
    for (service, operation), members in groups.items():
        traces: list[str] = []
        for member in members:
            if member.trace_id not in traces:
                traces.append(member.trace_id)
        messages = Counter(m.message for m in members if m.message)
        statuses = Counter(m.http_status for m in members if m.http_status is not None)
        through: list[str] = []
        for member in members:
            for name in _ancestors(member, by_id):
                if name not in through:
                    through.append(name)
        ranked.append(
            Origin(
                service=service,
                operation=operation,
                traces=len(traces),
                spans=len(members),
                share=len(traces) / len(failing_traces),
                example_trace_ids=sorted(traces)[:EXAMPLES],
                messages=sorted(messages.items(), key=lambda kv: (-kv[1], kv[0]))[:EXAMPLES],
                http_statuses=sorted(statuses.items(), key=lambda kv: (-kv[1], kv[0])),
                mean_duration_us=sum(m.duration_us for m in members) // len(members),
                propagated_through=through,
            )
        )
    ranked.sort(key=lambda o: (-o.traces, -o.spans, o.service, o.operation))
    return ranked


@dataclass(frozen=True)
class ServiceRank:
    service: str
    traces: int
    spans: int
    operations: list[str]


def by_service(ranked: list[Origin]) -> list[ServiceRank]:
    """Origins rolled up per service (a trace counted once per service)."""
    traces: dict[str, int] = defaultdict(int)
    spans: dict[str, int] = defaultdict(int)
    operations: dict[str, list[str]] = defaultdict(list)
    for origin in ranked:
        traces[origin.service] += origin.traces
        spans[origin.service] += origin.spans
        operations[origin.service].append(origin.operation)
    out = [ServiceRank(name, traces[name], spans[name], operations[name]) for name in traces]
    out.sort(key=lambda r: (-r.traces, -r.spans, r.service))
    return out


def latency_shift(current_us: float | None, previous_us: float | None) -> float | None:
    """Relative change of mean latency against the previous window (0.5 = 50 % slower)."""
    if current_us is None or not previous_us:
        return None
    return (current_us - previous_us) / previous_us
