"""The pure rules of synthetic checks: schedule grid and jitter, up/down state, uptime and
percentiles, assertions and extraction, and keeping secrets out of stored text."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tocsin.checks import assertions, scheduling, stats, templating
from tocsin.checks.assertions import Observed

moments = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC)
)


@given(moments, st.integers(1, 86400), st.integers(0, 10**7))
def test_next_run_is_the_first_slot_on_the_grid_after_now(
    due: datetime, interval: int, late_seconds: int
) -> None:
    now = due + timedelta(seconds=late_seconds)
    following = scheduling.next_due(due, interval, now)
    assert following > now
    assert following - timedelta(seconds=interval) <= now
    assert (following - due).total_seconds() % interval == 0


@given(st.integers(1, 10**6), st.text(min_size=1, max_size=20), st.integers(0, 3600))
def test_jitter_is_a_stable_phase_within_its_bound(
    check_id: int, location: str, jitter: int
) -> None:
    first = scheduling.phase(check_id, location, jitter)
    assert first == scheduling.phase(check_id, location, jitter)
    assert timedelta(0) <= first <= timedelta(seconds=max(jitter, 0))
    if jitter:
        assert first < timedelta(seconds=jitter)


def test_jitter_spreads_checks_created_together() -> None:
    phases = {scheduling.phase(i, "default", 60) for i in range(1, 201)}
    assert len(phases) > 150


@given(st.lists(st.booleans(), max_size=60), st.integers(1, 6))
def test_down_only_after_threshold_consecutive_failures_and_up_at_first_pass(
    runs: list[bool], threshold: int
) -> None:
    status, failures, streak = stats.Status.UNKNOWN, 0, 0
    for ok in runs:
        move = stats.advance(status, failures, ok, threshold)
        streak = 0 if ok else streak + 1
        assert move.consecutive_failures == streak
        assert move.went_down == (
            not ok and streak == threshold and status is not stats.Status.DOWN
        )
        assert move.recovered == (ok and status is stats.Status.DOWN)
        if ok:
            assert move.status is stats.Status.UP
        elif streak >= threshold:
            assert move.status is stats.Status.DOWN
        status, failures = move.status, move.consecutive_failures


@given(st.lists(st.booleans(), min_size=1))
def test_uptime_is_the_share_of_passing_runs(runs: list[bool]) -> None:
    value = stats.uptime_percent(runs)
    assert value is not None
    assert 0 <= value <= 100
    assert value == pytest.approx(100 * runs.count(True) / len(runs))


def test_no_runs_is_no_uptime_figure_rather_than_a_perfect_one() -> None:
    assert stats.uptime_percent([]) is None
    assert stats.percentile([], 99) is None


@given(
    st.lists(st.floats(0, 1e6, allow_nan=False), min_size=1, max_size=200),
    st.floats(0.1, 100),
)
def test_percentile_is_an_observed_value_with_at_least_p_percent_at_or_below(
    values: list[float], p: float
) -> None:
    result = stats.percentile(values, p)
    assert result in values
    at_or_below = sum(1 for v in values if v <= result)
    assert at_or_below / len(values) >= p / 100 - 1e-9
    assert stats.percentile(values, 100) == max(values)


def test_assertions_name_what_failed() -> None:
    seen = Observed(
        status=500,
        headers={"content-type": "application/json"},
        body='{"order": {"status": "declined"}, "items": [1, 2]}',
        elapsed_ms=812,
    )
    assert assertions.check({"type": "status", "equals": 200}, seen) == (
        "status was 500, expected 200"
    )
    assert assertions.check({"type": "latency", "max_ms": 500}, seen) == (
        "took 812 ms, more than 500 ms"
    )
    assert (
        assertions.check({"type": "header", "name": "Content-Type", "contains": "json"}, seen)
        is None
    )
    assert assertions.check({"type": "body", "contains": "confirmed"}, seen) == (
        "body does not contain 'confirmed'"
    )
    assert assertions.check({"type": "regex", "pattern": r"items.: \[1"}, seen) is None
    assert assertions.check(
        {"type": "json", "path": "order.status", "equals": "confirmed"}, seen
    ) == ("JSON path order.status was 'declined', expected 'confirmed'")
    assert assertions.check({"type": "json", "path": "order.id"}, seen) == (
        "JSON path order.id not found"
    )


def test_extraction_feeds_later_steps() -> None:
    seen = Observed(status=200, headers={"x-cart": "c-7"}, body='{"token": "t-1", "n": 3}')
    assert assertions.extract({"from": "json", "path": "token"}, seen) == "t-1"
    assert assertions.extract({"from": "json", "path": "n"}, seen) == "3"
    assert assertions.extract({"from": "header", "name": "X-Cart"}, seen) == "c-7"
    assert assertions.extract({"from": "regex", "pattern": r'"token": "([^"]+)"'}, seen) == "t-1"
    assert assertions.extract({"from": "json", "path": "missing"}, seen) is None


def test_placeholders_take_variables_and_named_secrets() -> None:
    text = "/cart?token={{ token }}&pw={{secrets.SHOP_PW}}"
    assert templating.render(text, {"token": "t"}, {"SHOP_PW": "s3"}) == "/cart?token=t&pw=s3"
    assert templating.secret_names(text) == {"SHOP_PW"}
    with pytest.raises(templating.MissingValue) as missing:
        templating.render(text, {}, {"SHOP_PW": "s3"})
    assert str(missing.value) == "token has no value"


@given(
    st.text(alphabet="ab1 ", max_size=10),
    st.lists(st.text(alphabet="ab1", min_size=3, max_size=12), min_size=1, max_size=4),
)
def test_redaction_leaves_no_secret_value(prefix: str, values: list[str]) -> None:
    text = prefix + " ".join(values) + prefix
    cleaned = templating.redact(text, values)
    for value in values:
        assert value not in cleaned
    assert templating.MASK in cleaned
