"""Properties of the pure trace logic: origin ranking, sampling, figures, dependency compare."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tocsin.traces import dependencies, figures, isolation, sampling

SERVICES = ["web", "checkout", "payments", "inventory"]


@st.composite
def error_spans(draw: st.DrawFn) -> list[isolation.ErrorSpan]:
    """Error spans of a few traces, each a tree (a parent is always an earlier span)."""
    out: list[isolation.ErrorSpan] = []
    for trace in range(draw(st.integers(0, 4))):
        count = draw(st.integers(1, 8))
        for index in range(count):
            parent = None if index == 0 else draw(st.integers(0, index - 1))
            out.append(
                isolation.ErrorSpan(
                    trace_id=f"{trace:032x}",
                    span_id=f"{index + 1:016x}",
                    parent_span_id=None if parent is None else f"{parent + 1:016x}",
                    service=draw(st.sampled_from(SERVICES)),
                    operation=draw(st.sampled_from(["GET", "POST /charge"])),
                    message=draw(st.sampled_from([None, "boom", "timeout"])),
                    http_status=draw(st.sampled_from([None, 500, 503])),
                    duration_us=draw(st.integers(0, 10_000)),
                )
            )
    return out


@given(error_spans())
def test_every_failing_trace_has_an_origin_and_origins_have_no_failing_child(
    spans: list[isolation.ErrorSpan],
) -> None:
    found = isolation.origins(spans)
    assert {s.trace_id for s in found} == {s.trace_id for s in spans}
    for origin in found:
        assert not any(
            s.trace_id == origin.trace_id and s.parent_span_id == origin.span_id for s in spans
        )


@given(error_spans(), st.randoms())
def test_ranking_is_ordered_complete_and_independent_of_input_order(
    spans: list[isolation.ErrorSpan], rnd: object
) -> None:
    ranked = isolation.rank(spans)
    keys = [(-o.traces, -o.spans, o.service, o.operation) for o in ranked]
    assert keys == sorted(keys)
    assert sum(o.spans for o in ranked) == len(isolation.origins(spans))
    assert all(0 < o.share <= 1 for o in ranked)
    shuffled = list(spans)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    again = isolation.rank(shuffled)
    assert [(o.service, o.operation, o.traces, o.spans) for o in again] == [
        (o.service, o.operation, o.traces, o.spans) for o in ranked
    ]
    services = isolation.by_service(ranked)
    assert [r.traces for r in services] == sorted((r.traces for r in services), reverse=True)


@given(error_spans())
def test_a_failure_below_takes_the_blame_from_its_callers(
    spans: list[isolation.ErrorSpan],
) -> None:
    """A failing child under every origin makes exactly those children the origins."""
    deeper = [
        isolation.ErrorSpan(o.trace_id, f"d{n:015x}", o.span_id, "deep", "op", "x", 500, 1)
        for n, o in enumerate(isolation.origins(spans))
    ]
    assert isolation.origins(spans + deeper) == deeper
    ranked = isolation.rank(spans + deeper)
    assert [r.service for r in isolation.by_service(ranked)] == (["deep"] if spans else [])


@given(
    st.lists(
        st.fixed_dictionaries(
            {
                "trace_id": st.text("0123456789abcdef", min_size=32, max_size=32),
                "status_code": st.sampled_from([0, 1, 2]),
            }
        ),
        max_size=50,
    ),
    st.floats(0, 1),
    st.one_of(st.none(), st.integers(0, 60)),
)
def test_sampling_never_drops_error_traces_and_respects_the_budget(
    rows: list[dict[str, object]], ratio: float, budget: int | None
) -> None:
    kept, dropped = sampling.select(rows, ratio, budget)  # type: ignore[arg-type]
    assert len(kept) + dropped == len(rows)
    failing = {r["trace_id"] for r in rows if r["status_code"] == 2}
    assert [r for r in rows if r["trace_id"] in failing] == [
        r for r in kept if r["trace_id"] in failing
    ]
    ok_kept = [r for r in kept if r["trace_id"] not in failing]
    if budget is not None:
        assert len(ok_kept) <= budget
    for row in ok_kept:
        assert sampling.sampled(str(row["trace_id"]), ratio)


@given(st.lists(st.integers(0, 10**9), min_size=1, max_size=200))
def test_percentiles_are_observed_values_in_order(values: list[int]) -> None:
    f = figures.figures(values, 0, 60)
    assert f.p50_us in values and f.p95_us in values and f.p99_us in values
    assert min(values) <= f.p50_us <= f.p95_us <= f.p99_us <= max(values)  # type: ignore[operator]
    assert f.requests == len(values)


def test_percentile_of_nothing_is_none() -> None:
    assert figures.figures([], 0, 60).p50_us is None


PAIRS = st.tuples(st.sampled_from(SERVICES), st.sampled_from(SERVICES)).filter(
    lambda p: p[0] != p[1]
)


@given(st.sets(PAIRS), st.sets(PAIRS), st.sets(st.sampled_from(SERVICES)))
def test_dependency_compare_partitions_edges(
    seen: set[tuple[str, str]], declared: set[tuple[str, str]], traced: set[str]
) -> None:
    observed = [dependencies.ObservedEdge(a, b, 1, 0) for a, b in seen]
    edges = dependencies.compare(observed, declared, traced | {a for a, _ in seen})
    by_state: dict[str, set[tuple[str, str]]] = {
        "declared": set(),
        "undeclared": set(),
        "unused": set(),
    }
    for edge in edges:
        by_state[edge.state].add((edge.caller, edge.callee))
    assert by_state["declared"] == seen & declared
    assert by_state["undeclared"] == seen - declared
    assert by_state["unused"] == {
        (a, b) for a, b in declared - seen if a in traced | {c for c, _ in seen}
    }
