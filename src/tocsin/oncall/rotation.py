"""Rotation arithmetic of one schedule layer: who holds each turn, and when hand-offs happen.

Pure: no database, HTTP or clock. Hand-offs are wall-clock times in the layer's zone, so a
daily 09:00 Europe/Berlin hand-off stays at 09:00 local on both sides of a daylight-saving
change (the turn around the change is 23 or 25 hours long). Two rules make wall time
unambiguous: a local time that does not exist (skipped by a spring-forward) moves to the end
of the gap, and a local time that exists twice (repeated by a fall-back) means the first one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

MIN_TURN = timedelta(hours=1)


@dataclass(frozen=True)
class Interval:
    start: datetime
    end: datetime
    user_id: int


def local_naive(moment: datetime, zone: ZoneInfo) -> datetime:
    return moment.astimezone(zone).replace(tzinfo=None)


def wall_to_utc(wall: datetime, zone: ZoneInfo) -> datetime:
    """The UTC instant at which clocks in `zone` show `wall` (see the module's two rules).

    Monotonic in `wall`, which the interval arithmetic relies on.
    """
    first = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if local_naive(first, zone) == wall:
        return first
    # In a gap: fold=0 applies the offset before the change (a later instant), fold=1 the
    # offset after it (an earlier one); the change itself lies between. Find it.
    low = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    high = first
    after = high.astimezone(zone).utcoffset()
    while high - low > timedelta(seconds=1):
        middle = low + (high - low) / 2
        if middle.astimezone(zone).utcoffset() == after:
            high = middle
        else:
            low = middle
    return high.replace(microsecond=0) if high.microsecond else high


@dataclass(frozen=True)
class Rotation:
    """Members take turns of `turn` wall-clock length from `start_date` at `handoff` local."""

    members: tuple[int, ...]
    zone: ZoneInfo
    start_date: date
    handoff: time
    turn: timedelta

    @property
    def origin(self) -> datetime:
        return datetime.combine(self.start_date, self.handoff)

    def handoff_at(self, index: int) -> datetime:
        """UTC instant of the start of turn `index` (turn 0 begins at the origin)."""
        return wall_to_utc(self.origin + self.turn * index, self.zone)

    def index_at(self, moment: datetime) -> int:
        """The turn running at `moment` (negative before the rotation starts)."""
        elapsed = local_naive(moment, self.zone) - self.origin
        index = elapsed // self.turn
        while self.handoff_at(index) > moment:
            index -= 1
        while self.handoff_at(index + 1) <= moment:
            index += 1
        return index

    def turns(self, start: datetime, end: datetime) -> list[Interval]:
        """Turns overlapping [start, end), clipped to it; nothing before the rotation starts."""
        if not self.members or end <= start:
            return []
        begin = max(start, self.handoff_at(0))
        if begin >= end:
            return []
        out = []
        index = self.index_at(begin)
        while True:
            turn_start, turn_end = self.handoff_at(index), self.handoff_at(index + 1)
            if turn_start >= end:
                break
            lo, hi = max(turn_start, begin), min(turn_end, end)
            if lo < hi:
                out.append(Interval(lo, hi, self.members[index % len(self.members)]))
            index += 1
        return out


@dataclass(frozen=True)
class Restriction:
    """A wall-clock window in which the layer applies: every day (`weekday` None) or on one
    weekday (0 = Monday), from `start` for `length` (which may run into the next days)."""

    start: time
    length: timedelta
    weekday: int | None = None


def windows(
    restrictions: tuple[Restriction, ...], zone: ZoneInfo, start: datetime, end: datetime
) -> list[tuple[datetime, datetime]]:
    """UTC windows of the restrictions overlapping [start, end), clipped, merged and sorted."""
    if end <= start:
        return []
    longest = max((r.length for r in restrictions), default=timedelta(0))
    first_day = local_naive(start, zone).date() - timedelta(days=longest.days + 8)
    last_day = local_naive(end, zone).date() + timedelta(days=1)
    found = []
    day = first_day
    while day <= last_day:
        for rule in restrictions:
            if rule.weekday is not None and day.weekday() != rule.weekday:
                continue
            wall = datetime.combine(day, rule.start)
            lo, hi = wall_to_utc(wall, zone), wall_to_utc(wall + rule.length, zone)
            lo, hi = max(lo, start), min(hi, end)
            if lo < hi:
                found.append((lo, hi))
        day += timedelta(days=1)
    return merge_spans(found)


def merge_spans(spans: list[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    merged: list[tuple[datetime, datetime]] = []
    for lo, hi in sorted(spans):
        if merged and lo <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((lo, hi))
    return merged


def restrict(intervals: list[Interval], spans: list[tuple[datetime, datetime]]) -> list[Interval]:
    """The parts of `intervals` inside `spans` (both sorted and non-overlapping)."""
    out = []
    for interval in intervals:
        for lo, hi in spans:
            a, b = max(lo, interval.start), min(hi, interval.end)
            if a < b:
                out.append(Interval(a, b, interval.user_id))
    return out


@dataclass(frozen=True)
class Layer:
    rotation: Rotation
    restrictions: tuple[Restriction, ...] = ()

    def coverage(self, start: datetime, end: datetime) -> list[Interval]:
        """Who this layer puts on call in [start, end), sorted, non-overlapping."""
        turns = self.rotation.turns(start, end)
        if not self.restrictions:
            return turns
        return restrict(turns, windows(self.restrictions, self.rotation.zone, start, end))
