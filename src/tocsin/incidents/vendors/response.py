"""A vendor's response measured against its contract.

The clock starts when the vendor was contacted and runs for the contractual response time of
the incident's severity. Acknowledging on the deadline itself still meets the contract; with no
acknowledgement, the contract is breached from the deadline on. Without a contractual time for
the severity there is nothing to measure against, and the verdict says so rather than guess.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


class Verdict(StrEnum):
    MET = "met"
    RUNNING = "running"
    BREACHED = "breached"
    NO_CONTRACT = "no_contract"


@dataclass(frozen=True)
class Response:
    verdict: Verdict
    deadline: datetime | None
    time_left: timedelta | None
    """until the deadline while the clock runs; None otherwise"""
    took: timedelta | None
    """from contact to acknowledgement, once acknowledged"""


def deadline(contacted_at: datetime, response_minutes: int | None) -> datetime | None:
    return None if response_minutes is None else contacted_at + timedelta(minutes=response_minutes)


def measure(
    contacted_at: datetime,
    acknowledged_at: datetime | None,
    response_minutes: int | None,
    now: datetime,
) -> Response:
    due = deadline(contacted_at, response_minutes)
    took = None if acknowledged_at is None else max(acknowledged_at - contacted_at, timedelta(0))
    if due is None:
        return Response(Verdict.NO_CONTRACT, None, None, took)
    if acknowledged_at is not None:
        verdict = Verdict.MET if acknowledged_at <= due else Verdict.BREACHED
        return Response(verdict, due, None, took)
    if now < due:
        return Response(Verdict.RUNNING, due, due - now, None)
    return Response(Verdict.BREACHED, due, None, None)


def contract_minutes(response_minutes: dict[str, int], severity: str) -> int | None:
    """The contractual time for a severity slug; slugs compare case-insensitively."""
    wanted = severity.lower()
    for slug, minutes in response_minutes.items():
        if slug.lower() == wanted:
            return int(minutes)
    return None
