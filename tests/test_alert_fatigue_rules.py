"""The fatigue report's tuning thresholds and business hours, as properties."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tocsin.alerts.fatigue import hours
from tocsin.alerts.fatigue.suggestions import (
    MIN_FIRED,
    Kind,
    Usage,
    should_add_for,
    should_delete,
    suggest,
)


@st.composite
def usages(draw: st.DrawFn) -> Usage:
    fired = draw(st.integers(0, 500))
    resolved = draw(st.integers(0, fired))
    paged = draw(st.integers(0, fired + 5))
    return Usage(
        fired=fired,
        resolved=resolved,
        quick=draw(st.integers(0, resolved)),
        acted=draw(st.integers(0, fired)),
        paged=paged,
        acknowledged=draw(st.integers(0, paged)),
        burst_pages=draw(st.integers(0, max(paged - 1, 0))),
        days=draw(st.sampled_from([1.0, 7.0, 30.0])),
    )


def kinds(usage: Usage) -> set[Kind]:
    return {s.kind for s in suggest(usage)}


@given(usages())
def test_deleting_excludes_raising_the_threshold_or_demoting(usage: Usage) -> None:
    found = kinds(usage)
    if Kind.DELETE in found:
        assert not found & {Kind.RAISE_THRESHOLD, Kind.DEMOTE_TO_TICKET}


@given(usages())
def test_a_rule_acted_on_is_never_deleted_and_one_never_acted_on_often_is(usage: Usage) -> None:
    found = kinds(usage)
    assert (Kind.DELETE in found) == (usage.fired >= MIN_FIRED and usage.acted == 0)


@given(usages())
def test_acting_on_one_more_firing_never_adds_a_suggestion_to_delete_or_demote(
    usage: Usage,
) -> None:
    if usage.acted >= usage.fired:
        return
    more = replace(usage, acted=usage.acted + 1)
    assert Kind.DELETE not in kinds(more) - kinds(usage)


@given(usages())
def test_more_quick_resolutions_never_withdraw_the_for_duration(usage: Usage) -> None:
    if usage.quick >= usage.resolved:
        return
    quicker = replace(usage, quick=usage.quick + 1)
    assert should_add_for(quicker) or not should_add_for(usage)


@given(usages())
def test_every_suggestion_carries_its_figures(usage: Usage) -> None:
    for suggestion in suggest(usage):
        assert any(ch.isdigit() for ch in suggestion.evidence)


@given(usages())
def test_too_little_history_suggests_nothing_but_grouping_or_demoting_pages(usage: Usage) -> None:
    if usage.fired < MIN_FIRED and usage.resolved < MIN_FIRED:
        assert kinds(usage) <= {Kind.GROUP, Kind.DEMOTE_TO_TICKET}
        assert not should_delete(usage)


instants = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)
zones = st.sampled_from(
    ["UTC", "Europe/Paris", "America/New_York", "Asia/Tokyo", "Australia/Lord_Howe"]
)


@given(instants, zones)
def test_weekends_are_off_hours_in_the_teams_zone(at: datetime, zone: str) -> None:
    local = at.astimezone(ZoneInfo(zone))
    if local.weekday() >= 5:
        assert hours.is_off_hours(at, ZoneInfo(zone), hours.DEFAULT_HOURS)


@given(instants, zones)
def test_off_hours_follow_local_wall_clock_time(at: datetime, zone: str) -> None:
    local = at.astimezone(ZoneInfo(zone))
    inside = local.weekday() < 5 and time(9) <= local.time() < time(18)
    assert hours.is_off_hours(at, ZoneInfo(zone), hours.DEFAULT_HOURS) == (not inside)


@given(instants)
def test_a_week_later_is_the_same_answer_in_utc(at: datetime) -> None:
    zone = ZoneInfo("UTC")
    later = at + timedelta(days=7)
    assert hours.is_off_hours(at, zone, hours.DEFAULT_HOURS) == hours.is_off_hours(
        later, zone, hours.DEFAULT_HOURS
    )


def test_business_hours_are_parsed_and_refused_when_malformed() -> None:
    assert str(hours.parse("08:30-17:00")) == "08:30-17:00"
    assert str(hours.parse("00:00-24:00")) == "00:00-24:00"
    for bad in ("9-5", "18:00-09:00", "10:00-10:00", "25:00-26:00", "", "00:00-24:30"):
        with pytest.raises(ValueError):
            hours.parse(bad)
