"""The final schedule: layers stacked by precedence, with overrides on top.

Pure: no database, HTTP or clock. As in PagerDuty, a higher layer wins wherever it has
someone, and lower layers show through its gaps (restrictions, rotations not started yet);
an override beats every layer, and of overlapping overrides the one added last wins.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime, timedelta

from tocsin.oncall.rotation import Interval, Layer

OVERRIDE = -1
"""the `source` of a segment that comes from an override"""


@dataclass(frozen=True)
class Override:
    start: datetime
    end: datetime
    user_id: int


@dataclass(frozen=True)
class Segment:
    start: datetime
    end: datetime
    user_id: int
    source: int
    """index of the winning layer (0 = lowest), or OVERRIDE"""


def render(
    layers: list[Layer], overrides: list[Override], start: datetime, end: datetime
) -> list[Segment]:
    """Who is on call in [start, end): sorted, non-overlapping, adjacent equal runs merged."""
    if end <= start:
        return []
    # Lowest precedence first; later sources paint over earlier ones.
    sources: list[tuple[int, list[Interval]]] = [
        (index, layer.coverage(start, end)) for index, layer in enumerate(layers)
    ]
    clipped = [
        Interval(max(o.start, start), min(o.end, end), o.user_id)
        for o in overrides
        if max(o.start, start) < min(o.end, end)
    ]
    sources.extend((OVERRIDE, [interval]) for interval in clipped)
    points = {start, end}
    for _, intervals in sources:
        for interval in intervals:
            points.update((interval.start, interval.end))
    cuts = sorted(points)
    out: list[Segment] = []
    for lo, hi in itertools.pairwise(cuts):
        winner: Segment | None = None
        for source, intervals in sources:
            for interval in intervals:
                if interval.start <= lo and hi <= interval.end:
                    winner = Segment(lo, hi, interval.user_id, source)
        if winner is None:
            continue
        last = out[-1] if out else None
        if (
            last
            and last.end == lo
            and (last.user_id, last.source)
            == (
                winner.user_id,
                winner.source,
            )
        ):
            out[-1] = Segment(last.start, hi, last.user_id, last.source)
        else:
            out.append(winner)
    return out


def merge(segments: list[Segment]) -> list[Segment]:
    """Join adjacent segments of the same person and source (renderings of adjacent ranges)."""
    out: list[Segment] = []
    for segment in segments:
        last = out[-1] if out else None
        if (
            last
            and last.end == segment.start
            and (last.user_id, last.source) == (segment.user_id, segment.source)
        ):
            out[-1] = Segment(last.start, segment.end, last.user_id, last.source)
        else:
            out.append(segment)
    return out


def at(layers: list[Layer], overrides: list[Override], moment: datetime) -> int | None:
    """The one person on call at `moment`, if anyone."""
    found = render(layers, overrides, moment, moment + timedelta(seconds=1))
    return found[0].user_id if found else None


def changes(segments: list[Segment], start: datetime, end: datetime) -> list[datetime]:
    """The moments strictly inside (start, end) at which the final schedule may put someone
    else on call, in order: hand-offs, the edges of restrictions and overrides, and the ends
    of gaps.

    `segments` is a rendering of [start, end), whose adjacent equal runs are merged already,
    so a turn handed to the same person again is no change."""
    moments = {moment for s in segments for moment in (s.start, s.end) if start < moment < end}
    return sorted(moments)
