"""Writing the catalog and policies out in the format apply reads.

Export and apply are inverse: applying an export to an empty database and exporting again
gives the same text. Fields at their defaults are left out to keep files short, and a hard
dependency without a note is written in its short form (`- cart`).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from tocsin.manifest import render
from tocsin.manifest.handler import KindHandler
from tocsin.manifest.kinds import HANDLERS

HEADER = (
    "Tocsin configuration, written by `tocsin export`.\n"
    "Edit and apply with `tocsin apply -f FILE`; see docs/configuration-as-code.md."
)

ALWAYS_WRITTEN = ("members", "dependencies")
"""Lists that a file may omit to leave alone: an export states them, even when empty."""


def exportable(handler: KindHandler, spec: BaseModel) -> dict[str, Any]:
    out = spec.model_dump(mode="json", exclude_defaults=True)
    full = spec.model_dump(mode="json")
    out.pop("slug", None)
    for key in ALWAYS_WRITTEN:
        if key in full and full[key] is not None:
            out[key] = full[key]
    if isinstance(out.get("dependencies"), list):
        out["dependencies"] = [
            d["service"] if d.get("kind", "hard") == "hard" and not d.get("note") else d
            for d in out["dependencies"]
        ]
        for dep in out["dependencies"]:
            if isinstance(dep, dict) and dep.get("note") == "":
                dep.pop("note")
    return out


async def export_documents(session: AsyncSession) -> list[dict[str, Any]]:
    documents = []
    for handler in HANDLERS:
        existing = await handler.existing(session)
        for slug, spec in sorted(existing.items(), key=lambda item: handler.order_key(item[1])):
            documents.append(render.document(handler.kind, slug, exportable(handler, spec)))
    return documents


async def export_yaml(session: AsyncSession) -> str:
    return render.dump(await export_documents(session), header=HEADER)
