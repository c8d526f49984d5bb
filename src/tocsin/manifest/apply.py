"""Applying configuration files: all of it in one transaction, or nothing.

The steps are ordered so that nothing is written until everything has been checked that
can be checked without writing: every document is validated, slugs must be unique across
the files, and every reference (a service's owner team, its dependencies, a customer's
tier) must name an object in the same apply or already in the database. Only then are
the new and changed objects written, through the owning domain's service functions, in one
transaction. A domain that still refuses a change (a rule only it knows) rolls the whole
apply back, and its complaint is reported at the line of the document that caused it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from tocsin import events
from tocsin.audit.service import Actor
from tocsin.errors import ProblemError
from tocsin.manifest import backstage
from tocsin.manifest.documents import Document, field_name, object_label, validate_document
from tocsin.manifest.handler import KindHandler
from tocsin.manifest.kinds import HANDLERS, known_users
from tocsin.manifest.plan import Action, Change, Summary, decide
from tocsin.manifest.problems import ManifestError, Problem
from tocsin.manifest.source import Path, SourceDocument, load_yaml, split_list


@dataclass(frozen=True)
class SourceFile:
    name: str
    """how messages name the file"""
    text: str
    backstage: bool = False
    """read every document as a Backstage descriptor"""


KIND_ORDER = [h.kind for h in HANDLERS]


def parse(files: Sequence[SourceFile]) -> tuple[list[SourceDocument], list[str]]:
    """YAML files to documents. Backstage descriptors (files marked so, or documents whose
    apiVersion is backstage.io/…) are converted to Tocsin documents on the way; the notes
    say what a Backstage import skipped."""
    problems: list[Problem] = []
    native: list[SourceDocument] = []
    foreign: list[SourceDocument] = []
    for file in files:
        try:
            documents = load_yaml(file.text, file.name)
        except ManifestError as exc:
            problems.extend(exc.problems)
            continue
        for doc in (part for whole in documents for part in split_list(whole)):
            (foreign if file.backstage or backstage.is_backstage(doc) else native).append(doc)
    if problems:
        raise ManifestError(problems)
    notes: list[str] = []
    if foreign:
        converted = backstage.convert(foreign)
        native.extend(converted.documents)
        notes.extend(converted.notes)
    return native, notes


def _by_kind() -> dict[str, KindHandler]:
    return {h.kind: h for h in HANDLERS}


def _validate(sources: list[SourceDocument]) -> list[Document]:
    handlers = _by_kind()
    problems: list[Problem] = []
    documents: list[Document] = []
    first_seen: dict[tuple[str, str], Document] = {}
    for source in sources:
        document, found = validate_document(source, handlers)
        problems.extend(found)
        if document is None:
            continue
        key = (document.kind, document.slug)
        if key in first_seen:
            label = object_label(handlers[document.kind].plural, document.slug)
            problems.append(
                Problem(
                    document.at(("metadata", "slug")),
                    field_name(label, ("metadata", "slug")),
                    f"defined twice; first at {first_seen[key].at(('metadata', 'slug'))}",
                )
            )
            continue
        first_seen[key] = document
        documents.append(document)
    if problems:
        raise ManifestError(problems)
    return documents


async def _check_references(
    session: AsyncSession,
    documents: list[Document],
    existing: dict[str, dict[str, BaseModel]],
) -> None:
    handlers = _by_kind()
    declared = {(d.kind, d.slug) for d in documents}
    wanted_users = {
        ref.key
        for d in documents
        for ref in handlers[d.kind].references(d.spec)
        if ref.kind == "User"
    }
    users = await known_users(session, wanted_users)
    problems = []
    for document in documents:
        handler = handlers[document.kind]
        label = object_label(handler.plural, document.slug)
        references = [(("spec", *r.path), r) for r in handler.references(document.spec)]
        if own := handler.own_reference(document.slug):
            references.append((("metadata", "slug"), own))
        for path, ref in references:
            if ref.kind == "User":
                if ref.key.lower() not in users:
                    problems.append(
                        Problem(
                            document.at(path),
                            field_name(label, path),
                            f"no user with e-mail {ref.key}; create the user first",
                        )
                    )
                continue
            if (ref.kind, ref.key) in declared or ref.key in existing.get(ref.kind, {}):
                continue
            noun = _noun(ref.kind)
            problems.append(
                Problem(
                    document.at(path),
                    field_name(label, path),
                    f"{noun} {ref.key} does not exist (neither in these files nor in the database)",
                )
            )
    if problems:
        raise ManifestError(problems)


def _noun(kind: str) -> str:
    out = ""
    for char in kind:
        out += f" {char.lower()}" if char.isupper() and out else char.lower()
    return out


def _problem_from(error: ProblemError, document: Document, plural: str) -> list[Problem]:
    label = object_label(plural, document.slug)
    found = []
    for item in error.errors or [{"field": "", "message": error.detail or error.title}]:
        raw = str(item.get("field") or "")
        parts: list[str | int] = [int(p) if p.isdigit() else p for p in raw.split(".") if p]
        path: Path = ("spec", *parts) if parts not in ([], ["slug"]) else ("metadata", "slug")
        found.append(
            Problem(document.at(path), field_name(label, path), str(item.get("message", "")))
        )
    return found


async def apply_documents(
    session: AsyncSession,
    actor: Actor,
    sources: list[SourceDocument],
    *,
    dry_run: bool = False,
    commit: bool = True,
    notes: Sequence[str] = (),
) -> Summary:
    """Validate, check references, then write everything or nothing.

    With `commit=False` the caller owns the transaction (the demo adds its users to it);
    a dry run always rolls back, after the domains have had their say on every change, and
    so does a failed apply.
    """
    try:
        summary = await _apply(session, actor, sources, dry_run=dry_run, notes=notes)
    except BaseException:
        # Nothing of a failed apply may stay, not even the read transaction (on SQLite it
        # holds the database's write lock).
        await session.rollback()
        raise
    if dry_run:
        await session.rollback()
    elif commit:
        await session.commit()
        if summary.changed:
            # One event for the whole apply: its objects were written without announcing
            # themselves, since they could still have been rolled back.
            await events.publish("config.applied", summary.as_dict(KIND_ORDER))
    return summary


async def _apply(
    session: AsyncSession,
    actor: Actor,
    sources: list[SourceDocument],
    *,
    dry_run: bool,
    notes: Sequence[str],
) -> Summary:
    handlers = _by_kind()
    documents = _validate(sources)
    existing = {h.kind: await h.existing(session) for h in HANDLERS}
    await _check_references(session, documents, existing)

    summary = Summary(dry_run=dry_run, notes=list(notes))
    work: list[tuple[KindHandler, Document, Any | None]] = []
    for handler in HANDLERS:
        for document in sorted(
            (d for d in documents if d.kind == handler.kind),
            key=lambda d, h=handler: h.order_key(d.spec),  # type: ignore[misc]
        ):
            before = existing[handler.kind].get(document.slug)
            desired = handler.canonical(document.spec)
            change: Change = decide(
                handler.kind,
                document.slug,
                handler.comparable(desired, desired),
                None if before is None else handler.comparable(handler.canonical(before), desired),
            )
            summary.changes.append(change)
            if change.action is not Action.UNCHANGED:
                work.append((handler, document, before))
    current: Document | None = None
    try:
        for handler, document, before in work:
            current = document
            await handler.write(session, actor, document.slug, document.spec, before)
        for handler, document, before in work:
            current = document
            found = await handler.link(session, actor, document.slug, document.spec, before)
            summary.notes.extend(f"{handler.kind} {document.slug}: {n}" for n in found)
        await session.flush()
    except ProblemError as exc:
        assert current is not None
        raise ManifestError(_problem_from(exc, current, handlers[current.kind].plural)) from exc
    except IntegrityError as exc:
        assert current is not None
        label = object_label(handlers[current.kind].plural, current.slug)
        raise ManifestError(
            [
                Problem(
                    current.at(("metadata", "slug")),
                    label,
                    f"conflicts with an existing record ({exc.orig})",
                )
            ]
        ) from exc
    return summary


async def apply_files(
    session: AsyncSession,
    actor: Actor,
    files: Sequence[SourceFile],
    *,
    dry_run: bool = False,
    commit: bool = True,
) -> Summary:
    sources, notes = parse(files)
    return await apply_documents(
        session, actor, sources, dry_run=dry_run, commit=commit, notes=notes
    )
