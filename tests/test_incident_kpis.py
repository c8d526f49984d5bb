"""Incident KPIs: per-incident figures against the severity's targets, and MTTx aggregates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from tocsin.incidents.kpis import (
    IncidentTimes,
    Kpi,
    KpiStatus,
    Milestones,
    by_group,
    by_severity,
    figure,
    figures,
    summarise,
)
from tocsin.incidents.milestones import Milestone
from tocsin.policy.defaults import DEFAULT_SEVERITIES
from tocsin.policy.schemas import KpiTargets

TARGETS = {create.slug: policy.kpi_targets for create, policy in DEFAULT_SEVERITIES}
SEV1 = TARGETS["sev1"]  # 5 / 10 / 60 / 240 / 1440 minutes
T0 = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_a_sev1_outage_ninety_minutes_in() -> None:
    """Detected in 4 min, acknowledged 2 min late, mitigated in 50, still not resolved."""
    incident = Milestones(
        impact_started=at(0), detected=at(4), declared=at(6), acknowledged=at(12), mitigated=at(50)
    )
    result = {f.kpi: f for f in figures(incident, SEV1, now=at(90))}

    detect = result[Kpi.TIME_TO_DETECT]
    assert (detect.status, detect.elapsed, detect.target) == (
        KpiStatus.MET,
        timedelta(minutes=4),
        timedelta(minutes=5),
    )
    assert detect.measured_from == Milestone.IMPACT_STARTED

    ack = result[Kpi.TIME_TO_ACKNOWLEDGE]
    assert ack.status == KpiStatus.BREACHED
    assert ack.overrun == timedelta(minutes=2)

    assert result[Kpi.TIME_TO_MITIGATE].status == KpiStatus.MET

    resolve = result[Kpi.TIME_TO_RESOLVE]
    assert resolve.status == KpiStatus.RUNNING
    assert resolve.elapsed == timedelta(minutes=90)
    assert resolve.time_left == timedelta(minutes=150)
    assert resolve.deadline == at(240)

    business = result[Kpi.TIME_TO_BUSINESS_RESOLVE]
    assert business.status == KpiStatus.RUNNING
    assert business.time_left == timedelta(hours=24) - timedelta(minutes=90)


def test_an_unresolved_incident_breaches_once_the_target_passes() -> None:
    incident = Milestones(impact_started=at(0), detected=at(1), declared=at(2))
    ack = figure(Kpi.TIME_TO_ACKNOWLEDGE, incident, SEV1, now=at(25))
    assert ack.status == KpiStatus.BREACHED
    assert ack.overrun == timedelta(minutes=15)
    assert ack.reached_at is None and not ack.done


def test_without_impact_start_figures_say_they_count_from_the_declaration() -> None:
    incident = Milestones(detected=at(0), declared=at(3), acknowledged=at(8), mitigated=at(40))
    result = {f.kpi: f for f in figures(incident, TARGETS["sev2"], now=at(60))}

    mitigate = result[Kpi.TIME_TO_MITIGATE]
    assert mitigate.measured_from == Milestone.DECLARED
    assert mitigate.elapsed == timedelta(minutes=37)
    assert "measured from the declaration" in mitigate.note

    detect = result[Kpi.TIME_TO_DETECT]
    assert detect.status == KpiStatus.UNMEASURED
    assert detect.elapsed is None and detect.measured_from is None


def test_nothing_to_measure_from() -> None:
    assert figure(Kpi.TIME_TO_RESOLVE, Milestones(), SEV1, at(0)).status == KpiStatus.UNMEASURED


def test_a_severity_without_a_target_is_measured_but_not_judged() -> None:
    incident = Milestones(impact_started=at(0), acknowledged=at(30))
    ack = figure(Kpi.TIME_TO_ACKNOWLEDGE, incident, KpiTargets(), now=at(60))
    assert ack.status == KpiStatus.NO_TARGET
    assert ack.elapsed == timedelta(minutes=30)


def test_an_acknowledgement_before_a_fallback_declaration_counts_as_immediate() -> None:
    """Pages are often acknowledged before anyone declares the incident."""
    incident = Milestones(detected=at(0), acknowledged=at(2), declared=at(5))
    ack = figure(Kpi.TIME_TO_ACKNOWLEDGE, incident, SEV1, now=at(10))
    assert ack.elapsed == timedelta(0)
    assert ack.status == KpiStatus.MET
    assert "acknowledged precedes declared" in ack.note


def test_from_the_incident_milestone_times() -> None:
    times = {Milestone.IMPACT_STARTED: at(0), Milestone.CLOSED: at(900), Milestone.RESOLVED: at(9)}
    assert Milestones.from_times(times) == Milestones(impact_started=at(0), resolved=at(9))


# --- aggregates --------------------------------------------------------------------------


def incident(ref: str, severity: str, unit: str, **minutes: float) -> IncidentTimes:
    return IncidentTimes(
        ref,
        severity,
        Milestones(**{name: at(value) for name, value in minutes.items()}),
        {"business_unit": unit},
    )


HISTORY = [
    incident("INC-1", "sev1", "retail", impact_started=0, detected=2, acknowledged=6),
    incident("INC-2", "sev1", "retail", impact_started=0, detected=4, acknowledged=14),
    incident("INC-3", "sev1", "wholesale", impact_started=0, detected=12, acknowledged=20),
    incident("INC-4", "sev1", "retail", declared=0, detected=0, acknowledged=3),
    incident("INC-5", "sev2", "retail", impact_started=0, detected=30),
]


def test_mean_median_and_p90_by_severity() -> None:
    sev1 = by_severity(HISTORY)["sev1"]
    mttd = sev1[Kpi.TIME_TO_DETECT]
    assert mttd.name == "MTTD"
    assert mttd.measured_from == "impact_started"
    assert mttd.count == 3
    assert mttd.mean == timedelta(minutes=6)
    assert mttd.median == timedelta(minutes=4)
    assert mttd.p90 == timedelta(minutes=12)
    assert mttd.missing_clock == 1  # INC-4: no impact start

    mtta = sev1[Kpi.TIME_TO_ACKNOWLEDGE]
    assert (mtta.count, mtta.median) == (3, timedelta(minutes=14))

    mttr = sev1[Kpi.TIME_TO_RESOLVE]
    assert mttr.count == 0 and mttr.mean is None
    assert mttr.missing_milestone == 4


def test_declaration_may_stand_in_for_impact_start_when_asked() -> None:
    mtta = by_severity(HISTORY, allow_declared_clock=True)["sev1"][Kpi.TIME_TO_ACKNOWLEDGE]
    assert mtta.count == 4 and mtta.fell_back == 1
    assert mtta.measured_from == "impact_started (declared for 1)"
    # detection is never measured from the declaration
    mttd = by_severity(HISTORY, allow_declared_clock=True)["sev1"][Kpi.TIME_TO_DETECT]
    assert mttd.count == 3 and mttd.missing_clock == 1


def test_by_business_unit() -> None:
    units = by_group(HISTORY, "business_unit")
    assert set(units) == {"retail", "wholesale"}
    assert units["retail"][Kpi.TIME_TO_DETECT].count == 3
    assert units["wholesale"][Kpi.TIME_TO_DETECT].mean == timedelta(minutes=12)


# --- properties --------------------------------------------------------------------------

offsets = st.integers(min_value=0, max_value=14 * 24 * 3600)
maybe = st.one_of(st.none(), offsets)


@st.composite
def any_milestones(draw: st.DrawFn) -> Milestones:
    """Times in any order, any of them missing: nothing may come out negative."""
    names = [
        "impact_started",
        "detected",
        "declared",
        "acknowledged",
        "mitigated",
        "resolved",
        "business_resolved",
    ]
    values = {name: draw(maybe) for name in names}
    return Milestones(
        **{n: None if v is None else T0 + timedelta(seconds=v) for n, v in values.items()}
    )


@st.composite
def any_targets(draw: st.DrawFn) -> KpiTargets:
    minutes = sorted(draw(st.lists(st.integers(1, 20_000), min_size=5, max_size=5)))
    keep = draw(st.lists(st.booleans(), min_size=5, max_size=5))
    return KpiTargets(
        **{
            f"{kpi.value}_minutes": value if kept else None
            for kpi, value, kept in zip(Kpi, minutes, keep, strict=True)
        }
    )


_RANK = {KpiStatus.RUNNING: 0, KpiStatus.MET: 1, KpiStatus.BREACHED: 2}


@given(any_milestones(), any_targets(), offsets, offsets, st.sampled_from(list(Kpi)))
def test_more_elapsed_time_never_turns_breached_back(
    milestones: Milestones, targets: KpiTargets, a: int, b: int, kpi: Kpi
) -> None:
    earlier, later = sorted((a, b))
    before = figure(kpi, milestones, targets, T0 + timedelta(seconds=earlier))
    after = figure(kpi, milestones, targets, T0 + timedelta(seconds=later))
    if before.status == KpiStatus.BREACHED:
        assert after.status == KpiStatus.BREACHED
    if before.status == KpiStatus.MET:
        assert after.status == KpiStatus.MET
    if before.elapsed is not None and after.elapsed is not None:
        assert after.elapsed >= before.elapsed


@given(any_milestones(), any_targets(), offsets)
def test_figures_are_never_negative(milestones: Milestones, targets: KpiTargets, now: int) -> None:
    for result in figures(milestones, targets, T0 + timedelta(seconds=now)):
        for value in (result.elapsed, result.time_left, result.overrun):
            assert value is None or value >= timedelta(0)
        if result.status == KpiStatus.RUNNING:
            assert result.time_left is not None and result.time_left >= timedelta(0)
        if result.status == KpiStatus.BREACHED:
            assert result.overrun is not None and result.overrun > timedelta(0)
        if result.measured_from is not None:
            assert (result.measured_from == Milestone.IMPACT_STARTED) == (
                milestones.impact_started is not None
            )


@given(any_milestones(), any_targets(), st.sampled_from(list(Kpi)))
def test_an_open_milestone_breaches_exactly_after_its_deadline(
    milestones: Milestones, targets: KpiTargets, kpi: Kpi
) -> None:
    open_ = Milestones(
        **{
            **{name: getattr(milestones, name) for name in Milestones.__dataclass_fields__},
            kpi.milestone.value: None,
        }
    )
    at_deadline = figure(kpi, open_, targets, T0)
    if at_deadline.deadline is None or at_deadline.status == KpiStatus.UNMEASURED:
        return
    deadline = at_deadline.deadline
    assert figure(kpi, open_, targets, deadline).status == KpiStatus.RUNNING
    just_after = figure(kpi, open_, targets, deadline + timedelta(microseconds=1))
    assert just_after.status == KpiStatus.BREACHED


@given(
    st.lists(
        st.builds(
            lambda ms, sev, unit: IncidentTimes("INC", sev, ms, {"unit": unit}),
            any_milestones(),
            st.sampled_from(["sev1", "sev2"]),
            st.sampled_from(["a", "b"]),
        ),
        max_size=12,
    ).flatmap(lambda xs: st.tuples(st.just(xs), st.permutations(xs))),
    st.booleans(),
)
def test_aggregates_do_not_depend_on_order(
    pair: tuple[list[IncidentTimes], list[IncidentTimes]], fallback: bool
) -> None:
    original, shuffled = pair
    assert by_severity(original, allow_declared_clock=fallback) == by_severity(
        shuffled, allow_declared_clock=fallback
    )
    assert by_group(original, "unit") == by_group(shuffled, "unit")


@given(st.lists(any_milestones(), max_size=15), st.sampled_from(list(Kpi)), st.booleans())
def test_every_incident_is_counted_once_and_the_statistics_are_ordered(
    history: list[Milestones], kpi: Kpi, fallback: bool
) -> None:
    incidents = [IncidentTimes(str(i), "sev1", m) for i, m in enumerate(history)]
    summary = summarise(kpi, incidents, allow_declared_clock=fallback)
    assert summary.count + summary.missing_milestone + summary.missing_clock == len(history)
    if summary.count:
        assert summary.mean is not None and summary.median is not None
        assert summary.p90 is not None
        assert timedelta(0) <= summary.median <= summary.p90
        assert summary.mean >= timedelta(0)
    else:
        assert summary.mean is summary.median is summary.p90 is None
