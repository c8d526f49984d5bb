"""Where each service sits in the dependency graph drawing: layers, top to bottom.

A responder reads a dependency graph from the top (what customers touch) down to what it
all stands on, so every edge `a -> b` ("a depends on b") should point downwards. Services are
put in layers by their longest chain of dependents, then ordered inside each layer by the
average position of their neighbours (a few sweeps down and up), which removes most crossings
without a layout engine. Cycles are allowed: the edge that closes one is left out of the
layering, so it is the only kind that may point up.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

Position = tuple[float, float]

COLUMN_SPACING = 150.0
ROW_SPACING = 100.0
SWEEPS = 4


def back_edges(nodes: Iterable[str], edges: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
    """The edges that close a cycle, found by a depth-first walk in name order (so the answer
    is the same every time)."""
    out: dict[str, list[str]] = {n: [] for n in nodes}
    for source, target in edges:
        out.setdefault(source, []).append(target)
        out.setdefault(target, [])
    for targets in out.values():
        targets.sort()
    state: dict[str, int] = {}  # 1 = on the current path, 2 = finished
    found: set[tuple[str, str]] = set()
    for root in sorted(out):
        if root in state:
            continue
        state[root] = 1
        stack = [(root, iter(out[root]))]
        while stack:
            node, children = stack[-1]
            for child in children:
                if state.get(child) == 1:
                    found.add((node, child))
                elif child not in state:
                    state[child] = 1
                    stack.append((child, iter(out[child])))
                    break
            else:
                state[node] = 2
                stack.pop()
    return found


def layers(nodes: Iterable[str], edges: Iterable[tuple[str, str]]) -> dict[str, int]:
    """Layer 0 holds services nothing depends on; a service sits one below its lowest dependent."""
    edge_list = list(dict.fromkeys(edges))
    names = sorted({*nodes, *(n for e in edge_list for n in e)})
    closing = back_edges(names, edge_list)
    forward = [e for e in edge_list if e not in closing and e[0] != e[1]]
    incoming = {n: 0 for n in names}
    out: dict[str, list[str]] = {n: [] for n in names}
    for source, target in forward:
        out[source].append(target)
        incoming[target] += 1
    layer = {n: 0 for n in names}
    ready = [n for n in names if incoming[n] == 0]
    while ready:
        node = ready.pop()
        for target in out[node]:
            layer[target] = max(layer[target], layer[node] + 1)
            incoming[target] -= 1
            if incoming[target] == 0:
                ready.append(target)
    return layer


def _barycentre(node: str, neighbours: dict[str, list[str]], index: dict[str, float]) -> float:
    placed = [index[n] for n in neighbours.get(node, []) if n in index]
    return sum(placed) / len(placed) if placed else index[node]


def positions(nodes: Iterable[str], edges: Iterable[tuple[str, str]]) -> dict[str, Position]:
    """x and y for each service, centred on x = 0, layer 0 at y = 0."""
    edge_list = list(dict.fromkeys(edges))
    layer = layers(nodes, edge_list)
    rows: dict[int, list[str]] = {}
    for name in sorted(layer):
        rows.setdefault(layer[name], []).append(name)
    up: dict[str, list[str]] = {}
    down: dict[str, list[str]] = {}
    for source, target in edge_list:
        down.setdefault(source, []).append(target)
        up.setdefault(target, []).append(source)
    order = sorted(rows)
    for sweep in range(SWEEPS):
        going_down = sweep % 2 == 0
        sequence = order[1:] if going_down else list(reversed(order[:-1]))
        neighbours = up if going_down else down
        for depth in sequence:
            index = {n: i - (len(row) - 1) / 2 for row in rows.values() for i, n in enumerate(row)}
            rows[depth].sort(key=lambda n: (_barycentre(n, neighbours, index), n))
    placed: dict[str, Position] = {}
    for depth, row in rows.items():
        offset = (len(row) - 1) / 2
        for i, name in enumerate(row):
            placed[name] = ((i - offset) * COLUMN_SPACING, depth * ROW_SPACING)
    return placed


def elements(
    nodes: list[dict[str, Any]],
    edges: list[tuple[str, str, str]],
    focus: str | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """Cytoscape.js's element format, placed: each node dict needs `slug` and `name`, each
    edge is (dependent, dependency, kind). Roots are services nothing depends on."""
    targets = {target for _, target, _ in edges}
    placed = positions([n["slug"] for n in nodes], [(s, t) for s, t, _ in edges])
    return {
        "nodes": [
            {
                "position": {"x": placed[node["slug"]][0], "y": placed[node["slug"]][1]},
                "data": {
                    **node,
                    "id": node["slug"],
                    "label": node["name"],
                    "href": f"/services/{node['slug']}",
                    "focus": node["slug"] == focus,
                    "root": node["slug"] not in targets,
                },
            }
            for node in nodes
        ],
        "edges": [
            {"data": {"id": f"{s}->{t}", "source": s, "target": t, "kind": kind}}
            for s, t, kind in edges
        ],
    }
