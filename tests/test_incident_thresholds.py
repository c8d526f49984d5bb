"""Severity thresholds: escalation and post-mortem triggers, with reasons and the next timer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from tocsin.incidents.kpis import Milestones
from tocsin.incidents.milestones import Milestone
from tocsin.incidents.thresholds import Impact, Measure, crossings, evaluate
from tocsin.policy.defaults import DEFAULT_SEVERITIES
from tocsin.policy.schemas import PostmortemPolicy, SeverityPolicyIn, Thresholds

POLICY = {create.slug: policy for create, policy in DEFAULT_SEVERITIES}
T0 = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_a_sev1_crossing_every_escalation_threshold() -> None:
    """SEV1 escalates at 30 min, 100 customers, 10,000 per hour or a 25 % error rate."""
    impact = Impact(
        customers_affected=150,
        revenue_per_hour=Decimal("12000"),
        error_rate_percent=Decimal("30.5"),
    )
    report = evaluate(POLICY["sev1"], impact, Milestones(impact_started=at(0)), now=at(47.5))
    assert report.escalation.reasons == (
        "duration 47 min ≥ 30 min",
        "customers affected 150 ≥ 100",
        "revenue per hour 12,000 ≥ 10,000",
        "error rate 30.5 % ≥ 25 %",
    )
    assert report.escalation.next_duration_crossing_at is None  # already crossed
    assert report.postmortem.required
    assert report.postmortem.reasons == (
        "the severity's policy asks for a post-mortem of every incident",
    )
    assert report.measured_from == Milestone.IMPACT_STARTED


def test_a_young_sev1_schedules_its_duration_timer() -> None:
    report = evaluate(
        POLICY["sev1"], Impact(customers_affected=20), Milestones(impact_started=at(0)), at(12)
    )
    assert not report.escalation.triggered
    assert report.escalation.next_duration_crossing_at == at(30)
    assert report.next_check_at == at(30)


def test_a_sev3_needs_a_post_mortem_before_it_escalates() -> None:
    """SEV3: post-mortem at 240 min or 100 customers, escalation at 480 min or 1,000."""
    incident = Milestones(declared=at(0))
    early = evaluate(POLICY["sev3"], Impact(customers_affected=40), incident, at(180))
    assert not early.postmortem.required
    assert early.postmortem.next_duration_crossing_at == at(240)
    assert early.escalation.next_duration_crossing_at == at(480)
    assert early.next_check_at == at(240)
    assert early.measured_from == Milestone.DECLARED

    later = evaluate(POLICY["sev3"], Impact(customers_affected=140), incident, at(240))
    assert later.postmortem.required
    assert later.postmortem.reasons == (
        "duration 240 min ≥ 240 min",
        "customers affected 140 ≥ 100",
    )
    assert not later.escalation.triggered
    assert later.next_check_at == at(480)


def test_a_mitigated_incident_stops_counting_duration() -> None:
    incident = Milestones(impact_started=at(0), mitigated=at(20), resolved=at(200))
    report = evaluate(POLICY["sev1"], Impact(), incident, at(500))
    assert report.duration == timedelta(minutes=20)
    assert not report.escalation.triggered
    assert report.next_check_at is None


def test_unknown_impact_never_triggers() -> None:
    report = evaluate(POLICY["sev2"], Impact(), Milestones(), at(10_000))
    assert report.duration is None and report.measured_from is None
    assert not report.escalation.triggered
    assert report.next_check_at is None


def test_sev4_has_only_a_duration_trigger() -> None:
    impact = Impact(customers_affected=10_000, revenue_per_hour=Decimal(10**6))
    report = evaluate(POLICY["sev4"], impact, Milestones(impact_started=at(0)), at(60))
    assert not report.escalation.triggered
    assert report.escalation.next_duration_crossing_at == at(4320)
    assert not report.postmortem.required


# --- properties --------------------------------------------------------------------------

minutes = st.one_of(st.none(), st.integers(1, 10_000))


@st.composite
def policies(draw: st.DrawFn) -> SeverityPolicyIn:
    def thresholds() -> Thresholds:
        return Thresholds(
            duration_minutes=draw(minutes),
            customers_affected=draw(st.one_of(st.none(), st.integers(1, 10_000))),
            revenue_per_hour=draw(st.one_of(st.none(), st.integers(1, 10**6).map(float))),
            error_rate_percent=draw(st.one_of(st.none(), st.integers(1, 100).map(float))),
        )

    return SeverityPolicyIn(
        escalation=thresholds(),
        postmortem=PostmortemPolicy(always=draw(st.booleans()), when=thresholds()),
    )


impacts = st.builds(
    Impact,
    customers_affected=st.one_of(st.none(), st.integers(0, 20_000)),
    revenue_per_hour=st.one_of(st.none(), st.decimals(0, 2 * 10**6, places=2)),
    error_rate_percent=st.one_of(st.none(), st.decimals(0, 100, places=1)),
)
seconds = st.integers(0, 10 * 24 * 3600)


@given(policies(), impacts, seconds)
def test_the_next_crossing_is_exactly_when_the_status_flips(
    policy: SeverityPolicyIn, impact: Impact, now: int
) -> None:
    incident = Milestones(impact_started=T0)
    report = evaluate(policy, impact, incident, T0 + timedelta(seconds=now))
    for check in ("escalation", "postmortem"):
        moment = getattr(report, check).next_duration_crossing_at
        if moment is None:
            continue
        before = getattr(
            evaluate(policy, impact, incident, moment - timedelta(microseconds=1)), check
        )
        assert Measure.DURATION not in {c.measure for c in before.crossed}
        then = getattr(evaluate(policy, impact, incident, moment), check)
        assert Measure.DURATION in {c.measure for c in then.crossed}
        assert then.next_duration_crossing_at is None


@given(policies(), impacts, seconds, seconds)
def test_an_ongoing_incident_never_uncrosses_a_threshold(
    policy: SeverityPolicyIn, impact: Impact, a: int, b: int
) -> None:
    earlier, later = sorted((a, b))
    incident = Milestones(impact_started=T0)
    first = evaluate(policy, impact, incident, T0 + timedelta(seconds=earlier))
    second = evaluate(policy, impact, incident, T0 + timedelta(seconds=later))
    assert {c.measure for c in first.escalation.crossed} <= {
        c.measure for c in second.escalation.crossed
    }
    assert first.postmortem.required <= second.postmortem.required
    if first.next_check_at is not None and second.next_check_at is not None:
        assert second.next_check_at >= first.next_check_at


@given(
    policies(),
    st.integers(0, 20_000),
    st.integers(0, 20_000),
    st.integers(0, 3 * 24 * 60),
)
def test_more_customers_never_cross_fewer_thresholds(
    policy: SeverityPolicyIn, a: int, b: int, duration: int
) -> None:
    fewer, more = sorted((a, b))
    span = timedelta(minutes=duration)
    low = crossings(policy.escalation, Impact(customers_affected=fewer), span)
    high = crossings(policy.escalation, Impact(customers_affected=more), span)
    assert {c.measure for c in low} <= {c.measure for c in high}
    for crossing in high:
        assert crossing.value >= crossing.threshold
        assert "≥" in crossing.reason
