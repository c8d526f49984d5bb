"""Schedule layers, overrides and escalation steps as pure arithmetic, checked by property."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from tocsin.oncall import policy, rotation, schedule
from tocsin.oncall.rotation import Layer, Restriction, Rotation
from tocsin.oncall.schedule import OVERRIDE, Override

BERLIN = ZoneInfo("Europe/Berlin")
ZONES = st.sampled_from(
    [ZoneInfo(z) for z in ("Europe/Berlin", "America/New_York", "Australia/Sydney", "UTC")]
)
START = datetime(2026, 1, 1, tzinfo=UTC)

moments = st.integers(0, 400 * 24 * 60).map(lambda m: START + timedelta(minutes=m))
members = st.lists(st.integers(1, 5), min_size=1, max_size=4).map(tuple)
turns = st.sampled_from([timedelta(days=1), timedelta(days=7), timedelta(hours=12)]) | st.integers(
    1, 24 * 10
).map(lambda h: timedelta(hours=h))


@st.composite
def rotations(draw: st.DrawFn) -> Rotation:
    return Rotation(
        members=draw(members),
        zone=draw(ZONES),
        start_date=date(2026, 1, 1) + timedelta(days=draw(st.integers(0, 30))),
        handoff=time(draw(st.integers(0, 23)), draw(st.sampled_from([0, 15, 30]))),
        turn=draw(turns),
    )


@st.composite
def restrictions(draw: st.DrawFn) -> tuple[Restriction, ...]:
    return tuple(
        Restriction(
            start=time(draw(st.integers(0, 23))),
            length=timedelta(hours=draw(st.integers(1, 30))),
            weekday=draw(st.none() | st.integers(0, 6)),
        )
        for _ in range(draw(st.integers(0, 2)))
    )


@st.composite
def layers(draw: st.DrawFn) -> Layer:
    return Layer(draw(rotations()), draw(restrictions()))


@st.composite
def overrides(draw: st.DrawFn) -> Override:
    start = draw(moments)
    return Override(
        start, start + timedelta(minutes=draw(st.integers(1, 5000))), draw(st.integers(6, 9))
    )


def test_daily_berlin_handoff_stays_at_nine_local_across_both_dst_changes() -> None:
    rot = Rotation((1, 2), BERLIN, date(2026, 3, 20), time(9), timedelta(days=1))
    shifts = rot.turns(datetime(2026, 3, 20, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC))
    starts = [s.start.astimezone(BERLIN) for s in shifts]
    assert all(s.time() == time(9) for s in starts[1:])
    # The turn across the spring change is 23 hours long, across the autumn one 25.
    spring = next(s for s in shifts if s.start.astimezone(BERLIN).date() == date(2026, 3, 28))
    autumn = next(s for s in shifts if s.start.astimezone(BERLIN).date() == date(2026, 10, 24))
    assert spring.end - spring.start == timedelta(hours=23)
    assert autumn.end - autumn.start == timedelta(hours=25)
    assert [s.user_id for s in shifts[:3]] == [1, 2, 1]


def test_a_handoff_in_the_skipped_hour_moves_to_the_end_of_the_gap() -> None:
    wall = datetime(2026, 3, 29, 2, 30)
    assert rotation.wall_to_utc(wall, BERLIN) == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)
    repeated = datetime(2026, 10, 25, 2, 30)  # exists twice: the first one counts
    assert rotation.wall_to_utc(repeated, BERLIN) == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)


def test_business_hours_on_weekdays_follow_the_layer_zone() -> None:
    weekdays = tuple(Restriction(time(9), timedelta(hours=8), day) for day in range(5))
    layer = Layer(Rotation((1,), BERLIN, date(2026, 1, 1), time(0), timedelta(days=7)), weekdays)
    monday = datetime(2026, 7, 6, tzinfo=UTC)  # summer: Berlin is UTC+2
    cover = layer.coverage(monday, monday + timedelta(days=7))
    assert len(cover) == 5
    assert cover[0].start == datetime(2026, 7, 6, 7, tzinfo=UTC)
    assert cover[0].end == datetime(2026, 7, 6, 15, tzinfo=UTC)


def test_follow_the_sun_hands_over_between_zones() -> None:
    europe = Layer(
        Rotation((1,), BERLIN, date(2026, 1, 1), time(0), timedelta(days=1)),
        (Restriction(time(8), timedelta(hours=12)),),
    )
    america = Layer(
        Rotation((2,), ZoneInfo("America/New_York"), date(2026, 1, 1), time(0), timedelta(days=1))
    )
    day = datetime(2026, 2, 2, tzinfo=UTC)
    segments = schedule.render([america, europe], [], day, day + timedelta(days=1))
    assert [(s.start.hour, s.end.hour, s.user_id) for s in segments] == [
        (0, 7, 2),
        (7, 19, 1),
        (19, 0, 2),
    ]


@settings(max_examples=60, deadline=None)
@given(rotations(), moments, st.integers(1, 24 * 30))
def test_an_unrestricted_rotation_with_members_leaves_no_gap(
    rot: Rotation, start: datetime, hours: int
) -> None:
    begin = max(start, rot.handoff_at(0))
    end = begin + timedelta(hours=hours)
    shifts = rot.turns(begin, end)
    assert shifts[0].start == begin and shifts[-1].end == end
    assert all(a.end == b.start for a, b in itertools.pairwise(shifts))


@settings(max_examples=60, deadline=None)
@given(rotations(), moments, st.integers(24, 24 * 30))
def test_handoffs_happen_at_local_wall_time(rot: Rotation, start: datetime, hours: int) -> None:
    if rot.turn % timedelta(days=1):
        return  # sub-day turns hand off at several times of day
    shifts = rot.turns(start, start + timedelta(hours=hours))
    for shift in shifts[1:]:
        local = shift.start.astimezone(rot.zone)
        exists = rotation.local_naive(
            rotation.wall_to_utc(datetime.combine(local.date(), rot.handoff), rot.zone), rot.zone
        ) == datetime.combine(local.date(), rot.handoff)
        if exists:
            assert local.time() == rot.handoff


@settings(max_examples=50, deadline=None)
@given(st.lists(layers(), min_size=1, max_size=3), moments, st.integers(1, 24 * 14))
def test_the_final_schedule_is_the_highest_layer_with_someone(
    stack: list[Layer], start: datetime, hours: int
) -> None:
    end = start + timedelta(hours=hours)
    for segment in schedule.render(stack, [], start, end):
        probe = segment.start
        covering = [
            i
            for i, layer in enumerate(stack)
            if layer.coverage(probe, probe + timedelta(seconds=1))
        ]
        assert segment.source == max(covering)
        top = stack[segment.source].coverage(probe, probe + timedelta(seconds=1))
        assert top[0].user_id == segment.user_id


@settings(max_examples=50, deadline=None)
@given(
    st.lists(layers(), max_size=2),
    st.lists(overrides(), min_size=1, max_size=3),
    moments,
    st.integers(1, 24 * 14),
)
def test_overrides_win(
    stack: list[Layer], extra: list[Override], start: datetime, hours: int
) -> None:
    end = start + timedelta(hours=hours)
    for segment in schedule.render(stack, extra, start, end):
        active = [o for o in extra if o.start <= segment.start < o.end]
        if active:
            assert segment.source == OVERRIDE and segment.user_id == active[-1].user_id


@settings(max_examples=50, deadline=None)
@given(
    st.lists(layers(), max_size=3),
    st.lists(overrides(), max_size=2),
    moments,
    st.integers(1, 24 * 10),
    st.integers(1, 24 * 10),
)
def test_rendering_two_adjacent_ranges_equals_rendering_their_union(
    stack: list[Layer], extra: list[Override], a: datetime, first: int, second: int
) -> None:
    b, c = a + timedelta(hours=first), a + timedelta(hours=first + second)
    joined = schedule.merge(
        schedule.render(stack, extra, a, b) + schedule.render(stack, extra, b, c)
    )
    assert joined == schedule.render(stack, extra, a, c)


@given(st.integers(1, 6), st.integers(0, 4))
def test_escalation_visits_every_level_repeat_plus_one_times(levels: int, repeat: int) -> None:
    seen = [policy.FIRST]
    while (nxt := policy.next_position(seen[-1], levels, repeat)) is not None:
        seen.append(nxt)
    assert len(seen) == policy.total_steps(levels, repeat)
    assert [p.level for p in seen] == list(range(levels)) * (repeat + 1)


@given(
    st.lists(
        st.builds(policy.Target, st.sampled_from(["user", "schedule", "team"]), st.integers(1, 4))
    )
)
def test_a_level_reaches_each_person_once_in_target_order(targets: list[policy.Target]) -> None:
    on_call = {1: [10], 2: [], 3: [11], 4: [10]}
    teams = {1: [20, 21], 2: [21], 3: [], 4: [1]}
    people = policy.resolve(targets, on_call, teams)
    assert len(people) == len(set(people))
    expected = set()
    for t in targets:
        expected |= set({"user": [t.id], "schedule": on_call[t.id], "team": teams[t.id]}[t.kind])
    assert set(people) == expected
