"""The service dependency graph: closures, blast radius and cycles, on plain values.

An edge `a -> b` reads "a depends on b". Seen from one service, *upstream* is everything it
depends on (transitively) and *downstream* is everything that depends on it: when a service
fails, the damage flows downstream. A hard dependency means "cannot work without it", a soft one
"works degraded without it", so a failure reaches a dependent *hard* only along a path of hard
edges; any soft edge on the way turns the impact into degradation.

Real systems do have cycles (two services calling each other), so the graph tolerates them and
every traversal terminates; `cycles()` reports them so the catalog can warn about each one.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum


class DependencyKind(StrEnum):
    HARD = "hard"
    """the dependent cannot serve without it"""
    SOFT = "soft"
    """the dependent degrades without it"""


@dataclass(frozen=True)
class Edge:
    source: str
    """the dependent service"""
    target: str
    """the service it depends on"""
    kind: DependencyKind = DependencyKind.HARD


@dataclass(frozen=True)
class Reach:
    """How one service is reached from another: the shortest hop count, and whether some path
    consists of hard edges only (then the impact is `hard`)."""

    node: str
    distance: int
    impact: DependencyKind


class DependencyGraph:
    def __init__(self, edges: Iterable[Edge], nodes: Iterable[str] = ()) -> None:
        self._out: dict[str, dict[str, DependencyKind]] = {}
        self._in: dict[str, dict[str, DependencyKind]] = {}
        for node in nodes:
            self._add_node(node)
        for edge in edges:
            self._add_node(edge.source)
            self._add_node(edge.target)
            self._out[edge.source][edge.target] = edge.kind
            self._in[edge.target][edge.source] = edge.kind

    def _add_node(self, node: str) -> None:
        self._out.setdefault(node, {})
        self._in.setdefault(node, {})

    @property
    def nodes(self) -> frozenset[str]:
        return frozenset(self._out)

    @property
    def edges(self) -> list[Edge]:
        return [
            Edge(source, target, kind)
            for source, targets in sorted(self._out.items())
            for target, kind in sorted(targets.items())
        ]

    def depends_on(self, node: str) -> dict[str, DependencyKind]:
        return dict(self._out.get(node, {}))

    def dependents(self, node: str) -> dict[str, DependencyKind]:
        return dict(self._in.get(node, {}))

    def upstream(self, node: str, max_depth: int | None = None) -> dict[str, Reach]:
        """Everything `node` depends on, directly or not."""
        return _reach(self._out, node, max_depth)

    def downstream(self, node: str, max_depth: int | None = None) -> dict[str, Reach]:
        """Everything that depends on `node`: what its failure can affect (its blast radius)."""
        return _reach(self._in, node, max_depth)

    def blast_radius(self, node: str) -> BlastRadius:
        reached = self.downstream(node)
        hard = sorted(n for n, r in reached.items() if r.impact is DependencyKind.HARD)
        soft = sorted(n for n, r in reached.items() if r.impact is DependencyKind.SOFT)
        return BlastRadius(node, tuple(hard), tuple(soft))

    def path(self, start: str, goal: str) -> list[str] | None:
        """A shortest dependency path start -> ... -> goal, or None."""
        if start not in self._out or goal not in self._out:
            return None
        previous: dict[str, str | None] = {start: None}
        queue = deque([start])
        while queue:
            current = queue.popleft()
            for nxt in sorted(self._out[current]):
                if nxt == goal:
                    trail = [goal, current]
                    step = previous[current]
                    while step is not None:
                        trail.append(step)
                        step = previous[step]
                    return trail[::-1]
                if nxt not in previous:
                    previous[nxt] = current
                    queue.append(nxt)
        return None

    def cycle_closed_by(self, source: str, target: str) -> list[str] | None:
        """The cycle that an edge source -> target closes, as a path that starts and ends at
        `source`, or None when adding that edge keeps the graph free of new cycles."""
        if source == target:
            return [source, source]
        back = self.path(target, source)
        return None if back is None else [source, *back]

    def cycles(self) -> list[list[str]]:
        """Each group of services that depend on each other in a circle (a strongly connected
        component with more than one member, or a service depending on itself), sorted."""
        groups = [sorted(c) for c in _strongly_connected(self._out) if _is_cycle(self._out, c)]
        return sorted(groups)


@dataclass(frozen=True)
class BlastRadius:
    service: str
    hard: tuple[str, ...]
    """dependents that fail with it"""
    soft: tuple[str, ...]
    """dependents that degrade"""

    @property
    def all(self) -> tuple[str, ...]:
        return tuple(sorted((*self.hard, *self.soft)))


def _reach(
    adjacency: dict[str, dict[str, DependencyKind]], start: str, max_depth: int | None
) -> dict[str, Reach]:
    """Breadth-first for the distance; a second pass over hard edges only decides impact.

    The start itself is never part of its own closure, even on a cycle: cycles are reported
    separately, and "payments depends on payments" would only confuse a reader."""
    distances: dict[str, int] = {}
    queue: deque[tuple[str, int]] = deque([(start, 0)])
    seen = {start}
    while queue:
        current, depth = queue.popleft()
        if max_depth is not None and depth >= max_depth:
            continue
        for nxt in adjacency.get(current, {}):
            if nxt not in seen:
                seen.add(nxt)
                distances[nxt] = depth + 1
                queue.append((nxt, depth + 1))
    hard = _hard_reach(adjacency, start)
    return {
        node: Reach(node, dist, DependencyKind.HARD if node in hard else DependencyKind.SOFT)
        for node, dist in distances.items()
    }


def _hard_reach(adjacency: dict[str, dict[str, DependencyKind]], start: str) -> set[str]:
    reached: set[str] = set()
    stack = [start]
    while stack:
        current = stack.pop()
        for nxt, kind in adjacency.get(current, {}).items():
            if kind is DependencyKind.HARD and nxt not in reached:
                reached.add(nxt)
                stack.append(nxt)
    return reached


def _is_cycle(adjacency: dict[str, dict[str, DependencyKind]], component: list[str]) -> bool:
    return len(component) > 1 or component[0] in adjacency.get(component[0], {})


def _strongly_connected(adjacency: dict[str, dict[str, DependencyKind]]) -> Iterator[list[str]]:
    """Tarjan's algorithm, iterative so that long chains cannot exhaust the call stack."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    counter = 0
    for root in sorted(adjacency):
        if root in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(root, iter(sorted(adjacency[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(adjacency.get(child, {})))))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                yield component
