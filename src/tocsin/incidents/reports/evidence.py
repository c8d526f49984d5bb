"""Proposing when impact really started, from the evidence an incident has gathered.

People declare incidents after customers are already hurt, so the declared time flatters
every KPI. The earliest *credible* sign of trouble is a more honest impact start. Each source
of evidence (alerts, customer reports, and later failed synthetic checks and trace errors from
the probes and tracing domains) turns what it knows into `Evidence` items; this module only
picks among them, so a new source plugs in by producing `Evidence` with its own `source` name.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True)
class Evidence:
    source: str
    """alert, customer-report, synthetic-check, trace-error"""
    at: datetime
    description: str
    credible: bool = True
    """False for evidence shown but not trusted (e.g. an informational alert)"""
    reason: str = ""
    """why it is not credible, when it is not"""
    url: str | None = None


class EvidenceSource(Protocol):
    """What a future domain (probes, tracing) provides to take part in the proposal."""

    source: str

    async def evidence_for(
        self, services: frozenset[str], since: datetime, until: datetime
    ) -> list[Evidence]: ...


@dataclass(frozen=True)
class Proposal:
    at: datetime | None
    chosen: Evidence | None
    evidence: tuple[Evidence, ...]
    """all of it, earliest first, credible or not, so people can judge the choice"""


def propose(items: Iterable[Evidence]) -> Proposal:
    """The earliest credible evidence; ties go to the source named first alphabetically so the
    answer does not depend on the order evidence was gathered in."""
    ordered = tuple(
        sorted(
            items,
            key=lambda e: (e.at, not e.credible, e.source, e.description, e.reason, e.url or ""),
        )
    )
    chosen = next((e for e in ordered if e.credible), None)
    return Proposal(chosen.at if chosen else None, chosen, ordered)
