"""Properties of open task conflicts (pure rules)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tocsin.incidents.coordination.conflicts import Conflict, open_conflicts, pair, refusal

ids = st.integers(min_value=1, max_value=20)


@st.composite
def conflict_sets(draw: st.DrawFn) -> list[Conflict]:
    count = draw(st.integers(min_value=0, max_value=12))
    return [
        Conflict(i + 1, draw(ids), draw(ids), draw(st.none() | st.integers(1, 5)))
        for i in range(count)
    ]


@given(ids, ids)
def test_a_pair_is_the_same_whichever_side_raised_it(a: int, b: int) -> None:
    assert pair(a, b) == pair(b, a)


@given(conflict_sets(), st.sets(st.integers(1, 5)))
def test_open_conflicts_are_exactly_the_undecided_ones_oldest_first(
    conflicts: list[Conflict], decisions: set[int]
) -> None:
    found = open_conflicts(conflicts, decisions)
    assert [c.id for c in found] == sorted(c.id for c in found)
    for c in conflicts:
        settled = c.decision_id is not None and c.decision_id in decisions
        assert (c in found) is not settled


@given(ids)
def test_a_task_never_conflicts_with_itself(task: int) -> None:
    assert refusal(task, task, []) is not None


@given(conflict_sets(), ids, ids)
def test_an_open_pair_cannot_be_raised_again_from_either_side(
    conflicts: list[Conflict], a: int, b: int
) -> None:
    open_pairs = {pair(c.task_id, c.other_task_id) for c in conflicts if c.decision_id is None}
    refused = refusal(a, b, conflicts)
    assert (refused is None) == (a != b and pair(a, b) not in open_pairs)
    assert (refused is None) == (refusal(b, a, conflicts) is None)
