"""Escalation arithmetic: which level a page is at, what comes next, and who it reaches.

Pure: no database, HTTP or clock. A policy has ordered levels; when a level's timeout passes
without an acknowledgement the page moves to the next level, and after the last level the
whole policy starts again, `repeat` more times (PagerDuty's "repeat N times").
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Position:
    round: int
    """0 for the first pass through the levels, 1 for the first repeat, ..."""
    level: int
    """0-based index into the policy's levels"""


FIRST = Position(0, 0)


def next_position(current: Position, levels: int, repeat: int) -> Position | None:
    """Where the page goes when `current` times out; None when the policy is exhausted."""
    if levels <= 0:
        return None
    if current.level + 1 < levels:
        return Position(current.round, current.level + 1)
    if current.round < repeat:
        return Position(current.round + 1, 0)
    return None


def total_steps(levels: int, repeat: int) -> int:
    return max(levels, 0) * (repeat + 1)


@dataclass(frozen=True)
class Target:
    kind: str
    """user, schedule or team"""
    id: int


def resolve(
    targets: Iterable[Target],
    on_call: Mapping[int, list[int]],
    team_members: Mapping[int, list[int]],
) -> list[int]:
    """The people a level reaches, in target order, each once.

    A schedule reaches whoever is on call in it now; a team reaches its members (its leads
    first, as the caller orders them).
    """
    people: list[int] = []
    for target in targets:
        if target.kind == "user":
            found = [target.id]
        elif target.kind == "schedule":
            found = on_call.get(target.id, [])
        else:
            found = team_members.get(target.id, [])
        for user_id in found:
            if user_id not in people:
                people.append(user_id)
    return people
