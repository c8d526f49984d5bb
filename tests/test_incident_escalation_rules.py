"""Escalation rules, pure: which rules are due, once each, and the exact next crossing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from tocsin.incidents.escalation import rules
from tocsin.incidents.thresholds import Impact, crossings
from tocsin.policy.schemas import (
    EscalationGroup,
    EscalationMode,
    EscalationPolicy,
    MissingCommander,
    SeverityPolicyIn,
    Thresholds,
)

T0 = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def policy(**data: object) -> EscalationPolicy:
    return EscalationPolicy.model_validate(data)


def test_top_level_thresholds_are_one_rule_to_both_groups() -> None:
    found = rules.rules_of(
        policy(
            duration_minutes=30,
            rules=[{"id": "big", "when": {"customers_affected": 500}, "to": ["executive"]}],
        )
    )
    assert [(r.id, r.to) for r in found] == [
        ("thresholds", (EscalationGroup.TECHNICAL, EscalationGroup.EXECUTIVE)),
        ("big", (EscalationGroup.EXECUTIVE,)),
    ]
    assert rules.rules_of(policy()) == ()


def test_a_rule_is_due_when_crossed_and_only_until_escalated() -> None:
    found = rules.rules_of(
        policy(
            rules=[
                {"id": "long", "when": {"duration_minutes": 60}},
                {"id": "wide", "when": {"customers_affected": 100}, "to": ["executive"]},
            ]
        )
    )
    early = rules.decide(found, Impact(customers_affected=10), at(0), None, at(20), [])
    assert early.escalate == () and early.next_crossing_at == at(60)

    wide = rules.decide(found, Impact(customers_affected=150), at(0), None, at(20), [])
    assert [d.rule.id for d in wide.escalate] == ["wide"]
    assert wide.escalate[0].reasons == ("customers affected 150 ≥ 100",)

    on_time = rules.decide(found, Impact(customers_affected=150), at(0), None, at(60), ["wide"])
    assert [d.rule.id for d in on_time.escalate] == ["long"]
    assert on_time.escalate[0].reasons == ("duration 60 min ≥ 60 min",)

    after = rules.decide(
        found, Impact(customers_affected=150), at(0), None, at(90), ["wide", "long"]
    )
    assert after.escalate == () and after.next_crossing_at is None


def test_a_mitigated_incident_is_not_timed_any_more() -> None:
    found = rules.rules_of(policy(duration_minutes=60))
    decision = rules.decide(found, Impact(), at(0), at(30), at(500), [])
    assert decision.escalate == () and decision.next_crossing_at is None


def test_the_commander_is_required_for_the_two_most_severe_ranks_by_default() -> None:
    default = MissingCommander()
    assert rules.commander_required(default, 1) and rules.commander_required(default, 2)
    assert not rules.commander_required(default, 3)
    assert rules.commander_required(MissingCommander(enabled=True, after_minutes=15), 4)
    assert not rules.commander_required(MissingCommander(enabled=False), 1)
    deadline = rules.commander_deadline(at(0), default)
    assert deadline == at(5)
    assert not rules.commander_missing(True, True, False, deadline, at(4))
    assert rules.commander_missing(True, True, False, deadline, at(5))
    assert not rules.commander_missing(True, True, True, deadline, at(50))
    assert not rules.commander_missing(True, False, False, deadline, at(50))


def test_one_message_per_person_and_paging_wins() -> None:
    merged = rules.merge_modes(
        [
            (1, EscalationGroup.TECHNICAL, EscalationMode.NOTIFY),
            (1, EscalationGroup.EXECUTIVE, EscalationMode.PAGE),
            (2, EscalationGroup.EXECUTIVE, EscalationMode.NOTIFY),
        ]
    )
    assert merged == {
        1: (EscalationMode.PAGE, (EscalationGroup.TECHNICAL, EscalationGroup.EXECUTIVE)),
        2: (EscalationMode.NOTIFY, (EscalationGroup.EXECUTIVE,)),
    }


def test_plain_thresholds_still_make_a_valid_policy() -> None:
    """Policies written before escalation paths existed read and serialise as before."""
    old = SeverityPolicyIn(escalation=Thresholds(duration_minutes=30))
    assert old.escalation.duration_minutes == 30
    assert old.model_dump(mode="json")["escalation"] == {
        "duration_minutes": 30,
        "customers_affected": None,
        "revenue_per_hour": None,
        "error_rate_percent": None,
    }


@pytest.mark.parametrize(
    ("escalation", "field"),
    [
        ({"technical": {"users": ["not-an-address"]}}, "escalation.technical.users"),
        ({"executive": {"mode": "shout"}}, "escalation.executive.mode"),
        ({"rules": [{"id": "a", "when": {}}, {"id": "a", "when": {}}]}, "escalation.rules"),
        ({"rules": [{"id": "thresholds", "when": {}}]}, "escalation.rules"),
        ({"rules": [{"id": "x", "when": {}, "to": ["board"]}]}, "escalation.rules.0.to.0"),
        ({"missing_commander": {"after_minutes": 0}}, "escalation.missing_commander.after_minutes"),
    ],
)
def test_bad_paths_are_refused_naming_the_field(escalation: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        SeverityPolicyIn.model_validate({"escalation": escalation})
    paths = [".".join(str(p) for p in e["loc"]) for e in caught.value.errors()]
    assert any(p.startswith(field) for p in paths), paths


# --- properties ------------------------------------------------------------------------------

maybe_minutes = st.one_of(st.none(), st.integers(1, 600))
maybe_customers = st.one_of(st.none(), st.integers(1, 1000))


@st.composite
def rule_sets(draw: st.DrawFn) -> tuple[rules.Rule, ...]:
    count = draw(st.integers(1, 4))
    return tuple(
        rules.Rule(
            f"r{i}",
            Thresholds(
                duration_minutes=draw(maybe_minutes), customers_affected=draw(maybe_customers)
            ),
            (EscalationGroup.TECHNICAL,),
        )
        for i in range(count)
    )


steps = st.lists(
    st.tuples(
        st.integers(0, 240),  # minutes until the next evaluation
        st.one_of(st.none(), st.integers(0, 1500)),  # a new customers figure, or no change
        st.booleans(),  # mitigated at this step
    ),
    min_size=1,
    max_size=12,
)


@given(rule_sets(), steps)
def test_each_crossed_rule_escalates_exactly_once(
    found: tuple[rules.Rule, ...], plan: list[tuple[int, int | None, bool]]
) -> None:
    """Evaluating at every change and at every planned crossing, each rule escalates at most
    once, and after any evaluation every rule crossed so far has been escalated."""
    escalated: list[str] = []
    ever_crossed: set[str] = set()
    now, customers, end = at(0), None, None
    start = at(0)
    pending: datetime | None = None

    def look(moment: datetime) -> datetime | None:
        impact = Impact(customers_affected=customers)
        decision = rules.decide(found, impact, start, end, moment, escalated)
        for due in decision.escalate:
            assert due.rule.id not in escalated
            escalated.append(due.rule.id)
        duration = rules.duration_of(start, end, moment)
        for rule in found:
            if crossings(rule.when, impact, duration):
                ever_crossed.add(rule.id)
        assert ever_crossed <= set(escalated)
        return decision.next_crossing_at

    pending = look(now)
    for minutes, new_customers, mitigate in plan:
        target = now + timedelta(minutes=minutes)
        while pending is not None and pending <= target:  # the timer fires on its moment
            now = pending
            before = len(escalated)
            pending = look(now)
            assert len(escalated) > before  # a planned crossing always finds something due
        now = target
        if new_customers is not None:
            customers = new_customers
        if mitigate and end is None:
            end = now
        pending = look(now)
    assert len(escalated) == len(set(escalated))
