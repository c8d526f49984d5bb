"""Retry delays: exponential, capped, jittered, and never zero."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tocsin.jobs.backoff import DEFAULT_POLICY, RetryPolicy, Verdict, verdict

attempts = st.integers(min_value=1, max_value=10_000)
jitters = st.floats(min_value=0.0, max_value=1.0, exclude_max=True)
policies = st.builds(
    lambda base, factor, extra: RetryPolicy(base, factor, base + extra),
    st.floats(min_value=0.001, max_value=600),
    st.floats(min_value=1.0, max_value=10),
    st.floats(min_value=0.0, max_value=86_400),
)


@given(policies, attempts, jitters)
def test_delay_stays_between_half_the_ceiling_and_the_cap(
    policy: RetryPolicy, attempt: int, jitter: float
) -> None:
    delay = policy.delay(attempt, jitter)
    ceiling = policy.ceiling(attempt)
    assert 0 < ceiling / 2 <= delay <= ceiling <= policy.cap_seconds


@given(policies, attempts)
def test_ceiling_never_shrinks_as_attempts_go_on(policy: RetryPolicy, attempt: int) -> None:
    assert policy.ceiling(attempt) <= policy.ceiling(attempt + 1)


@given(policies, attempts, jitters, jitters)
def test_more_jitter_never_means_a_shorter_wait(
    policy: RetryPolicy, attempt: int, a: float, b: float
) -> None:
    low, high = sorted((a, b))
    assert policy.delay(attempt, low) <= policy.delay(attempt, high)


@given(st.integers(min_value=1, max_value=40))
def test_default_policy_doubles_from_five_seconds_up_to_an_hour(attempt: int) -> None:
    assert DEFAULT_POLICY.ceiling(attempt) == min(3600.0, 5.0 * 2 ** (attempt - 1))


@given(attempts, st.integers(min_value=1, max_value=10_000))
def test_job_dies_exactly_when_its_attempts_are_used_up(attempt: int, max_attempts: int) -> None:
    expected = Verdict.DEAD if attempt >= max_attempts else Verdict.RETRY
    assert verdict(attempt, max_attempts) == expected
    assert verdict(attempt, max_attempts, permanent=True) == Verdict.DEAD


@pytest.mark.parametrize("jitter", [-0.1, 1.0, 2.0])
def test_jitter_outside_the_unit_interval_is_a_programming_error(jitter: float) -> None:
    with pytest.raises(ValueError):
        DEFAULT_POLICY.delay(1, jitter)


@pytest.mark.parametrize(("base", "factor", "cap"), [(0, 2, 10), (1, 0.5, 10), (10, 2, 5)])
def test_nonsensical_policies_are_refused(base: float, factor: float, cap: float) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(base, factor, cap)
