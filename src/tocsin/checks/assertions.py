"""Judging one HTTP response and pulling values out of it: pure, no network or clock.

An assertion failure is reported as a sentence a responder can act on ("status was 500,
expected 200"), because the failing assertion is what the result page shows first.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import jmespath
from jmespath.exceptions import JMESPathError


@dataclass(frozen=True)
class Observed:
    """What a step saw: enough to judge every assertion kind without the HTTP library."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    """lower-cased names"""
    body: str = ""
    elapsed_ms: float = 0.0

    def json(self) -> Any:
        return json.loads(self.body)


def _json_value(observed: Observed, path: str) -> tuple[bool, Any]:
    try:
        document = observed.json()
    except ValueError:
        return False, None
    try:
        value = jmespath.search(path, document)
    except JMESPathError:
        return False, None
    return value is not None, value


def check(assertion: dict[str, Any], observed: Observed) -> str | None:
    """None when the assertion holds, else why it does not."""
    kind = assertion["type"]
    if kind == "status":
        expected = int(assertion["equals"])
        if observed.status != expected:
            return f"status was {observed.status}, expected {expected}"
        return None
    if kind == "latency":
        limit = float(assertion["max_ms"])
        if observed.elapsed_ms > limit:
            return f"took {observed.elapsed_ms:.0f} ms, more than {limit:.0f} ms"
        return None
    if kind == "header":
        name = str(assertion["name"]).lower()
        value = observed.headers.get(name)
        if value is None:
            return f"header {name} is missing"
        if assertion.get("equals") is not None and value != str(assertion["equals"]):
            return f"header {name} was {value!r}, expected {assertion['equals']!r}"
        if assertion.get("contains") is not None and str(assertion["contains"]) not in value:
            return f"header {name} does not contain {assertion['contains']!r}"
        return None
    if kind == "body":
        needle = str(assertion["contains"])
        if needle not in observed.body:
            return f"body does not contain {needle!r}"
        return None
    if kind == "regex":
        pattern = str(assertion["pattern"])
        if re.search(pattern, observed.body) is None:
            return f"body does not match /{pattern}/"
        return None
    if kind == "json":
        path = str(assertion["path"])
        found, value = _json_value(observed, path)
        if not found:
            return f"JSON path {path} not found"
        wanted = assertion.get("equals")
        if wanted is not None and value != wanted:
            return f"JSON path {path} was {value!r}, expected {wanted!r}"
        return None
    raise ValueError(f"unknown assertion type {kind!r}")


def extract(extraction: dict[str, Any], observed: Observed) -> str | None:
    """The value an extraction names, as text for later templates; None when absent."""
    source = extraction["from"]
    if source == "json":
        found, value = _json_value(observed, str(extraction["path"]))
        if not found:
            return None
        return value if isinstance(value, str) else json.dumps(value)
    if source == "header":
        return observed.headers.get(str(extraction["name"]).lower())
    if source == "regex":
        match = re.search(str(extraction["pattern"]), observed.body)
        if match is None:
            return None
        return match.group(1) if match.groups() else match.group(0)
    raise ValueError(f"unknown extraction source {source!r}")
