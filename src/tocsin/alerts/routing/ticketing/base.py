"""What an external issue tracker must offer to mirror routing tickets.

Everything routing does with a tracker reduces to two things: file an issue when a `ticket`
rule opens a ticket, and say so on it when the ticket's alerts resolve. Trackers have no
idempotency key for creating issues, so filing is made idempotent by a marker Tocsin gives
each issue and looks for (`find`) before creating one (`create`). Search in a tracker often
lags its writes, so the tracker also says how long after a create its issue may still be
missing from `find` (`visible_within`); routing does not create again within that time of an
attempt whose outcome it never learnt. A new tracker (a generic webhook, GitHub Issues,
Linear) is one class implementing `Tracker` plus a branch in `ticketing.for_tracker`; the
jobs, retries, waits and the recorded errors are shared. Trackers are only ever called from
durable jobs, never inside a request or a decision's transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Protocol


class TrackerError(Exception):
    """The tracker refused or could not be reached. Transient errors are retried by the job
    queue; permanent ones (bad credentials, unknown project) dead-letter the job at once."""

    def __init__(
        self, message: str, *, permanent: bool = False, created_nothing: bool = False
    ) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.created_nothing = created_nothing
        """the call certainly changed nothing (it never left, or the tracker refused it with
        a 4xx), so a create that failed so need not be waited for as one that may have
        filed an issue"""


@dataclass(frozen=True)
class Draft:
    """A ticket as a tracker files it; `config` is the rule's tracker block (project, …)."""

    ref: str
    title: str
    summary: str
    severity: str | None
    service: str
    link: str
    """where the ticket's alerts can be seen in Tocsin"""
    marker: str
    """unique to this ticket of this Tocsin site and carried by its issue, so a retry finds
    the issue an earlier attempt filed but could not record"""
    config: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Filed:
    key: str
    """the tracker's own name for the issue, e.g. OPS-24"""
    url: str
    """where a person opens it"""
    adopted: bool = False
    """found (filed by an earlier attempt whose answer was lost) rather than created now"""


class Tracker(Protocol):
    kind: str
    label: str
    """the tracker's name for people, e.g. Jira"""

    visible_within: timedelta
    """An issue whose create call started at T is found by `find` from T + this on: the
    longest a create call may take plus how far the tracker's search may lag a write."""

    async def find(self, draft: Draft) -> Filed | None:
        """The issue carrying `draft.marker` (adopted), if the tracker's search shows one."""
        ...

    async def create(self, draft: Draft) -> Filed:
        """A new issue carrying `draft.marker`; raise TrackerError when the tracker refused or
        did not answer (whether it created the issue is then unknown, unless the error says
        `created_nothing`)."""
        ...

    async def comment(self, key: str, text: str, link: str) -> None:
        """Add a comment to the issue."""
        ...

    async def transition(self, key: str, transition: str) -> None:
        """Move the issue along its workflow (to Done, say)."""
        ...
