"""Backstage `catalog-info.yaml` descriptors, read as Tocsin teams and services.

Many organisations already describe their software in Backstage. Rather than a second
catalog to keep in sync, their descriptor files import directly:

- Group      -> Team (profile.displayName and profile.email become name and e-mail)
- Component  -> Service (spec.owner names the team; spec.dependsOn and spec.dependencyOf
                become dependencies; spec.system becomes a `system:<name>` tag;
                metadata.links become runbook links: what a responder opens)
- API        -> no object of its own: every component that consumes an API depends on every
                component that provides it
- System     -> the `system:<name>` tag on its components

Each converted document keeps the file positions of the Backstage fields it came from, so a
dangling owner or dependency is reported at the line of the Backstage file. Other kinds
(User, Resource, Location, Domain, Template) are skipped with a note.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from typing import Any

from tocsin.manifest.problems import Location, ManifestError, Problem
from tocsin.manifest.source import Path, SourceDocument

API_VERSIONS = frozenset({"backstage.io/v1alpha1", "backstage.io/v1beta1"})
IMPORTED_KINDS = frozenset({"group", "component", "api", "system"})
TOCSIN_API_VERSION = "tocsin/v1"
TAG_PATTERN = re.compile(r"^[a-z0-9][a-z0-9:._/-]{0,63}$")
TAG_RULE = "Tocsin tags are letters, digits and : . _ / -"


def is_backstage(doc: SourceDocument) -> bool:
    return isinstance(doc.data, dict) and str(doc.data.get("apiVersion", "")).startswith(
        "backstage.io/"
    )


@dataclass(frozen=True)
class EntityRef:
    kind: str
    namespace: str
    name: str

    @property
    def slug(self) -> str:
        return slug_for(self.namespace, self.name)


def parse_ref(text: str, default_kind: str) -> EntityRef:
    """`[<kind>:][<namespace>/]<name>`; kinds compare case-insensitively, as in Backstage."""
    kind, sep, rest = text.partition(":")
    if not sep:
        kind, rest = default_kind, text
    namespace, sep, name = rest.partition("/")
    if not sep:
        namespace, name = "default", rest
    return EntityRef(kind.strip().lower(), namespace.strip() or "default", name.strip())


def slug_for(namespace: str, name: str) -> str:
    """Backstage names allow `.` and `_` and upper case; Tocsin slugs are lower-case with `-`.
    Entities outside the default namespace keep it as a prefix so they cannot collide."""
    base = name if namespace.lower() == "default" else f"{namespace}-{name}"
    return re.sub(r"[^a-z0-9]+", "-", base.lower()).strip("-")


@dataclass
class Conversion:
    documents: list[SourceDocument] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class _Builder:
    """One Tocsin document under construction, carrying positions from the Backstage file."""

    source: SourceDocument
    doc: SourceDocument

    def put(self, target: Path, value: Any, origin: Path) -> None:
        node = self.doc.data
        for part, after in itertools.pairwise(target):
            if isinstance(part, str):
                node = node.setdefault(part, [] if isinstance(after, int) else {})
            else:
                node = node[part]
        if isinstance(target[-1], str):
            node[target[-1]] = value
        else:
            node.append(value)
        location = self.source.at(origin)
        self.doc.keys.setdefault(target, location)
        self.doc.values.setdefault(target, location)


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _strings(doc: SourceDocument, path: Path, problems: list[Problem]) -> list[tuple[str, Path]]:
    """A list of strings with the path of each, or a problem when it is not one."""
    node: Any = doc.data
    for part in path:
        node = node.get(part) if isinstance(node, dict) else None
    if node is None:
        return []
    if not isinstance(node, list) or not all(isinstance(v, str) for v in node):
        problems.append(Problem(doc.at(path), _field(doc, path), "must be a list of strings"))
        return []
    return [(v, (*path, i)) for i, v in enumerate(node)]


def _field(doc: SourceDocument, path: Path) -> str:
    kind = str(doc.data.get("kind", "entity")) if isinstance(doc.data, dict) else "entity"
    meta = doc.data.get("metadata") if isinstance(doc.data, dict) else None
    name = meta.get("name") if isinstance(meta, dict) else None
    out = f"{kind}[{name}]" if name else kind
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _new(source: SourceDocument, kind: str, slug: str) -> _Builder:
    doc = SourceDocument(
        file=source.file,
        index=source.index,
        data={"apiVersion": TOCSIN_API_VERSION, "kind": kind, "metadata": {}, "spec": {}},
    )
    start = source.start
    for path in [("apiVersion",), ("kind",), ("metadata",), ("spec",)]:
        doc.keys[path] = source.keys.get(path, start)
    builder = _Builder(source, doc)
    builder.put(("metadata", "slug"), slug, ("metadata", "name"))
    return builder


def convert(sources: list[SourceDocument]) -> Conversion:
    """Backstage documents to Tocsin Team and Service documents (with their positions)."""
    problems: list[Problem] = []
    result = Conversion()
    entities: list[tuple[str, EntityRef, SourceDocument]] = []
    for source in sources:
        data = source.data
        if not isinstance(data, dict):
            problems.append(Problem(source.start, "", "a Backstage document must be a mapping"))
            continue
        kind = str(data.get("kind", "")).lower()
        if str(data.get("apiVersion")) not in API_VERSIONS:
            problems.append(
                Problem(
                    source.at(("apiVersion",)),
                    _field(source, ("apiVersion",)),
                    f"must be one of {', '.join(sorted(API_VERSIONS))}",
                )
            )
            continue
        metadata = data.get("metadata")
        name = metadata.get("name") if isinstance(metadata, dict) else None
        if not isinstance(name, str) or not name.strip():
            problems.append(
                Problem(source.at(("metadata",)), _field(source, ("metadata", "name")), "required")
            )
            continue
        namespace = metadata.get("namespace") if isinstance(metadata, dict) else None
        ref = EntityRef(kind, str(namespace or "default"), name.strip())
        if not ref.slug:
            problems.append(
                Problem(
                    source.at(("metadata", "name")),
                    _field(source, ("metadata", "name")),
                    "must contain a letter or digit",
                )
            )
            continue
        if kind not in IMPORTED_KINDS:
            result.notes.append(
                f"{source.start}: skipped {data.get('kind')} {name} (only Group, Component, "
                "API and System are imported)"
            )
            continue
        entities.append((kind, ref, source))

    spec_of = {
        id(s): (s.data.get("spec") if isinstance(s.data.get("spec"), dict) else {})
        for _, _, s in entities
    }
    providers: dict[str, list[str]] = {}
    api_names = {ref.slug for kind, ref, _ in entities if kind == "api"}
    for kind, ref, source in entities:
        if kind != "component":
            continue
        for text, _path in _strings(source, ("spec", "providesApis"), problems):
            providers.setdefault(parse_ref(text, "api").slug, []).append(ref.slug)

    for kind, ref, source in entities:
        spec = spec_of[id(source)]
        metadata = source.data["metadata"]
        if kind == "group":
            team = _new(source, "Team", ref.slug)
            profile = spec.get("profile") if isinstance(spec.get("profile"), dict) else {}
            display = _text(profile.get("displayName")) or _text(metadata.get("title"))
            if display:
                origin: Path = (
                    ("spec", "profile", "displayName")
                    if _text(profile.get("displayName"))
                    else ("metadata", "title")
                )
                team.put(("spec", "name"), display, origin)
            else:
                team.put(("spec", "name"), ref.name, ("metadata", "name"))
            if description := _text(metadata.get("description")):
                team.put(("spec", "description"), description, ("metadata", "description"))
            if email := _text(profile.get("email")):
                team.put(("spec", "email"), email, ("spec", "profile", "email"))
            result.documents.append(team.doc)
        elif kind == "component":
            result.documents.append(
                _service(ref, source, spec, providers, api_names, problems, result.notes)
            )
    if problems:
        raise ManifestError(problems)
    _add_reverse_dependencies(result.documents, entities, problems)
    if problems:
        raise ManifestError(problems)
    return result


def _service(
    ref: EntityRef,
    source: SourceDocument,
    spec: dict[str, Any],
    providers: dict[str, list[str]],
    api_names: set[str],
    problems: list[Problem],
    notes: list[str],
) -> SourceDocument:
    metadata = source.data["metadata"]
    service = _new(source, "Service", ref.slug)
    title = _text(metadata.get("title"))
    service.put(
        ("spec", "name"),
        title or ref.name,
        ("metadata", "title") if title else ("metadata", "name"),
    )
    if description := _text(metadata.get("description")):
        service.put(("spec", "description"), description, ("metadata", "description"))
    owner = spec.get("owner")
    if isinstance(owner, str) and owner.strip():
        owner_ref = parse_ref(owner, "group")
        if owner_ref.kind != "group":
            problems.append(
                Problem(
                    source.at(("spec", "owner")),
                    _field(source, ("spec", "owner")),
                    f"{owner} is a {owner_ref.kind}; a service is owned by a team, so the owner "
                    "must be a Group",
                )
            )
        service.put(("spec", "owner_team"), owner_ref.slug, ("spec", "owner"))
    tags = {}
    for tag, path in _strings(source, ("metadata", "tags"), problems):
        if TAG_PATTERN.match(tag.lower()):
            tags[tag.lower()] = path
        else:
            notes.append(f"{source.at(path)}: skipped tag {tag!r} of {ref.name}: {TAG_RULE}")
    system = spec.get("system")
    if isinstance(system, str) and system.strip():
        tags.setdefault(f"system:{parse_ref(system, 'system').slug}", ("spec", "system"))
    for i, (tag, origin) in enumerate(tags.items()):
        service.put(("spec", "tags", i), tag, origin)
    dependencies: list[tuple[str, Path]] = []
    for text, path in _strings(source, ("spec", "dependsOn"), problems):
        target = parse_ref(text, "component")
        if target.kind == "component":
            dependencies.append((target.slug, path))
        else:
            notes.append(
                f"{source.at(path)}: {ref.name} depends on {text}; only components become "
                "service dependencies"
            )
    for text, path in _strings(source, ("spec", "consumesApis"), problems):
        api = parse_ref(text, "api").slug
        found = providers.get(api, [])
        if not found:
            known = "is not defined here" if api not in api_names else "has no provider here"
            notes.append(f"{source.at(path)}: {ref.name} consumes API {text}, which {known}")
        dependencies.extend((provider, path) for provider in found if provider != ref.slug)
    # The descriptor is the source of truth for the component: no dependsOn means none.
    service.put(("spec", "dependencies"), [], ("spec",))
    seen: set[str] = set()
    for slug, path in dependencies:
        if slug in seen:
            continue
        seen.add(slug)
        service.put(("spec", "dependencies", len(seen) - 1), slug, path)
    links = metadata.get("links")
    if isinstance(links, list):
        for i, link in enumerate(links):
            url = _text(link.get("url")) if isinstance(link, dict) else None
            if url is None or not url.lower().startswith(("http://", "https://")):
                continue
            entry = {"title": _text(link.get("title")) or url, "url": url}
            index = len(service.doc.data["spec"].get("runbooks", []))
            service.put(("spec", "runbooks", index), entry, ("metadata", "links", i))
    return service.doc


def _add_reverse_dependencies(
    documents: list[SourceDocument],
    entities: list[tuple[str, EntityRef, SourceDocument]],
    problems: list[Problem],
) -> None:
    """`dependencyOf: [x]` on A means x depends on A: add it to x when x is imported too."""
    services = {d.data["metadata"]["slug"]: d for d in documents if d.data.get("kind") == "Service"}
    for kind, ref, source in entities:
        if kind != "component":
            continue
        for text, path in _strings(source, ("spec", "dependencyOf"), problems):
            target = parse_ref(text, "component")
            dependent = services.get(target.slug)
            if target.kind != "component" or dependent is None:
                continue
            deps = dependent.data["spec"].setdefault("dependencies", [])
            if ref.slug not in deps:
                index = len(deps)
                deps.append(ref.slug)
                location: Location = source.at(path)
                dependent.keys[("spec", "dependencies", index)] = location
                dependent.values[("spec", "dependencies", index)] = location
