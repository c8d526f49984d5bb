"""Atlassian Document Format, the rich-text JSON Jira Cloud's REST API v3 takes for an
issue's description and its comments. Pure, so it is property-tested.

Only what tickets need: paragraphs of plain text, and a link. ADF refuses empty text nodes,
so blank lines become empty paragraphs and empty strings are left out.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def text(value: str, href: str | None = None) -> dict[str, Any]:
    node: dict[str, Any] = {"type": "text", "text": value}
    if href is not None:
        node["marks"] = [{"type": "link", "attrs": {"href": href}}]
    return node


def paragraph(*parts: dict[str, Any]) -> dict[str, Any]:
    content = [part for part in parts if part.get("text")]
    return {"type": "paragraph", "content": content} if content else {"type": "paragraph"}


def document(paragraphs: Iterable[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "doc", "version": 1, "content": list(paragraphs)}


def plain(body: str, link: tuple[str, str] | None = None) -> dict[str, Any]:
    """Each line of `body` a paragraph, then the link (label, address) in one of its own."""
    paragraphs = [paragraph(text(line)) for line in body.splitlines()]
    if link is not None:
        paragraphs.append(paragraph(text(link[0], link[1])))
    return document(paragraphs)


def plain_text(doc: dict[str, Any]) -> str:
    """The text a reader sees, a line per paragraph (used to check what was sent)."""
    lines = []
    for block in doc.get("content", []):
        lines.append("".join(node.get("text", "") for node in block.get("content", [])))
    return "\n".join(lines)
