"""Deciding, per object, whether an apply creates, updates or leaves it alone.

Both sides are compared in their canonical form (the spec model dumped to JSON values), so
an apply of an unchanged file is recognised as such and writes nothing: no updates, no
audit entries, no events. Pure: no database, no clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Action(StrEnum):
    CREATE = "created"
    UPDATE = "updated"
    UNCHANGED = "unchanged"


@dataclass(frozen=True)
class Change:
    kind: str
    slug: str
    action: Action
    fields: tuple[str, ...] = ()
    """top-level spec fields that differ (updates only)"""


_ABSENT = object()


def changed_fields(before: Mapping[str, Any], after: Mapping[str, Any]) -> tuple[str, ...]:
    keys = dict.fromkeys([*after, *before])
    return tuple(k for k in keys if before.get(k, _ABSENT) != after.get(k, _ABSENT))


def decide(
    kind: str, slug: str, desired: Mapping[str, Any], current: Mapping[str, Any] | None
) -> Change:
    if current is None:
        return Change(kind, slug, Action.CREATE)
    fields = changed_fields(current, desired)
    if not fields:
        return Change(kind, slug, Action.UNCHANGED)
    return Change(kind, slug, Action.UPDATE, fields)


@dataclass
class Summary:
    """What an apply did (or would do, for a dry run), per kind in apply order."""

    changes: list[Change] = field(default_factory=list)
    dry_run: bool = False
    notes: list[str] = field(default_factory=list)

    def counts(self, kinds: Iterable[str]) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for kind in kinds:
            mine = [c for c in self.changes if c.kind == kind]
            if mine:
                out[kind] = {a.value: sum(1 for c in mine if c.action is a) for a in Action}
        return out

    @property
    def changed(self) -> bool:
        return any(c.action is not Action.UNCHANGED for c in self.changes)

    def lines(self, kinds: Iterable[str]) -> list[str]:
        """A human summary: one line per kind, then one per object that changed."""
        order = list(kinds)
        out = []
        for kind, counts in self.counts(order).items():
            parts = ", ".join(f"{n} {action}" for action, n in counts.items())
            out.append(f"{kind}: {parts}")
        verb = {Action.CREATE: "create", Action.UPDATE: "update"}
        for change in sorted(
            self.changes, key=lambda c: (order.index(c.kind) if c.kind in order else 99, c.slug)
        ):
            if change.action is Action.UNCHANGED:
                continue
            detail = f" ({', '.join(change.fields)})" if change.fields else ""
            prefix = "would " + verb[change.action] if self.dry_run else change.action.value
            out.append(f"  {prefix} {change.kind} {change.slug}{detail}")
        if not self.changes:
            out.append("no documents")
        if self.dry_run:
            out.append("dry run: nothing was changed")
        return out

    def as_dict(self, kinds: Iterable[str]) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "summary": self.counts(kinds),
            "changes": [
                {"kind": c.kind, "slug": c.slug, "action": c.action.value, "fields": list(c.fields)}
                for c in self.changes
                if c.action is not Action.UNCHANGED
            ],
            "notes": self.notes,
        }
