"""When a rule deserves tuning, and the evidence that says so.

Pure functions of the figures the report gathers, so the thresholds can be read in one place
and checked with property tests; no database, HTTP or clock here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

MIN_FIRED = 5
"""Fewer firings than this say nothing about a rule: no suggestion."""
QUICK = timedelta(minutes=5)
"""A firing that resolves this fast was probably noise a `for` duration would have absorbed."""
QUICK_SHARE = 0.5
OFTEN = 10
"""Firings in the window from which "fires often" starts."""
RARELY_ACTED = 0.2
"""Below this share of firings acted on, a rule that fires often is too sensitive."""
DEMOTE_MIN_PAGES = 3
BURST = timedelta(minutes=5)
"""Pages of one rule this close to the previous one came from one burst."""
BURST_MIN_PAGES = 3
BURST_SHARE = 0.5


class Kind(StrEnum):
    ADD_FOR = "add_for"
    RAISE_THRESHOLD = "raise_threshold"
    GROUP = "group"
    DEMOTE_TO_TICKET = "demote_to_ticket"
    DELETE = "delete"


@dataclass(frozen=True, slots=True)
class Usage:
    """What one rule (or service) did over the window."""

    fired: int
    """firings that started in the window"""
    resolved: int
    """of those, the ones that resolved"""
    quick: int
    """of the resolved ones, those that lasted at most QUICK"""
    acted: int
    """firings someone acknowledged, or that were linked to an incident"""
    paged: int
    acknowledged: int
    """pages acknowledged"""
    burst_pages: int
    """pages opened within BURST of the previous one (same rule, or same service)"""
    days: float
    """length of the window, for the wording"""


@dataclass(frozen=True, slots=True)
class Suggestion:
    kind: Kind
    evidence: str


def _share(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def _pct(part: int, whole: int) -> str:
    return f"{round(100 * _share(part, whole))} %"


def should_delete(u: Usage) -> bool:
    return u.fired >= MIN_FIRED and u.acted == 0


def should_add_for(u: Usage) -> bool:
    return u.resolved >= MIN_FIRED and _share(u.quick, u.resolved) >= QUICK_SHARE


def should_raise_threshold(u: Usage) -> bool:
    return u.fired >= OFTEN and u.acted > 0 and _share(u.acted, u.fired) < RARELY_ACTED


def should_demote(u: Usage) -> bool:
    return u.paged >= DEMOTE_MIN_PAGES and u.acknowledged == 0 and not should_delete(u)


def should_group(u: Usage) -> bool:
    return u.burst_pages >= BURST_MIN_PAGES and _share(u.burst_pages, u.paged) >= BURST_SHARE


def suggest(u: Usage) -> list[Suggestion]:
    """Every suggestion that applies, strongest first. Deleting a rule makes raising its
    threshold or demoting it moot, so those are not offered alongside it."""
    out: list[Suggestion] = []
    days = f"{u.days:g} days"
    if should_delete(u):
        out.append(
            Suggestion(
                Kind.DELETE,
                f"fired {u.fired} times in {days} and paged {u.paged} times; none was "
                "acknowledged or linked to an incident",
            )
        )
    if should_demote(u):
        out.append(
            Suggestion(
                Kind.DEMOTE_TO_TICKET,
                f"paged {u.paged} times in {days} and no page was acknowledged; "
                f"{u.acted} of {u.fired} firings were handled otherwise",
            )
        )
    if should_raise_threshold(u):
        out.append(
            Suggestion(
                Kind.RAISE_THRESHOLD,
                f"fired {u.fired} times in {days} but only {u.acted} "
                f"({_pct(u.acted, u.fired)}) were acted on",
            )
        )
    if should_add_for(u):
        minutes = int(QUICK.total_seconds() // 60)
        out.append(
            Suggestion(
                Kind.ADD_FOR,
                f"{u.quick} of {u.resolved} resolved firings ({_pct(u.quick, u.resolved)}) "
                f"lasted {minutes} minutes or less",
            )
        )
    if should_group(u):
        minutes = int(BURST.total_seconds() // 60)
        out.append(
            Suggestion(
                Kind.GROUP,
                f"{u.burst_pages} of {u.paged} pages came within {minutes} minutes of the "
                "previous one",
            )
        )
    return out
