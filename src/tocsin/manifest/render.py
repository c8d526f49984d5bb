"""Writing documents as YAML that reads like a hand-written file.

Keys stay in the order the spec models declare them, defaults are left out (they come
back on apply), and multi-line text is written as a `|` block.
"""

from __future__ import annotations

import io
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.scalarstring import LiteralScalarString

from tocsin.manifest.documents import API_VERSION


def _styled(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _styled(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_styled(v) for v in value]
    if isinstance(value, str) and "\n" in value:
        return LiteralScalarString(value)
    return value


def document(kind: str, slug: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": API_VERSION, "kind": kind, "metadata": {"slug": slug}, "spec": spec}


def dump(documents: list[dict[str, Any]], header: str = "") -> str:
    yaml = YAML(typ="rt")
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=4, offset=2)
    out = io.StringIO()
    if header:
        out.write("".join(f"# {line}\n" if line else "#\n" for line in header.splitlines()))
    if not documents:
        return out.getvalue()
    yaml.explicit_start = True
    yaml.dump_all([_styled(d) for d in documents], out)
    return out.getvalue()
