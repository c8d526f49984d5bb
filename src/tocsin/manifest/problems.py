"""Errors that point at the line of a file a person has to fix.

A configuration file is edited by hand and reviewed in pull requests, so every complaint
names the file, line and column and the field in the same words the file uses, e.g.
`catalog.yaml:14:5: services[checkout].spec.tier: must be one of …`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, order=True)
class Location:
    file: str
    line: int
    """1-based, as editors show it"""
    column: int
    """1-based"""

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True)
class Problem:
    location: Location | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.location}: " if self.location else ""
        what = f"{self.field}: " if self.field else ""
        return f"{where}{what}{self.message}"

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"field": self.field, "message": self.message}
        if self.location is not None:
            out.update(
                file=self.location.file, line=self.location.line, column=self.location.column
            )
        return out


def _sort_key(problem: Problem) -> tuple[str, int, int, str]:
    loc = problem.location
    return (loc.file, loc.line, loc.column, problem.field) if loc else ("", 0, 0, problem.field)


class ManifestError(Exception):
    """One or more problems with the files; nothing was changed."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = sorted(set(problems), key=_sort_key)
        super().__init__("\n".join(str(p) for p in self.problems))

    @classmethod
    def single(cls, location: Location | None, field: str, message: str) -> ManifestError:
        return cls([Problem(location, field, message)])
