"""What an external issue tracker must offer to mirror routing tickets.

Everything routing does with a tracker reduces to two calls: file an issue when a `ticket`
rule opens a ticket, and say so on it when the ticket's alerts resolve. Trackers have no
idempotency key for creating issues, so filing is made idempotent by a marker Tocsin gives
each issue and looks for before creating one. A new tracker (a
generic webhook, GitHub Issues, Linear) is one class implementing `Tracker` plus a branch in
`ticketing.for_tracker`; the jobs, retries and the recorded errors are shared. Trackers are
only ever called from durable jobs, never inside a request or a decision's transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


class TrackerError(Exception):
    """The tracker refused or could not be reached. Transient errors are retried by the job
    queue; permanent ones (bad credentials, unknown project) dead-letter the job at once."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


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

    async def file(self, draft: Draft) -> Filed:
        """The issue carrying `draft.marker` if there is one, else a new one carrying it;
        raise TrackerError when neither could be done (and nothing was created)."""
        ...

    async def comment(self, key: str, text: str, link: str) -> None:
        """Add a comment to the issue."""
        ...

    async def transition(self, key: str, transition: str) -> None:
        """Move the issue along its workflow (to Done, say)."""
        ...
