"""When a maintenance window is in effect: one-off or recurring, in the service's time zone.

A recurring window is an iCalendar recurrence rule (RRULE) over local wall-clock time, so
"every Sunday 02:00 for two hours, Europe/Paris" stays at 02:00 across daylight-saving changes;
the rule is interpreted by python-dateutil rather than by hand-written calendar arithmetic.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil.rrule import rrulestr


class RecurrenceError(ValueError):
    """A time zone or recurrence rule that cannot be used."""


@dataclass(frozen=True, slots=True)
class Window:
    starts_at: datetime
    """Local wall-clock time of the first occurrence (naive: read in `timezone`)."""
    duration: timedelta
    timezone: str = "UTC"
    rrule: str | None = None
    """e.g. "FREQ=WEEKLY;BYDAY=SU"; None for a one-off window."""

    def zone(self) -> ZoneInfo:
        try:
            return ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise RecurrenceError(f"unknown time zone {self.timezone!r}") from None

    def check(self) -> None:
        self.zone()
        if self.duration <= timedelta(0):
            raise RecurrenceError("the duration must be positive")
        if self.rrule is not None:
            try:
                rrulestr(self.rrule, dtstart=self._local_start())
            except (ValueError, TypeError) as exc:
                raise RecurrenceError(f"invalid recurrence rule: {exc}") from None

    def _local_start(self) -> datetime:
        return self.starts_at.replace(tzinfo=None)

    def active_occurrence(self, at: datetime) -> tuple[datetime, datetime] | None:
        """The (start, end) in UTC of the occurrence covering `at` (aware), or None."""
        zone = self.zone()
        local_at = at.astimezone(zone).replace(tzinfo=None)
        if self.rrule is None:
            starts = [self._local_start()]
        else:
            rule = rrulestr(self.rrule, dtstart=self._local_start())
            # The latest occurrence starting no later than now is the only candidate, as
            # long as occurrences do not overlap; looking one duration back covers that.
            last = rule.before(local_at, inc=True)
            starts = [last] if last is not None else []
        for start in starts:
            begin = start.replace(tzinfo=zone)
            end = (start + self.duration).replace(tzinfo=zone)
            if begin <= at < end:
                return begin.astimezone(ZoneInfo("UTC")), end.astimezone(ZoneInfo("UTC"))
        return None
