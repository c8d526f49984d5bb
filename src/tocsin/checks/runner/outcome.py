"""What one run of a check found."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any


@dataclass
class StepOutcome:
    name: str
    ok: bool
    elapsed_ms: float
    status: int | None = None
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "ok": self.ok,
            "elapsed_ms": round(self.elapsed_ms, 2),
            "status": self.status,
            "error": self.error,
        }


@dataclass
class Outcome:
    ok: bool
    latency_ms: float | None = None
    error: str | None = None
    """the failing assertion, or what went wrong (refused, timed out, expired)"""
    failed_step: str | None = None
    steps: list[StepOutcome] = field(default_factory=list)
    detail: str = ""
    """a short fact worth showing on success too (resolved addresses, days left)"""

    def redacted(
        self, secrets: Iterable[str], mask: Callable[[str, Iterable[str]], str]
    ) -> Outcome:
        values = list(secrets)
        if not values:
            return self
        steps = [
            replace(s, name=mask(s.name, values), error=mask(s.error, values) if s.error else None)
            for s in self.steps
        ]
        return replace(
            self,
            error=mask(self.error, values) if self.error else None,
            failed_step=mask(self.failed_step, values) if self.failed_step else None,
            detail=mask(self.detail, values),
            steps=steps,
        )
