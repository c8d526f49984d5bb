"""The dependency graph's answers agree with brute force on every small graph."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from tocsin.catalog.graph import DependencyGraph, DependencyKind, Edge

NODES = [f"s{i}" for i in range(7)]

edges_strategy = st.lists(
    st.builds(
        Edge,
        st.sampled_from(NODES),
        st.sampled_from(NODES),
        st.sampled_from(list(DependencyKind)),
    ).filter(lambda e: e.source != e.target),
    max_size=18,
    unique_by=lambda e: (e.source, e.target),
)


def _distances(edges: list[Edge], kinds: set[DependencyKind]) -> dict[tuple[str, str], int]:
    """All-pairs shortest hop counts (Floyd-Warshall) over the edges of the given kinds."""
    inf = 10**9
    dist = {(a, b): inf for a in NODES for b in NODES}
    for e in edges:
        if e.kind in kinds:
            dist[e.source, e.target] = 1
    for k, i, j in itertools.product(NODES, NODES, NODES):
        if dist[i, k] + dist[k, j] < dist[i, j]:
            dist[i, j] = dist[i, k] + dist[k, j]
    return {pair: d for pair, d in dist.items() if d < inf}


ALL = {DependencyKind.HARD, DependencyKind.SOFT}


@given(edges_strategy)
def test_upstream_is_everything_reachable_along_dependencies_at_shortest_distance(
    edges: list[Edge],
) -> None:
    graph = DependencyGraph(edges, NODES)
    dist = _distances(edges, ALL)
    for node in NODES:
        expected = {b: d for (a, b), d in dist.items() if a == node and b != node}
        assert {n: r.distance for n, r in graph.upstream(node).items()} == expected


@given(edges_strategy)
def test_upstream_and_downstream_mirror_each_other(edges: list[Edge]) -> None:
    graph = DependencyGraph(edges, NODES)
    for a, b in itertools.product(NODES, NODES):
        assert (b in graph.upstream(a)) == (a in graph.downstream(b))


@given(edges_strategy)
def test_a_failure_is_hard_exactly_where_a_path_of_hard_dependencies_leads(
    edges: list[Edge],
) -> None:
    graph = DependencyGraph(edges, NODES)
    hard = _distances(edges, {DependencyKind.HARD})
    for node in NODES:
        radius = graph.blast_radius(node)
        assert set(radius.hard) == {a for (a, b) in hard if b == node and a != node}
        assert set(radius.hard).isdisjoint(radius.soft)
        assert set(radius.all) == set(graph.downstream(node))


@given(edges_strategy, st.integers(min_value=1, max_value=4))
def test_depth_limits_the_neighbourhood_to_that_many_hops(edges: list[Edge], depth: int) -> None:
    graph = DependencyGraph(edges, NODES)
    for node in NODES:
        full = graph.downstream(node)
        limited = graph.downstream(node, depth)
        assert limited == {n: r for n, r in full.items() if r.distance <= depth}


@given(edges_strategy)
def test_cycles_are_the_groups_of_mutually_dependent_services(edges: list[Edge]) -> None:
    graph = DependencyGraph(edges, NODES)
    dist = _distances(edges, ALL)
    on_cycle = {n for n in NODES if (n, n) in dist}
    cycles = graph.cycles()
    assert {n for group in cycles for n in group} == on_cycle
    for group in cycles:
        for a, b in itertools.product(group, group):
            assert a == b or ((a, b) in dist and (b, a) in dist)
    for g1, g2 in itertools.combinations(cycles, 2):
        assert set(g1).isdisjoint(g2)


@given(edges_strategy, st.sampled_from(NODES), st.sampled_from(NODES))
def test_a_new_edge_closes_a_cycle_exactly_when_its_target_already_reaches_its_source(
    edges: list[Edge], source: str, target: str
) -> None:
    graph = DependencyGraph(edges, NODES)
    loop = graph.cycle_closed_by(source, target)
    reaches = source == target or source in graph.upstream(target)
    assert (loop is not None) == reaches
    if loop is not None:
        assert loop[0] == loop[-1] == source
        extended = DependencyGraph([*edges, Edge(source, target)], NODES)
        for a, b in itertools.pairwise(loop):
            assert b in extended.depends_on(a)


@given(edges_strategy)
@settings(max_examples=50)
def test_path_is_a_shortest_chain_of_real_edges(edges: list[Edge]) -> None:
    graph = DependencyGraph(edges, NODES)
    dist = _distances(edges, ALL)
    for a, b in itertools.product(NODES, NODES):
        if a == b:
            continue
        path = graph.path(a, b)
        if (a, b) not in dist:
            assert path is None
            continue
        assert path is not None and path[0] == a and path[-1] == b
        assert len(path) - 1 == dist[a, b]
        for x, y in itertools.pairwise(path):
            assert y in graph.depends_on(x)


def test_a_very_long_chain_does_not_exhaust_the_stack() -> None:
    n = 20_000
    edges = [Edge(f"n{i}", f"n{i + 1}") for i in range(n)] + [Edge(f"n{n}", "n0")]
    graph = DependencyGraph(edges)
    assert len(graph.cycles()) == 1
    assert len(graph.downstream("n0")) == n
