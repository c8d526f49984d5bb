"""`{{ name }}` and `{{ secrets.NAME }}` placeholders in step URLs, headers and bodies, and
keeping secret values out of anything stored or shown. Pure.

A deliberately tiny syntax rather than Jinja: step text comes from check authors, and a full
template engine would let a check definition run code inside the worker.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

PLACEHOLDER = re.compile(r"\{\{\s*(secrets\.)?([A-Za-z_][A-Za-z0-9_\-]*)\s*\}\}")
MASK = "••••••"


class MissingValue(KeyError):
    """A placeholder names a variable or secret that has no value."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name

    def __str__(self) -> str:
        return f"{self.name} has no value"


def render(text: str, variables: Mapping[str, str], secrets: Mapping[str, str]) -> str:
    def replace(match: re.Match[str]) -> str:
        is_secret, name = match.group(1) is not None, match.group(2)
        table = secrets if is_secret else variables
        if name not in table:
            raise MissingValue(f"secrets.{name}" if is_secret else name)
        return table[name]

    return PLACEHOLDER.sub(replace, text)


def secret_names(text: str) -> set[str]:
    return {m.group(2) for m in PLACEHOLDER.finditer(text) if m.group(1)}


def redact(text: str, secret_values: Iterable[str]) -> str:
    """Every occurrence of a secret value masked; longest first so overlaps mask fully."""
    for value in sorted((v for v in secret_values if v), key=len, reverse=True):
        text = text.replace(value, MASK)
    return text
