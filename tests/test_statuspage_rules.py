"""The status page's pure rules: uptime from state changes, the page indicator, and the
premature-resolution guard's conditions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from tocsin.statuspage import rules

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
STATES = [s.value for s in rules.ComponentStatus]

changes = st.lists(
    st.tuples(st.integers(min_value=0, max_value=120 * 24 * 60), st.sampled_from(STATES)),
    min_size=1,
    max_size=30,
).map(
    lambda items: [(NOW - timedelta(minutes=m), s) for m, s in sorted(items, key=lambda x: -x[0])]
)


@given(changes)
def test_uptime_is_a_percentage_per_day_for_ninety_days(
    history: list[tuple[datetime, str]],
) -> None:
    days = rules.daily_uptime(history, NOW)
    assert len(days) == 90
    assert days[-1].day == NOW.date()
    assert [d.day for d in days] == sorted({d.day for d in days})
    for day in days:
        assert day.uptime is None or 0.0 <= day.uptime <= 100.0
        assert day.worst in STATES
    overall = rules.overall_uptime(days)
    assert overall is None or 0.0 <= overall <= 100.0


@given(changes)
def test_days_before_the_component_existed_have_no_data(
    history: list[tuple[datetime, str]],
) -> None:
    born = history[0][0].date()
    for day in rules.daily_uptime(history, NOW):
        assert (day.uptime is None) == (day.day < born)


@given(st.sampled_from(["operational", "degraded_performance", "under_maintenance"]))
def test_states_that_serve_customers_count_as_up(state: str) -> None:
    days = rules.daily_uptime([(NOW - timedelta(days=200), state)], NOW)
    assert all(d.uptime == 100.0 for d in days)


def test_a_major_outage_counts_fully_and_a_partial_one_partly() -> None:
    start = datetime(2026, 6, 1, tzinfo=UTC)
    history = [
        (start - timedelta(days=10), "operational"),
        (start, "major_outage"),
        (start + timedelta(hours=6), "partial_outage"),
        (start + timedelta(hours=12), "operational"),
    ]
    today = rules.daily_uptime(history, start + timedelta(hours=24))[-2]
    assert today.day == start.date()
    assert today.worst == "major_outage"
    assert today.uptime == round(100 * (1 - (6 + 6 * 0.3) / 24), 3)


@given(
    st.lists(st.sampled_from(STATES)),
    st.lists(st.sampled_from([i.value for i in rules.Impact])),
    st.booleans(),
)
def test_the_indicator_is_the_worst_signal(
    components: list[str], impacts: list[str], maintenance: bool
) -> None:
    level, description = rules.indicator(components, impacts, maintenance)
    assert description == rules.DESCRIPTIONS[level]
    if "major_outage" in components or "critical" in impacts:
        assert level == "critical"
    worse = rules.indicator([*components, "major_outage"], impacts, maintenance)[0]
    assert worse == "critical", "adding an outage never makes the page look better"
    if level == "maintenance":
        assert maintenance or "under_maintenance" in components


def test_all_operational_reads_all_systems_operational() -> None:
    assert rules.indicator(["operational"] * 3, [], False) == ("none", "All Systems Operational")


@given(
    st.sampled_from(["investigating", "monitoring", "resolved", "closed", "business_resolved"]),
    st.lists(st.tuples(st.sampled_from(["checkout", "search"]), st.text(max_size=5)), max_size=3),
    st.lists(st.one_of(st.none(), st.integers(min_value=0, max_value=60)), max_size=3),
)
def test_the_guard_lists_exactly_the_conditions_that_fail(
    status: str, firing: list[tuple[str, str]], green_minutes: list[int | None]
) -> None:
    checks = [
        rules.CheckState(f"c{i}", "checkout", None if m is None else NOW - timedelta(minutes=m))
        for i, m in enumerate(green_minutes)
    ]
    failures = rules.guard(
        incident_ref="INC-1",
        incident_status=status,
        firing=firing,
        checks=checks,
        now=NOW,
        monitoring=timedelta(minutes=15),
    )
    conditions = [f.condition for f in failures]
    resolved = status in ("resolved", "closed", "business_resolved")
    assert ("incident_resolved" in conditions) == (not resolved)
    assert ("no_alerts_firing" in conditions) == bool(firing)
    not_green = [m for m in green_minutes if m is None or m < 15]
    assert conditions.count("checks_green") == len(not_green)
    assert all(f.message for f in failures)
