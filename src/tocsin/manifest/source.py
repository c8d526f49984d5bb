"""Reading YAML while remembering where every value came from.

Validation runs on plain dicts and lists, but its complaints have to point back into the
file; so loading yields, next to each document's data, the file position of every key and
value by its path (e.g. `("spec", "dependencies", 2)`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.scalarbool import ScalarBoolean

from tocsin.manifest.problems import Location, ManifestError, Problem

Path = tuple[str | int, ...]

MAX_NODES = 200_000
"""Aliases can make a small file expand into a huge tree ("billion laughs"); stop early."""


@dataclass
class SourceDocument:
    file: str
    index: int
    """0-based position of the document in its file"""
    data: Any
    keys: dict[Path, Location] = field(default_factory=dict)
    values: dict[Path, Location] = field(default_factory=dict)

    @property
    def start(self) -> Location:
        first = min([*self.keys.values(), *self.values.values()], default=None)
        return first or Location(self.file, 1, 1)

    def at(self, path: Path) -> Location:
        """The closest known position for a path: the key if it is a mapping entry, the
        value for a list item, else the nearest enclosing entry that exists in the file."""
        probe = tuple(path)
        while probe:
            if probe in self.keys:
                return self.keys[probe]
            if probe in self.values:
                return self.values[probe]
            probe = probe[:-1]
        return self.start


class _Budget:
    def __init__(self, limit: int) -> None:
        self.left = limit

    def spend(self) -> None:
        self.left -= 1
        if self.left < 0:
            raise _TooLarge


class _TooLarge(Exception):
    pass


class _Unsupported(Exception):
    def __init__(self, path: Path, message: str) -> None:
        self.path = path
        self.message = message


def _plain(node: Any, path: Path, doc: SourceDocument, budget: _Budget) -> Any:
    budget.spend()
    if isinstance(node, CommentedMap):
        out: dict[Any, Any] = {}
        for key, value in node.items():
            if isinstance(key, CommentedMap | CommentedSeq | list | dict):
                raise _Unsupported(path, "complex mapping keys are not supported")
            plain_key = _scalar(key, path)
            child = (*path, plain_key)
            try:
                line, col = node.lc.key(key)
                doc.keys[child] = Location(doc.file, line + 1, col + 1)
                line, col = node.lc.value(key)
                doc.values.setdefault(child, Location(doc.file, line + 1, col + 1))
            except (KeyError, TypeError, AttributeError):
                pass  # a key brought in by a `<<` merge has no position of its own
            out[plain_key] = _plain(value, child, doc, budget)
        return out
    if isinstance(node, CommentedSeq):
        items = []
        for index, value in enumerate(node):
            child = (*path, index)
            try:
                line, col = node.lc.item(index)
                doc.values[child] = Location(doc.file, line + 1, col + 1)
            except (KeyError, TypeError, AttributeError):
                pass
            items.append(_plain(value, child, doc, budget))
        return items
    return _scalar(node, path)


def _scalar(value: Any, path: Path) -> Any:
    """ruamel's round-trip types (ScalarFloat, LiteralScalarString …) become plain ones."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, ScalarBoolean):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    tag = getattr(getattr(value, "tag", None), "value", None)
    raise _Unsupported(path, f"unsupported YAML value{f' with tag {tag}' if tag else ''}")


def _mark(file: str, exc: MarkedYAMLError) -> Location:
    mark = exc.problem_mark or exc.context_mark
    if mark is None:
        return Location(file, 1, 1)
    return Location(file, mark.line + 1, mark.column + 1)


def _describe(exc: MarkedYAMLError) -> str:
    parts = [p for p in (exc.context, exc.problem) if p]
    text = "; ".join(str(p).strip() for p in parts) or "invalid YAML"
    return f"YAML syntax error: {text}"


def load_yaml(text: str, file: str, *, max_nodes: int = MAX_NODES) -> list[SourceDocument]:
    """All documents of one YAML file; empty documents (a trailing `---`) are skipped."""
    yaml = YAML(typ="rt")
    documents: list[SourceDocument] = []
    budget = _Budget(max_nodes)
    try:
        for index, raw in enumerate(yaml.load_all(text)):
            if raw is None:
                continue
            doc = SourceDocument(file=file, index=index, data=None)
            try:
                doc.data = _plain(raw, (), doc, budget)
            except _Unsupported as exc:
                raise ManifestError.single(
                    doc.at(exc.path), _dotted(exc.path), exc.message
                ) from None
            documents.append(doc)
    except _TooLarge:
        raise ManifestError.single(
            Location(file, 1, 1), "", f"the file expands to more than {max_nodes} values"
        ) from None
    except MarkedYAMLError as exc:
        raise ManifestError.single(_mark(file, exc), "", _describe(exc)) from None
    except YAMLError as exc:
        raise ManifestError([Problem(Location(file, 1, 1), "", f"YAML error: {exc}")]) from None
    return documents


def _dotted(path: Path) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def split_list(doc: SourceDocument) -> list[SourceDocument]:
    """A document that is a list (a JSON array of objects) becomes one document per item,
    each keeping the positions of its own values."""
    if not isinstance(doc.data, list):
        return [doc]
    parts = []
    for index, item in enumerate(doc.data):
        part = SourceDocument(file=doc.file, index=doc.index, data=item)
        for source, target in ((doc.keys, part.keys), (doc.values, part.values)):
            for path, location in source.items():
                if path[:1] == (index,):
                    target[path[1:]] = location
        parts.append(part)
    return parts
