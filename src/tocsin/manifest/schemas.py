"""The answer of POST /api/v1/config/apply."""

from __future__ import annotations

from tocsin.schemas import Output


class KindCounts(Output):
    created: int
    updated: int
    unchanged: int


class ChangeOut(Output):
    kind: str
    slug: str
    action: str
    """created or updated (unchanged objects are only counted)"""
    fields: list[str]
    """for updates, the top-level spec fields that changed"""


class ApplyOut(Output):
    dry_run: bool
    """true: this is what would have happened; nothing was changed"""
    summary: dict[str, KindCounts]
    """per kind present in the files, in apply order"""
    changes: list[ChangeOut]
    notes: list[str]
    """what a Backstage import skipped, dependency cycles the apply closed"""
