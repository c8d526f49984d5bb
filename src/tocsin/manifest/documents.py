"""The document format: `apiVersion: tocsin/v1`, `kind`, `metadata.slug`, `spec`.

Each kind's spec is a pydantic model (see kinds.py); this module checks the envelope and
turns pydantic's errors into problems that point at the file position of the offending key
and speak the file's own language (`services[checkout].spec.tier: must be one of …`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from tocsin.manifest.handler import KindHandler
from tocsin.manifest.problems import Problem
from tocsin.manifest.source import Path, SourceDocument

API_VERSION = "tocsin/v1"
SLUG_PATTERN = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
SLUG_RULE = "lower-case letters and digits, words joined by single hyphens (e.g. payments-api)"
ENVELOPE_FIELDS = ("apiVersion", "kind", "metadata", "spec")


@dataclass(frozen=True)
class Document:
    """One validated object of a file: its kind, its slug and its spec."""

    kind: str
    slug: str
    spec: BaseModel
    source: SourceDocument

    def at(self, path: Path) -> Any:
        return self.source.at(path)


def object_label(plural: str, slug: str | None) -> str:
    return f"{plural}[{slug}]" if slug else plural


def field_name(label: str, path: Path) -> str:
    out = label
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def explain(error: ErrorDetails | Mapping[str, Any]) -> str:
    """pydantic's messages, said the way a person editing YAML needs to hear them."""
    kind = error.get("type", "")
    ctx = error.get("ctx") or {}
    if kind == "missing":
        return "required"
    if kind == "extra_forbidden":
        return "unknown field"
    if kind in {"literal_error", "enum"}:
        expected = str(ctx.get("expected", "")).replace("'", "")
        return f"must be one of {expected.replace(' or ', ', ')}"
    if kind in {"string_type", "str_type"}:
        return "must be a string"
    if kind in {"int_type", "int_parsing", "int_from_float"}:
        return "must be a whole number"
    if kind in {"float_type", "float_parsing", "decimal_type", "decimal_parsing"}:
        return "must be a number"
    if kind == "string_pattern_mismatch" and error.get("loc", ())[-1:] == ("slug",):
        return f"must be {SLUG_RULE}"
    if kind in {"bool_type", "bool_parsing"}:
        return "must be true or false"
    if kind in {"list_type"}:
        return "must be a list"
    if kind in {"dict_type", "model_type", "model_attributes_type"}:
        return "must be a mapping"
    if kind == "value_error":
        return str(ctx.get("error", error.get("msg", "invalid")))
    message = str(error.get("msg", "invalid"))
    return message[0].lower() + message[1:] if message else "invalid"


def _problems_from(
    exc: ValidationError, source: SourceDocument, label: str, prefix: Path
) -> list[Problem]:
    problems = []
    for error in exc.errors():
        loc = tuple(p for p in error["loc"] if isinstance(p, str | int))
        path: Path = ("metadata", "slug") if loc == ("slug",) else (*prefix, *loc)
        problems.append(Problem(source.at(path), field_name(label, path), explain(error)))
    return problems


def validate_document(
    source: SourceDocument, handlers: Mapping[str, KindHandler]
) -> tuple[Document | None, list[Problem]]:
    """Check one document against its kind's spec model.

    When the spec model has a `slug` field (the domain's create shape), `metadata.slug` is
    validated as that field. Returns the document or the problems; never raises for bad input.
    """
    data = source.data
    if not isinstance(data, dict):
        return None, [Problem(source.start, "", "a document must be a mapping")]
    kind = data.get("kind")
    metadata = data.get("metadata")
    slug = metadata.get("slug") if isinstance(metadata, dict) else None
    handler = handlers.get(kind) if isinstance(kind, str) else None
    plural = handler.plural if handler else None
    model = handler.spec_model if handler else None
    label = object_label(
        plural or (str(kind) if kind else "document"), slug if isinstance(slug, str) else None
    )
    problems: list[Problem] = []

    if data.get("apiVersion") != API_VERSION:
        problems.append(
            Problem(
                source.at(("apiVersion",)),
                field_name(label, ("apiVersion",)),
                f"must be {API_VERSION}" if "apiVersion" in data else "required",
            )
        )
    for key in data:
        if key not in ENVELOPE_FIELDS:
            problems.append(Problem(source.at((key,)), field_name(label, (key,)), "unknown field"))
    if handler is None or model is None or plural is None:
        known = ", ".join(sorted(handlers))
        message = "required" if kind is None else f"unknown kind {kind!r}; known kinds: {known}"
        problems.append(Problem(source.at(("kind",)), field_name(label, ("kind",)), message))
        return None, problems
    if not isinstance(metadata, dict):
        problems.append(
            Problem(
                source.at(("metadata",)),
                field_name(label, ("metadata",)),
                "required" if metadata is None else "must be a mapping with a slug",
            )
        )
    else:
        for key in metadata:
            if key != "slug":
                problems.append(
                    Problem(
                        source.at(("metadata", key)),
                        field_name(label, ("metadata", key)),
                        "unknown field (metadata holds only the slug; the rest goes in spec)",
                    )
                )
        if slug is None:
            problems.append(
                Problem(
                    source.at(("metadata",)), field_name(label, ("metadata", "slug")), "required"
                )
            )
        elif not isinstance(slug, str) or (
            "slug" not in model.model_fields and (len(slug) > 100 or not SLUG_PATTERN.match(slug))
        ):
            problems.append(
                Problem(
                    source.at(("metadata", "slug")),
                    field_name(label, ("metadata", "slug")),
                    f"must be 1-100 characters: {SLUG_RULE}",
                )
            )
    spec_data = data.get("spec", {})
    if spec_data is None:
        spec_data = {}
    spec: BaseModel | None = None
    if not isinstance(spec_data, dict):
        problems.append(
            Problem(source.at(("spec",)), field_name(label, ("spec",)), "must be a mapping")
        )
    elif "slug" in spec_data and "slug" in model.model_fields:
        problems.append(
            Problem(
                source.at(("spec", "slug")),
                field_name(label, ("spec", "slug")),
                "the slug belongs in metadata.slug",
            )
        )
    else:
        spec_input = handler.prepare(dict(spec_data))
        if "slug" in model.model_fields:
            # Without a usable slug the spec is still checked, so one pass reports everything.
            spec_input["slug"] = slug if isinstance(slug, str) else "placeholder"
        try:
            spec = model.model_validate(spec_input)
        except ValidationError as exc:
            found = _problems_from(exc, source, label, ("spec",))
            if not isinstance(slug, str):
                found = [p for p in found if not p.field.endswith("metadata.slug")]
            problems.extend(found)
    if problems or spec is None or not isinstance(slug, str):
        return None, problems
    return Document(str(kind), slug, spec, source), []
