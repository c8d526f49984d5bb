"""The Atlassian Document Format that Jira tickets are written in: pure, checked with
properties. Jira refuses a document with an empty text node, so none may ever be produced,
and what a person reads must be exactly the text that was meant."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from tocsin.alerts.routing.ticketing import adf

lines = st.lists(st.text(alphabet=st.characters(blacklist_categories=["Cc", "Cs", "Zl", "Zp"])))


def text_nodes(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [node for block in doc["content"] for node in block.get("content", [])]


@given(lines)
def test_every_line_reads_back_and_no_text_node_is_empty(body: list[str]) -> None:
    doc = adf.plain("\n".join(body))
    assert doc["type"] == "doc" and doc["version"] == 1
    assert all(block["type"] == "paragraph" for block in doc["content"])
    assert all(node["text"] for node in text_nodes(doc))
    assert adf.plain_text(doc) == "\n".join("\n".join(body).splitlines())


@given(lines, st.text(min_size=1).filter(str.strip))
def test_the_link_is_the_last_paragraph_and_points_where_it_says(
    body: list[str], label: str
) -> None:
    doc = adf.plain("\n".join(body), (label, "https://tocsin.example/alert-groups#group-7"))
    [link] = doc["content"][-1]["content"]
    assert link["text"] == label
    assert link["marks"] == [
        {"type": "link", "attrs": {"href": "https://tocsin.example/alert-groups#group-7"}}
    ]
