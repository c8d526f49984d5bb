"""The bridge's cadence rules: due times, reminder stages and adherence arithmetic."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from tocsin.incidents.bridge.cadence import (
    Stage,
    adherence,
    cadence_minutes,
    next_check,
    next_due,
    stage,
)

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
minutes = st.integers(min_value=1, max_value=600)
offsets = st.lists(st.integers(min_value=0, max_value=5000), max_size=30)


def at(minute: int) -> datetime:
    return T0 + timedelta(minutes=minute)


def test_cadence_comes_from_the_bridge_group_of_the_policy_else_the_fallback() -> None:
    assert cadence_minutes("sev1", [("executives", 30), ("engineering", 15)]) == 15
    assert cadence_minutes("sev2", [("responders", 20), ("engineering", 15)]) == 20
    assert cadence_minutes("sev2", [("executives", 60)]) == 60
    assert cadence_minutes("sev3", []) == 240
    assert cadence_minutes("sev4", []) is None
    assert cadence_minutes("custom", []) is None


@given(minutes, st.integers(min_value=0, max_value=1000), st.integers(0, 2000))
def test_a_promise_can_bring_the_next_update_forward_but_never_push_it_back(
    cadence: int, posted: int, promised: int
) -> None:
    due = next_due(T0, at(posted), at(posted + promised), timedelta(minutes=cadence))
    assert due is not None
    assert due <= at(posted + cadence)
    assert due == min(at(posted + cadence), at(posted + promised))


def test_without_updates_the_first_is_due_one_cadence_after_opening() -> None:
    assert next_due(T0, None, None, timedelta(minutes=30)) == at(30)
    assert next_due(T0, at(5), None, None) is None


@given(minutes, st.integers(min_value=-1000, max_value=3000))
def test_stages_follow_the_due_time_then_one_more_cadence(cadence: int, offset: int) -> None:
    due = at(100)
    found = stage(due + timedelta(minutes=offset), due, timedelta(minutes=cadence))
    if offset < 0:
        assert found is Stage.ON_TRACK
    elif offset < cadence:
        assert found is Stage.REMIND
    else:
        assert found is Stage.ESCALATE


@given(minutes, st.integers(min_value=-3000, max_value=3000), st.integers(1, 60))
def test_the_next_check_is_never_later_than_the_next_stage_or_the_recheck(
    cadence: int, offset: int, recheck: int
) -> None:
    due = at(100)
    now = due + timedelta(minutes=offset, seconds=7)
    check = next_check(now, due, timedelta(minutes=cadence), timedelta(minutes=recheck))
    assert now < check <= now + timedelta(minutes=recheck)
    for change in (due, due + timedelta(minutes=cadence)):
        if change > now:
            assert check <= change


@given(minutes, offsets, st.integers(min_value=0, max_value=6000))
def test_every_due_time_is_on_time_late_or_missed(
    cadence: int, updates: list[int], length: int
) -> None:
    result = adherence(T0, at(length), timedelta(minutes=cadence), [at(u) for u in updates])
    assert result.due == result.on_time + result.late + result.missed
    assert len(result.late_by) == result.late
    assert all(d > timedelta(0) for d in result.late_by)
    counted = len([u for u in updates if u <= length])
    assert result.on_time + result.late == counted
    # a cadence more without an update is one more missed due time
    longer = adherence(
        T0, at(length + cadence), timedelta(minutes=cadence), [at(u) for u in updates]
    )
    if length > 0 and all(u < length for u in updates):
        assert (longer.due, longer.missed) == (result.due + 1, result.missed + 1)


@given(minutes, st.integers(min_value=1, max_value=40))
def test_updates_within_the_cadence_are_all_on_time(cadence: int, count: int) -> None:
    updates = [at(cadence * n) for n in range(1, count + 1)]
    result = adherence(T0, updates[-1], timedelta(minutes=cadence), updates)
    assert (result.on_time, result.late, result.missed) == (count, 0, 0)


def test_a_late_update_says_by_how_much_and_counts_the_dues_it_skipped() -> None:
    result = adherence(T0, at(200), timedelta(minutes=30), [at(20), at(95)])
    # 20: on time; next due 50, 80 passed -> the update at 95 is late by 45, one more missed;
    # after 95: 125, 155, 185 passed -> missed
    assert (result.due, result.on_time, result.late, result.missed) == (6, 1, 1, 4)
    assert result.late_by == (timedelta(minutes=45),)
    assert result.worst_late_by == timedelta(minutes=45)


def test_no_cadence_means_nothing_is_due() -> None:
    result = adherence(T0, at(600), None, [at(10)])
    assert result.due == 0
    assert result.worst_late_by is None
