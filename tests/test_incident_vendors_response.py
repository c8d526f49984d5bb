"""Properties of measuring a vendor's response against its contract (pure rules)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from tocsin.incidents.vendors.response import Verdict, contract_minutes, measure

START = datetime(2026, 1, 1, tzinfo=UTC)
offsets = st.integers(min_value=0, max_value=10 * 24 * 3600).map(lambda s: timedelta(seconds=s))
minutes = st.integers(min_value=1, max_value=24 * 60)


@given(minutes, offsets)
def test_an_unacknowledged_vendor_is_running_before_the_deadline_and_breached_from_it(
    contract: int, elapsed: timedelta
) -> None:
    result = measure(START, None, contract, START + elapsed)
    due = START + timedelta(minutes=contract)
    assert result.deadline == due
    if START + elapsed < due:
        assert result.verdict is Verdict.RUNNING
        assert result.time_left == due - (START + elapsed)
    else:
        assert result.verdict is Verdict.BREACHED
        assert result.time_left is None


@given(minutes, offsets, offsets)
def test_an_acknowledgement_is_judged_once_and_for_all(
    contract: int, took: timedelta, later: timedelta
) -> None:
    acked = START + took
    result = measure(START, acked, contract, acked + later)
    assert result.took == took
    assert result.verdict is (
        Verdict.MET if took <= timedelta(minutes=contract) else Verdict.BREACHED
    )
    # the verdict does not depend on when it is asked
    assert measure(START, acked, contract, acked).verdict is result.verdict


@given(st.none() | offsets, offsets)
def test_without_a_contract_nothing_is_claimed(took: timedelta | None, elapsed: timedelta) -> None:
    acked = None if took is None else START + took
    result = measure(START, acked, None, START + elapsed)
    assert result.verdict is Verdict.NO_CONTRACT and result.deadline is None


@given(
    st.dictionaries(st.sampled_from(["sev1", "SEV2", "sev3"]), minutes),
    st.sampled_from(["SEV1", "sev2", "sev4"]),
)
def test_contract_lookup_ignores_case(terms: dict[str, int], severity: str) -> None:
    expected = {k.lower(): v for k, v in terms.items()}.get(severity.lower())
    assert contract_minutes(terms, severity) == expected
