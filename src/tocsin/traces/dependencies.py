"""The dependency map seen in traces, compared with the one the catalog declares. Pure.

An observed edge A → B means a span of service A has a child span in service B: A called B.
The catalog declares "A depends on B" in the same direction, so the two sets compare directly.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ObservedEdge:
    caller: str
    callee: str
    calls: int
    errors: int


@dataclass(frozen=True)
class Edge:
    caller: str
    callee: str
    calls: int
    errors: int
    state: str
    """"declared" (in the catalog and seen), "undeclared" (seen only) or "unused"."""


def compare(
    observed: list[ObservedEdge],
    declared: set[tuple[str, str]],
    traced_services: set[str],
) -> list[Edge]:
    """Every edge with its state. A declared edge is "unused" only when its caller sent spans
    in the window: an untraced service says nothing about what it calls."""
    seen = {(e.caller, e.callee) for e in observed}
    edges = [
        Edge(
            e.caller,
            e.callee,
            e.calls,
            e.errors,
            "declared" if (e.caller, e.callee) in declared else "undeclared",
        )
        for e in observed
    ]
    edges += [
        Edge(caller, callee, 0, 0, "unused")
        for caller, callee in declared
        if (caller, callee) not in seen and caller in traced_services
    ]
    order = {"undeclared": 0, "unused": 1, "declared": 2}
    edges.sort(key=lambda e: (order[e.state], e.caller, e.callee))
    return edges
