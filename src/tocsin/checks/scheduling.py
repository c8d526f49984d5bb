"""When each check runs next: fixed interval, a stable per-check phase (jitter), no pile-up.

Pure. The jitter is a deterministic phase derived from the check and location rather than a
fresh random delay each time: a thousand checks created by one `tocsin apply` spread over the
interval instead of firing together, and each keeps an exact interval between its runs.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta


def phase(check_id: int, location: str, jitter_seconds: int) -> timedelta:
    """A stable offset in [0, jitter_seconds) for this check at this location."""
    if jitter_seconds <= 0:
        return timedelta(0)
    digest = hashlib.sha256(f"{check_id}:{location}".encode()).digest()
    millis = int.from_bytes(digest[:8], "big") % (jitter_seconds * 1000)
    return timedelta(milliseconds=millis)


def first_due(now: datetime, check_id: int, location: str, jitter_seconds: int) -> datetime:
    return now + phase(check_id, location, jitter_seconds)


def next_due(previous_due: datetime, interval_seconds: int, now: datetime) -> datetime:
    """The next slot on the check's grid that is after `now`.

    A worker that was down for an hour does not run sixty overdue copies on restart: slots
    already in the past are skipped, and the grid (and so the phase) is kept.
    """
    if interval_seconds <= 0:
        raise ValueError("interval must be positive")
    step = timedelta(seconds=interval_seconds)
    due = previous_due + step
    if due <= now:
        missed = (now - due) // step + 1
        due += step * missed
    return due
