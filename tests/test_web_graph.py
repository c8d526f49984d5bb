"""The dependency graph view: its data endpoint and the layered drawing."""

from __future__ import annotations

import pytest
from httpx import AsyncClient
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncSession

from tests.browser.sample import Sample, build
from tests.factories import PASSWORD, browser_login
from tocsin.web import graph_layout


@pytest.fixture
async def org(session: AsyncSession) -> Sample:
    return await build(session)


async def test_the_whole_catalog_graph_has_every_service_and_edge(
    client: AsyncClient, org: Sample
) -> None:
    await browser_login(client, org.viewer.email, PASSWORD)
    data = (await client.get("/services/graph.json")).json()
    nodes = {n["data"]["id"]: n for n in data["nodes"]}
    assert set(nodes) == {"web", "checkout", "payments", "ledger", "recommendations"}
    edges = {(e["data"]["source"], e["data"]["target"], e["data"]["kind"]) for e in data["edges"]}
    assert ("checkout", "recommendations", "soft") in edges
    assert ("web", "checkout", "hard") in edges
    assert nodes["web"]["data"]["root"] is True
    assert nodes["web"]["data"]["href"] == "/services/web"
    # drawn top-down: a service sits above what it depends on
    assert nodes["web"]["position"]["y"] < nodes["checkout"]["position"]["y"]


async def test_a_centred_graph_holds_the_service_and_its_neighbourhood(
    client: AsyncClient, org: Sample
) -> None:
    await browser_login(client, org.viewer.email, PASSWORD)
    data = (await client.get("/services/graph.json?service=payments")).json()
    sides = {n["data"]["id"]: n["data"].get("side") for n in data["nodes"]}
    assert sides == {
        "payments": "focus",
        "ledger": "upstream",
        "checkout": "downstream",
        "web": "downstream",
    }
    focus = [n["data"]["id"] for n in data["nodes"] if n["data"]["focus"]]
    assert focus == ["payments"]
    one_hop = (await client.get("/services/graph.json?service=payments&depth=1")).json()
    assert {n["data"]["id"] for n in one_hop["nodes"]} == {"payments", "ledger", "checkout"}
    assert (await client.get("/services/graph.json?service=nope")).status_code == 404
    assert (await client.get("/services/graph.json?depth=0")).status_code == 422


# --- layout ----------------------------------------------------------------------------------

names = st.sampled_from([f"s{i}" for i in range(12)])
graphs = st.tuples(
    st.lists(names, max_size=12, unique=True),
    st.lists(st.tuples(names, names), max_size=30),
)


@given(graphs)
def test_every_service_gets_its_own_place(graph: tuple[list[str], list[tuple[str, str]]]) -> None:
    nodes, edges = graph
    placed = graph_layout.positions(nodes, edges)
    assert set(placed) == set(nodes) | {n for e in edges for n in e}
    assert len(set(placed.values())) == len(placed)


@given(graphs)
def test_dependencies_point_down_except_the_edges_that_close_a_cycle(
    graph: tuple[list[str], list[tuple[str, str]]],
) -> None:
    nodes, edges = graph
    placed = graph_layout.positions(nodes, edges)
    closing = graph_layout.back_edges(nodes, edges)
    for source, target in edges:
        if source != target and (source, target) not in closing:
            assert placed[source][1] < placed[target][1], (source, target)


@given(st.lists(st.tuples(names, names), max_size=30))
def test_removing_the_cycle_closing_edges_leaves_no_cycle(edges: list[tuple[str, str]]) -> None:
    closing = graph_layout.back_edges([], edges)
    rest = [e for e in edges if e not in closing]
    assert graph_layout.back_edges([], rest) == set()


def test_the_layout_is_the_same_every_time() -> None:
    edges = [("web", "checkout"), ("checkout", "payments"), ("web", "search"), ("a", "b")]
    assert graph_layout.positions([], edges) == graph_layout.positions([], list(edges))
