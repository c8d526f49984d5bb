"""SLA credits: properties any contract's credit ladder must have."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import assume, given
from hypothesis import strategies as st

from tocsin.catalog.sla import (
    CreditBand,
    CreditRule,
    availability_percent,
    credit_for,
    rule_problems,
)

percent = st.decimals(min_value=0, max_value=100, places=3, allow_nan=False)
fee = st.decimals(min_value=0, max_value=10_000_000, places=2, allow_nan=False)


@st.composite
def sound_rules(draw: st.DrawFn) -> CreditRule:
    thresholds = sorted(
        draw(
            st.sets(
                st.decimals(min_value="0.001", max_value=100, places=3, allow_nan=False),
                max_size=5,
            )
        ),
        reverse=True,
    )
    credits = sorted(draw(st.lists(percent, min_size=len(thresholds), max_size=len(thresholds))))
    cap = draw(percent)
    rule = CreditRule(
        tuple(CreditBand(t, c) for t, c in zip(thresholds, credits, strict=True)), cap
    )
    assert rule_problems(rule) == []
    return rule


CONTRACT = CreditRule(
    (
        CreditBand(Decimal("99.9"), Decimal(10)),
        CreditBand(Decimal("99"), Decimal(25)),
        CreditBand(Decimal("95"), Decimal(100)),
    ),
    cap_percent=Decimal(50),
)


def test_a_typical_contract() -> None:
    assert credit_for(CONTRACT, Decimal("99.95"), Decimal(1000)).amount == Decimal("0.00")
    assert credit_for(CONTRACT, Decimal("99.9"), Decimal(1000)).amount == Decimal("0.00")
    assert credit_for(CONTRACT, Decimal("99.5"), Decimal(1000)).amount == Decimal("100.00")
    assert credit_for(CONTRACT, Decimal("97"), Decimal(1000)).percent == Decimal(25)
    capped = credit_for(CONTRACT, Decimal("90"), Decimal(1000))
    assert capped.percent == Decimal(50) and capped.band == CONTRACT.bands[2]


@given(sound_rules(), percent, percent, fee)
def test_worse_availability_never_earns_less_credit(
    rule: CreditRule, a: Decimal, b: Decimal, monthly: Decimal
) -> None:
    worse, better = sorted((a, b))
    assert credit_for(rule, worse, monthly).percent >= credit_for(rule, better, monthly).percent


@given(sound_rules(), percent, fee)
def test_credit_is_within_cap_and_fee(
    rule: CreditRule, availability: Decimal, monthly: Decimal
) -> None:
    credit = credit_for(rule, availability, monthly)
    assert Decimal(0) <= credit.percent <= min(rule.cap_percent, Decimal(100))
    assert credit.amount is not None
    assert Decimal(0) <= credit.amount <= monthly
    assert abs(credit.amount - monthly * credit.percent / 100) <= Decimal("0.005")


@given(sound_rules(), percent)
def test_no_credit_when_availability_is_at_or_above_every_band(
    rule: CreditRule, availability: Decimal
) -> None:
    assume(all(availability >= band.below_percent for band in rule.bands))
    credit = credit_for(rule, availability)
    assert credit.percent == 0 and credit.band is None and credit.amount is None


@given(sound_rules(), percent)
def test_the_band_applied_is_the_lowest_one_the_availability_falls_below(
    rule: CreditRule, availability: Decimal
) -> None:
    below = [b for b in rule.bands if availability < b.below_percent]
    credit = credit_for(rule, availability)
    if below:
        assert credit.band is not None
        assert credit.band.credit_percent == max(b.credit_percent for b in below)


def test_unsound_rules_are_explained_by_field() -> None:
    upside_down = CreditRule(
        (CreditBand(Decimal(99), Decimal(25)), CreditBand(Decimal("99.9"), Decimal(10)))
    )
    fields = [field for field, _ in rule_problems(upside_down)]
    assert fields == ["bands.1.below_percent", "bands.1.credit_percent"]
    assert rule_problems(CreditRule((), Decimal(150))) == [
        ("cap_percent", "must be between 0 and 100")
    ]


@given(
    st.decimals(min_value=1, max_value=100_000, places=2),
    st.decimals(min_value=-10, max_value=200_000, places=2),
)
def test_availability_stays_a_percentage(period: Decimal, downtime: Decimal) -> None:
    value = availability_percent(period, downtime)
    assert Decimal(0) <= value <= Decimal(100)
    if 0 <= downtime <= period:
        assert value == (period - downtime) * 100 / period
