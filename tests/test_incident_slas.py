"""Customer SLAs of one incident: response and resolution clocks, availability budget, credits."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from tocsin.catalog.schemas import Sla
from tocsin.catalog.sla import credit_for
from tocsin.incidents.kpis import Milestones
from tocsin.incidents.milestones import Milestone
from tocsin.incidents.slas import (
    AffectedCustomer,
    AffectedTier,
    Interval,
    SlaStatus,
    availability_budget,
    by_business_unit,
    calendar_month,
    downtime,
    sla_clock,
    tier_sla,
    tier_slas,
    union,
    union_duration,
)

T0 = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
NOVEMBER = Interval(datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC))


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


GOLD = Sla.model_validate(
    {
        "availability_target_percent": 99.9,
        "response_minutes": {"sev1": 15, "sev2": 30},
        "resolution_minutes": {"sev1": 240, "sev2": 480},
        "credit_rule": {
            "bands": [
                {"below_percent": 99.9, "credit_percent": 10},
                {"below_percent": 99, "credit_percent": 25},
                {"below_percent": 95, "credit_percent": 100},
            ],
            "cap_percent": 50,
        },
    }
)
SILVER = Sla.model_validate(
    {
        "availability_target_percent": 99.5,
        "response_minutes": {"sev1": 60},
        "resolution_minutes": {"sev1": 1440},
    }
)


def test_a_sev1_outage_three_hours_ten_minutes_in() -> None:
    """Acknowledged in 12 min (met), unresolved after 190 of 240 min (at risk), and 190 min
    of downtime in a 30-day month against a 43.2 min budget: a 10 % credit."""
    incident = Milestones(impact_started=at(0), declared=at(5), acknowledged=at(12))
    gold = AffectedTier(
        "gold",
        GOLD,
        business_unit="retail",
        customers=(
            AffectedCustomer("acme", Decimal("1000.00")),
            AffectedCustomer("globex", Decimal("2500.00"), "EUR"),
            AffectedCustomer("initech"),
        ),
    )
    report = tier_sla(gold, "sev1", incident, now=at(190))

    assert report.response.status == SlaStatus.MET
    assert report.response.elapsed == timedelta(minutes=12)
    assert report.response.measured_from == Milestone.IMPACT_STARTED

    resolution = report.resolution
    assert resolution.status == SlaStatus.AT_RISK
    assert resolution.time_left == timedelta(minutes=50)
    assert resolution.deadline == at(240)

    budget = report.availability
    assert budget is not None
    assert budget.period == NOVEMBER
    assert budget.budget == timedelta(minutes=43, seconds=12)
    assert budget.incident_downtime == timedelta(minutes=190)
    assert budget.exhausted
    assert budget.availability_percent.quantize(Decimal("0.001")) == Decimal("99.560")

    assert [c.credit.percent for c in report.credits] == [Decimal(10)] * 3
    assert report.credit_totals == {"USD": Decimal("100.00"), "EUR": Decimal("250.00")}
    assert report.customers_without_fee == ("initech",)
    assert report.status == SlaStatus.BREACHED  # the month's availability is already lost


def test_the_at_risk_share_is_configurable() -> None:
    incident = Milestones(impact_started=at(0), acknowledged=at(5))
    gold = AffectedTier("gold", GOLD)
    assert tier_sla(gold, "sev1", incident, at(190)).resolution.status == SlaStatus.AT_RISK
    relaxed = tier_sla(gold, "sev1", incident, at(190), at_risk_fraction=0.9)
    assert relaxed.resolution.status == SlaStatus.ON_TRACK


def test_late_response_and_breached_resolution() -> None:
    incident = Milestones(impact_started=at(0), acknowledged=at(20), resolved=at(300))
    report = tier_sla(AffectedTier("gold", GOLD), "sev1", incident, at(400))
    assert report.response.status == SlaStatus.BREACHED
    assert report.response.overrun == timedelta(minutes=5)
    assert report.resolution.status == SlaStatus.BREACHED
    assert report.resolution.overrun == timedelta(minutes=60)


def test_a_tier_that_promises_nothing_for_the_severity() -> None:
    report = tier_sla(AffectedTier("silver", SILVER), "sev3", Milestones(declared=at(0)), at(10))
    assert report.response.status == SlaStatus.NOT_COVERED
    assert report.resolution.status == SlaStatus.NOT_COVERED
    assert report.response.budget is None


def test_overlapping_incidents_count_their_shared_minutes_once() -> None:
    """An earlier incident on the same tier, 09:30 to 10:30, overlaps this one (10:00 to 11:00)."""
    other = Interval(at(-30), at(30))
    incident = Milestones(impact_started=at(0), acknowledged=at(3), mitigated=at(60))
    report = tier_sla(
        AffectedTier("silver", SILVER, other_downtime=(other,)), "sev1", incident, at(120)
    )
    budget = report.availability
    assert budget is not None
    assert budget.incident_downtime == timedelta(minutes=60)
    assert budget.total_downtime == timedelta(minutes=90)
    assert budget.budget == timedelta(minutes=216)  # 0.5 % of 30 days
    assert budget.consumed_fraction == 90 / 216
    assert budget.remaining == timedelta(minutes=126)
    assert not budget.exhausted
    assert report.status == SlaStatus.ON_TRACK  # responded; resolution clock still running


def test_downtime_ends_at_mitigation_else_resolution_else_now() -> None:
    assert downtime(
        Milestones(impact_started=at(0), mitigated=at(20), resolved=at(90)), at(100)
    ) == Interval(at(0), at(20))
    assert downtime(Milestones(declared=at(5), resolved=at(90)), at(100)) == Interval(at(5), at(90))
    assert downtime(Milestones(impact_started=at(0)), at(100)) == Interval(at(0), at(100))
    assert downtime(Milestones(), at(100)) is None


def test_an_incident_across_midnight_at_month_end_counts_only_inside_the_period() -> None:
    start = datetime(2026, 11, 30, 23, 0, tzinfo=UTC)
    budget = availability_budget(99.9, Interval(start, start + timedelta(hours=3)), NOVEMBER)
    assert budget.incident_downtime == timedelta(hours=1)
    assert calendar_month(start) == NOVEMBER
    december = calendar_month(start + timedelta(hours=3))
    assert december.start == datetime(2026, 12, 1, tzinfo=UTC)
    assert december.end == datetime(2027, 1, 1, tzinfo=UTC)


def test_business_units_roll_up_the_worst_status_and_their_credits() -> None:
    incident = Milestones(impact_started=at(0), acknowledged=at(20))
    tiers = [
        AffectedTier("gold", GOLD, "retail", (AffectedCustomer("acme", Decimal(1000)),)),
        AffectedTier("silver", SILVER, "retail", (AffectedCustomer("hooli", Decimal(400)),)),
        AffectedTier("partner", SILVER, None),
    ]
    units = {
        u.business_unit: u for u in by_business_unit(tier_slas(tiers, "sev1", incident, at(30)))
    }
    retail = units["retail"]
    assert retail.tiers == ("gold", "silver")
    assert retail.response == SlaStatus.BREACHED  # gold's 15 minutes are gone
    assert retail.resolution == SlaStatus.ON_TRACK
    assert retail.credit_totals == {"USD": Decimal("0.00")}  # 30 minutes: within 99.9 %
    assert units[None].response == SlaStatus.MET


# --- properties --------------------------------------------------------------------------

seconds = st.integers(min_value=0, max_value=40 * 24 * 3600)
intervals = st.tuples(seconds, st.integers(0, 3 * 24 * 3600)).map(
    lambda p: Interval(
        NOVEMBER.start + timedelta(seconds=p[0]),
        NOVEMBER.start + timedelta(seconds=p[0] + p[1]),
    )
)


@given(st.lists(intervals, min_size=1, max_size=20))
def test_union_downtime_is_between_the_longest_and_the_sum(spans: list[Interval]) -> None:
    total = union_duration(spans)
    assert max(s.duration for s in spans) <= total <= sum((s.duration for s in spans), timedelta())
    merged = union(spans)
    for left, right in itertools.pairwise(merged):
        assert left.end < right.start  # disjoint, in order
    for span in spans:
        assert any(m.start <= span.start and span.end <= m.end for m in merged)


@given(
    st.lists(intervals, max_size=12).flatmap(lambda xs: st.tuples(st.just(xs), st.permutations(xs)))
)
def test_union_does_not_depend_on_order(pair: tuple[list[Interval], list[Interval]]) -> None:
    assert union(pair[0]) == union(pair[1])


milestone_offsets = st.one_of(st.none(), st.integers(0, 3 * 24 * 3600))


@st.composite
def incidents(draw: st.DrawFn) -> Milestones:
    names = ["impact_started", "declared", "acknowledged", "mitigated", "resolved"]
    return Milestones(
        **{
            name: None if (v := draw(milestone_offsets)) is None else T0 + timedelta(seconds=v)
            for name in names
        }
    )


@given(
    incidents(),
    st.integers(1, 5000),
    st.integers(0, 10 * 24 * 3600),
    st.integers(0, 10 * 24 * 3600),
    st.floats(0.05, 1.0),
    st.sampled_from([Milestone.ACKNOWLEDGED, Milestone.RESOLVED]),
)
def test_sla_status_only_gets_worse_with_time(
    incident: Milestones, budget: int, a: int, b: int, risk: float, milestone: Milestone
) -> None:
    earlier, later = sorted((a, b))
    before = sla_clock(milestone, budget, incident, T0 + timedelta(seconds=earlier), risk)
    after = sla_clock(milestone, budget, incident, T0 + timedelta(seconds=later), risk)
    order = [SlaStatus.ON_TRACK, SlaStatus.AT_RISK, SlaStatus.BREACHED]
    if before.status in order and after.status in order:
        assert order.index(after.status) >= order.index(before.status)
    if before.status in (SlaStatus.MET, SlaStatus.BREACHED, SlaStatus.UNMEASURED):
        assert after.status == before.status
    for value in (after.elapsed, after.time_left, after.overrun):
        assert value is None or value >= timedelta(0)
    if after.status == SlaStatus.AT_RISK:
        assert after.used_fraction is not None and risk <= after.used_fraction <= 1


@given(
    st.lists(intervals, max_size=6),
    intervals,
    st.sampled_from([99.0, 99.5, 99.9, 99.95, 100.0]),
    st.decimals(min_value=0, max_value=100_000, places=2),
)
def test_credits_are_the_catalog_credit_for_the_period_availability(
    others: list[Interval], own: Interval, target: float, fee: Decimal
) -> None:
    budget = availability_budget(target, own, NOVEMBER, others)
    assert budget.incident_downtime <= budget.total_downtime <= NOVEMBER.duration
    assert budget.remaining + min(budget.total_downtime, budget.budget) == budget.budget
    incident = Milestones(impact_started=own.start, mitigated=own.end)
    tier = AffectedTier(
        "gold", GOLD, customers=(AffectedCustomer("acme", fee),), other_downtime=others
    )
    report = tier_sla(tier, "sev1", incident, own.end, period=NOVEMBER)
    assert report.availability is not None
    expected = credit_for(GOLD.credit_rule.to_rule(), report.availability.availability_percent, fee)
    assert report.credits[0].credit == expected
