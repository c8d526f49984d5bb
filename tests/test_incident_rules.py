"""The pure rules of an incident: milestone order and the status state machine."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tocsin.incidents import lifecycle, milestones
from tocsin.incidents.lifecycle import REOPENABLE, Refusal, Status
from tocsin.incidents.milestones import ORDER, RULES, Milestone

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
ALL = list(Milestone)

times_of = st.dictionaries(
    st.sampled_from(ALL),
    st.integers(min_value=0, max_value=600).map(lambda m: T0 + timedelta(minutes=m)),
)


def consistent(times: dict[Milestone, datetime]) -> bool:
    return all(times[a] <= times[b] for a, b in ORDER if a in times and b in times)


@given(times_of)
def test_any_accepted_set_of_milestones_is_consistently_ordered(
    times: dict[Milestone, datetime],
) -> None:
    found = milestones.conflicts(times)
    assert (not found) == consistent(times)
    for conflict in found:
        assert (conflict.earlier, conflict.later) in ORDER
        assert times[conflict.later] < times[conflict.earlier]


@given(
    gaps=st.lists(st.integers(min_value=1, max_value=120), min_size=len(ALL), max_size=len(ALL)),
    index=st.integers(min_value=0, max_value=len(ALL) - 2),
)
def test_swapping_two_neighbours_is_refused_with_exactly_that_pair(
    gaps: list[int], index: int
) -> None:
    """Times strictly in list order are fine; swap two neighbours and, if the rules order
    them, the conflict names exactly those two, the earlier one first."""
    moment = T0
    times = {}
    for name, gap in zip(ALL, gaps, strict=True):
        moment += timedelta(minutes=gap)
        times[name] = moment
    assert milestones.first_conflict(times) is None
    a, b = ALL[index], ALL[index + 1]
    times[a], times[b] = times[b], times[a]
    conflict = milestones.first_conflict(times)
    if (a, b) in ORDER:
        assert conflict is not None
        assert (conflict.earlier, conflict.later) == (a, b)
        assert a.value in conflict.message and b.value in conflict.message
    else:
        assert conflict is None


def test_a_rule_holds_across_a_milestone_that_is_not_set() -> None:
    """Mitigated before impact start is wrong even when nothing in between is known."""
    conflict = milestones.first_conflict(
        {Milestone.IMPACT_STARTED: T0, Milestone.CLOSED: T0 - timedelta(minutes=1)}
    )
    assert conflict is not None
    assert (conflict.earlier, conflict.later) == (Milestone.IMPACT_STARTED, Milestone.CLOSED)


def test_the_conflict_reported_involves_the_milestone_just_changed() -> None:
    times = {
        Milestone.IMPACT_STARTED: T0,
        Milestone.DETECTED: T0 - timedelta(minutes=5),
        Milestone.MITIGATED: T0 - timedelta(minutes=1),
    }
    conflict = milestones.first_conflict(times, changed=Milestone.MITIGATED)
    assert conflict is not None
    assert (conflict.earlier, conflict.later) == (Milestone.IMPACT_STARTED, Milestone.MITIGATED)


def test_the_documented_rules_are_all_there() -> None:
    for earlier, later in [
        (Milestone.IMPACT_STARTED, Milestone.DETECTED),
        (Milestone.DETECTED, Milestone.DECLARED),
        (Milestone.IMPACT_STARTED, Milestone.MITIGATED),
        (Milestone.MITIGATED, Milestone.RESOLVED),
        (Milestone.RESOLVED, Milestone.BUSINESS_RESOLVED),
        (Milestone.BUSINESS_RESOLVED, Milestone.CLOSED),
    ]:
        assert milestones.must_precede(earlier, later)
    assert (Milestone.ACKNOWLEDGED, Milestone.IDENTIFIED) not in ORDER
    assert all(a != b for a, b in ORDER), "the order has a cycle"
    assert set(RULES) <= ORDER


# --- the state machine -----------------------------------------------------------------------

steps = st.lists(
    st.tuples(st.sampled_from(list(Status)), st.booleans(), st.booleans(), st.booleans()),
    max_size=40,
)


@given(steps)
def test_no_path_closes_an_incident_without_both_resolutions(
    path: list[tuple[Status, bool, bool, bool]],
) -> None:
    status = Status.DECLARED
    seen: list[Status] = [status]
    for target, technical_done, business_done, with_reason in path:
        try:
            decision = lifecycle.decide(
                status,
                target,
                reason="because" if with_reason else "",
                technical_open=() if technical_done else ("fix-verified",),
                business_open=() if business_done else ("customers-notified",),
            )
        except Refusal:
            continue
        if decision.reopen:
            seen = []
        if target == Status.RESOLVED:
            assert technical_done
        if target == Status.BUSINESS_RESOLVED:
            assert business_done and status == Status.RESOLVED
        if target == Status.CLOSED:
            assert Status.RESOLVED in seen and Status.BUSINESS_RESOLVED in seen
            assert status == Status.BUSINESS_RESOLVED
        status = target
        seen.append(status)


@given(st.sampled_from(REOPENABLE), st.text(min_size=1).filter(str.strip))
def test_reopening_is_always_allowed_from_resolved_or_closed_with_a_reason(
    status: Status, reason: str
) -> None:
    decision = lifecycle.decide(status, Status.INVESTIGATING, reason=reason)
    assert decision.reopen
    assert decision.milestone == Milestone.ACKNOWLEDGED


@given(st.sampled_from(REOPENABLE))
def test_reopening_without_a_reason_is_refused(status: Status) -> None:
    with pytest.raises(Refusal) as refused:
        lifecycle.decide(status, Status.INVESTIGATING, reason="  ")
    assert refused.value.field == "reason"


@given(st.sampled_from(list(Status)), st.sampled_from(list(Status)))
def test_every_transition_sets_the_milestone_of_its_target(source: Status, target: Status) -> None:
    try:
        decision = lifecycle.decide(source, target, reason="r")
    except Refusal:
        assert target == source or target not in lifecycle.allowed_targets(source)
        return
    assert decision.milestone == lifecycle.MILESTONE_OF[target]
    assert target != Status.DECLARED


def test_resolution_names_the_open_checklist_items() -> None:
    with pytest.raises(Refusal) as refused:
        lifecycle.decide(Status.MONITORING, Status.RESOLVED, technical_open=["fix-verified"])
    assert refused.value.field == "checklists.technical"
    assert "fix-verified" in refused.value.message
    with pytest.raises(Refusal) as refused:
        lifecycle.decide(
            Status.RESOLVED, Status.BUSINESS_RESOLVED, business_open=["support-briefed"]
        )
    assert refused.value.field == "checklists.business"
