"""Customer report matching, clustering and the impact-start proposal, as pure rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from tocsin.incidents.reports import evidence, matching

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
minutes = st.integers(min_value=-600, max_value=600).map(lambda m: T0 + timedelta(minutes=m))
services = st.sampled_from(["checkout", "search", "payments"])
TOL = matching.DEFAULT_TOLERANCE


@st.composite
def windows(draw: st.DrawFn) -> matching.Window:
    start = draw(minutes)
    length = draw(st.none() | st.integers(min_value=0, max_value=300))
    end = None if length is None else start + timedelta(minutes=length)
    reach = frozenset(draw(st.sets(services, min_size=1)))
    return matching.Window(draw(st.integers(1, 1000)), start, end, reach)


@given(st.lists(windows(), max_size=6), services, minutes)
def test_a_report_matches_only_an_incident_that_covers_its_service_and_time(
    found: list[matching.Window], service: str, at: datetime
) -> None:
    found = [matching.Window(i, w.start, w.end, w.services) for i, w in enumerate(found)]
    report = matching.Report(1, service, at)
    chosen = matching.match(report, found, TOL)
    covering = [w for w in found if matching.covers(w, report, TOL)]
    if chosen is None:
        assert covering == []
        return
    window = next(w for w in covering if w.incident_id == chosen)
    assert service in window.services
    assert window.start - TOL <= at
    assert window.end is None or at <= window.end + TOL
    assert all(w.start <= window.start for w in covering)


def test_tolerance_widens_the_window_on_both_sides() -> None:
    window = matching.Window(7, T0, T0 + timedelta(hours=1), frozenset({"checkout"}))
    inside = [T0 - TOL, T0 + timedelta(hours=1) + TOL]
    outside = [
        T0 - TOL - timedelta(seconds=1),
        T0 + timedelta(hours=1) + TOL + timedelta(seconds=1),
    ]
    assert all(
        matching.match(matching.Report(1, "checkout", t), [window], TOL) == 7 for t in inside
    )
    assert all(
        matching.match(matching.Report(1, "checkout", t), [window], TOL) is None for t in outside
    )
    assert matching.match(matching.Report(1, "search", T0), [window], TOL) is None


@given(
    st.lists(st.tuples(services, minutes), max_size=40),
    st.integers(min_value=2, max_value=5),
    st.integers(min_value=1, max_value=120).map(lambda m: timedelta(minutes=m)),
)
def test_clusters_are_big_enough_tight_enough_and_disjoint(
    raw: list[tuple[str, datetime]], size: int, window: timedelta
) -> None:
    reports = [matching.Report(i, s, t) for i, (s, t) in enumerate(raw)]
    by_id = {r.id: r for r in reports}
    found = matching.clusters(reports, size, window)
    seen: set[int] = set()
    for cluster in found:
        members = [by_id[i] for i in cluster.report_ids]
        assert len(members) >= size
        assert {m.service for m in members} == {cluster.service}
        assert all(cluster.first_at <= m.at <= cluster.first_at + window for m in members)
        assert not seen & set(cluster.report_ids)
        seen |= set(cluster.report_ids)
    # a burst of `size` reports on one service within the window is always found
    burst = [matching.Report(1000 + i, "burst", T0 + window * i / size) for i in range(size)]
    assert [c.service for c in matching.clusters(burst, size, window)] == ["burst"]


credible = st.booleans()
items = st.lists(
    st.builds(
        evidence.Evidence,
        source=st.sampled_from(["alert", "customer-report", "synthetic-check"]),
        at=minutes,
        description=st.text(max_size=5),
        credible=credible,
    ),
    max_size=12,
)


@given(items)
def test_the_proposal_is_the_earliest_credible_evidence_and_shows_all(
    found: list[evidence.Evidence],
) -> None:
    proposal = evidence.propose(found)
    assert sorted(proposal.evidence, key=id) == sorted(found, key=id)
    trusted = [e for e in found if e.credible]
    if not trusted:
        assert proposal.at is None and proposal.chosen is None
    else:
        assert proposal.at == min(e.at for e in trusted)
        assert proposal.chosen is not None and proposal.chosen.credible
    assert evidence.propose(reversed(found)) == proposal
