"""Business hours: is a moment a working hour where the team sits?

A page at 03:00 costs more than one at 11:00, so the report counts pages outside these
hours separately. Pure: the time zone is passed in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time
from zoneinfo import ZoneInfo

_SPAN = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]|24):([0-5]\d)$")


@dataclass(frozen=True, slots=True)
class BusinessHours:
    start: time
    end: time
    """exclusive; time.max stands for 24:00"""
    weekdays: frozenset[int] = frozenset(range(5))
    """Monday is 0"""

    def __str__(self) -> str:
        end = "24:00" if self.end == time.max else f"{self.end:%H:%M}"
        return f"{self.start:%H:%M}-{end}"


DEFAULT_HOURS = BusinessHours(time(9), time(18))


def parse(text: str) -> BusinessHours:
    """ "09:00-18:00" (Monday to Friday); ValueError when malformed or empty."""
    found = _SPAN.match(text.strip())
    if found is None:
        raise ValueError("expected HH:MM-HH:MM, e.g. 09:00-18:00")
    h1, m1, h2, m2 = (int(g) for g in found.groups())
    start = time(h1, m1)
    if h2 == 24:
        if m2:
            raise ValueError("the end is at most 24:00")
        end = time.max
    else:
        end = time(h2, m2)
    if end <= start:
        raise ValueError("the end must come after the start")
    return BusinessHours(start, end)


def is_off_hours(at: datetime, zone: ZoneInfo, hours: BusinessHours) -> bool:
    local = at.astimezone(zone)
    if local.weekday() not in hours.weekdays:
        return True
    return not hours.start <= local.time().replace(tzinfo=None) < hours.end
