"""API shapes of the alert fatigue report."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from tocsin.alerts.fatigue.suggestions import Kind
from tocsin.schemas import Output


class SuggestionOut(Output):
    kind: Kind
    evidence: str


class FatigueRow(Output):
    """One alert rule (its `alertname`, else its `rule` label) or one service."""

    kind: Literal["rule", "service"]
    name: str
    services: list[str]
    fired: int
    """firings that started in the window (a re-fire of the same alert counts again)"""
    paged: int
    acknowledged: int
    """pages acknowledged"""
    median_ack_seconds: float | None
    resolved_without_action: int
    """firings that resolved with no acknowledgement and no incident"""
    incident_linked: int
    flapping: int
    """firings during which the alert was marked flapping"""
    off_hours_pages: int
    suggestions: list[SuggestionOut]


class FatigueReport(Output):
    window_start: datetime
    window_end: datetime
    service: str | None
    business_hours: str
    """Monday to Friday, in each service's team time zone unless `timezone` was given"""
    timezone: str | None
    rules: list[FatigueRow]
    services: list[FatigueRow]
