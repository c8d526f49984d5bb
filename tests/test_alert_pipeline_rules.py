"""The pipeline's pure rules, property-tested: matchers mean what Alertmanager means, groups do
not depend on label order, corroboration and flapping only grow with more evidence, inhibition
follows the dependency graph, and a maintenance occurrence always covers the moment asked."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tocsin.alerts import matchers as m
from tocsin.alerts.correlation import (
    Cause,
    Rule,
    Sighting,
    corroboration,
    group_key,
    inhibiting_cause,
    is_flapping,
)
from tocsin.alerts.maintenance import RecurrenceError, Window

names = st.from_regex(r"[a-z_][a-z0-9_]{0,8}", fullmatch=True)
values = st.text(alphabet="abcxyz019-", max_size=6)
labels = st.dictionaries(names, values, max_size=5)
NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


@given(labels, names, values)
def test_equal_and_not_equal_are_complements(found: dict[str, str], name: str, value: str) -> None:
    eq = m.Matcher(name, m.Op.EQUAL, value).matches(found)
    ne = m.Matcher(name, m.Op.NOT_EQUAL, value).matches(found)
    assert eq != ne


@given(labels, names, st.sampled_from(["a.*", "x|y", "", "[0-9]+", "abc"]))
def test_regex_and_not_regex_are_complements_and_anchored(
    found: dict[str, str], name: str, pattern: str
) -> None:
    yes = m.Matcher(name, m.Op.REGEX, pattern).matches(found)
    no = m.Matcher(name, m.Op.NOT_REGEX, pattern).matches(found)
    assert yes != no
    assert yes == (re.fullmatch(pattern, found.get(name, "")) is not None)


@given(names, values)
def test_a_missing_label_matches_as_the_empty_string(name: str, value: str) -> None:
    assert m.Matcher(name, m.Op.EQUAL, "").matches({})
    assert m.Matcher(name, m.Op.EQUAL, value).matches({}) == (value == "")


def test_silences_that_would_match_everything_are_refused() -> None:
    with pytest.raises(m.MatcherError):
        m.check_silence([])
    with pytest.raises(m.MatcherError):
        m.check_silence([m.Matcher("env", m.Op.REGEX, ".*")])
    with pytest.raises(m.MatcherError):
        m.parse([{"name": "env", "op": "=~", "value": "("}])
    m.check_silence([m.Matcher("env", m.Op.EQUAL, "prod")])


@given(labels, st.lists(names, max_size=4))
def test_the_group_key_ignores_order_and_unrelated_labels(
    found: dict[str, str], group_by: list[str]
) -> None:
    key = group_key("svc", found, group_by)
    assert key == group_key("svc", dict(reversed(list(found.items()))), list(reversed(group_by)))
    extra = {**found, "zz_unrelated": "1"} if "zz_unrelated" not in group_by else found
    assert key == group_key("svc", extra, group_by)
    assert key != group_key("other", found, group_by)


sightings = st.lists(
    st.builds(
        Sighting,
        at=st.integers(0, 1200).map(lambda s: NOW - timedelta(seconds=s)),
        source=st.sampled_from(["1", "2", "3"]),
        synthetic=st.booleans(),
    ),
    max_size=8,
)
rules = st.builds(
    Rule,
    min_alerts=st.integers(1, 5),
    min_sources=st.integers(1, 3),
    window=st.integers(60, 900).map(lambda s: timedelta(seconds=s)),
)


@given(rules, sightings, sightings)
def test_more_evidence_never_undoes_corroboration(
    rule: Rule, seen: list[Sighting], more: list[Sighting]
) -> None:
    if corroboration(rule, seen, NOW) is not None:
        assert corroboration(rule, seen + more, NOW) is not None


@given(rules, sightings)
def test_evidence_outside_the_window_does_not_count(rule: Rule, seen: list[Sighting]) -> None:
    old = [Sighting(s.at - timedelta(days=1), s.source, s.synthetic) for s in seen]
    if rule.needs_corroboration:
        assert corroboration(rule, old, NOW) is None


@given(st.lists(st.integers(0, 3600), max_size=20), st.integers(1, 10))
def test_flapping_counts_changes_within_the_window(offsets: list[int], threshold: int) -> None:
    rule = Rule(flap_changes=threshold, flap_window=timedelta(minutes=30))
    changes = [NOW - timedelta(seconds=s) for s in offsets]
    inside = sum(1 for s in offsets if s <= 1800)
    assert is_flapping(rule, changes, NOW) == (inside >= threshold)
    assert not is_flapping(Rule(flap_changes=0), changes, NOW)


@given(st.sets(st.sampled_from(["a", "b", "c", "d"])), st.sampled_from(["a", "b", "c", "d"]))
def test_inhibition_only_comes_from_upstream_or_an_incident_on_the_service(
    upstream: set[str], target: str
) -> None:
    causes = [Cause(s, alert_id=i) for i, s in enumerate("abcd")]
    found = inhibiting_cause("svc", upstream, causes)
    assert (found is not None) == bool(upstream)
    assert found is None or found.service in upstream
    assert inhibiting_cause("svc", upstream, [Cause("svc", alert_id=9)]) is None
    with_incident = inhibiting_cause("svc", upstream, [*causes, Cause("svc", incident_id=1)])
    assert with_incident == Cause("svc", incident_id=1)


@given(
    st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2027, 1, 1)),
    st.integers(1, 600),
    st.sampled_from(["UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata"]),
    st.sampled_from([None, "FREQ=DAILY", "FREQ=WEEKLY;BYDAY=SU,WE", "FREQ=MONTHLY;BYMONTHDAY=1"]),
    st.integers(0, 60 * 24 * 90),
)
def test_an_active_occurrence_always_covers_the_moment(
    start: datetime, minutes: int, zone: str, rule: str | None, later: int
) -> None:
    window = Window(start, timedelta(minutes=minutes), zone, rule)
    at = start.replace(tzinfo=window.zone()).astimezone(UTC) + timedelta(minutes=later)
    found = window.active_occurrence(at)
    if found is not None:
        assert found[0] <= at < found[1]
    if rule is None:
        assert (found is not None) == (later < minutes) or zone != "UTC"


def test_a_weekly_window_follows_wall_clock_time_across_daylight_saving() -> None:
    window = Window(datetime(2026, 3, 1, 2, 30), timedelta(hours=1), "Europe/Paris", "FREQ=WEEKLY")
    winter = window.active_occurrence(datetime(2026, 3, 1, 1, 45, tzinfo=UTC))
    summer = window.active_occurrence(datetime(2026, 4, 5, 0, 45, tzinfo=UTC))
    assert winter is not None and winter[0].hour == 1
    assert summer is not None and summer[0].hour == 0
    assert window.active_occurrence(datetime(2026, 4, 5, 1, 45, tzinfo=UTC)) is None


def test_bad_zones_and_rules_are_refused() -> None:
    with pytest.raises(RecurrenceError):
        Window(NOW, timedelta(hours=1), "Nowhere/Town").check()
    with pytest.raises(RecurrenceError):
        Window(NOW, timedelta(hours=1), "UTC", "FREQ=SOMETIMES").check()
    with pytest.raises(RecurrenceError):
        Window(NOW, timedelta(0)).check()
