"""The pure rules behind a dashboard card: missing roles, update state, ordering, and the
stakeholder whitelist."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from tocsin.dashboards import projection
from tocsin.dashboards.projection import UpdateState

ROLES = st.sampled_from(
    [projection.COMMANDER, projection.COMMUNICATIONS, projection.TECHNICAL, "scribe", "liaison"]
)
MOMENTS = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC)
)


@given(held=st.sets(ROLES), rank=st.one_of(st.none(), st.integers(1, 10)))
def test_an_incident_without_a_commander_always_says_so_first(
    held: set[str], rank: int | None
) -> None:
    missing = projection.missing_roles(held, rank)
    assert (projection.COMMANDER in missing) == (projection.COMMANDER not in held)
    if missing and projection.COMMANDER not in held:
        assert missing[0] == projection.COMMANDER
    assert not set(missing) & held


@given(held=st.sets(ROLES), rank=st.integers(1, 10))
def test_only_the_worst_severities_expect_communications_and_technical_leads(
    held: set[str], rank: int
) -> None:
    missing = set(projection.missing_roles(held, rank))
    for role in (projection.COMMUNICATIONS, projection.TECHNICAL):
        expected = rank <= projection.TOP_RANKS and role not in held
        assert (role in missing) == expected


@given(now=MOMENTS, offset=st.integers(-10_000, 10_000))
def test_an_update_is_overdue_from_its_due_time_and_flagged_shortly_before(
    now: datetime, offset: int
) -> None:
    due = now + timedelta(seconds=offset)
    state = projection.update_state(now, due)
    if offset <= 0:
        assert state is UpdateState.OVERDUE
    elif offset <= projection.DUE_SOON.total_seconds():
        assert state is UpdateState.DUE_SOON
    else:
        assert state is UpdateState.ON_TRACK
    assert projection.update_state(now, None) is UpdateState.NONE


@given(now=MOMENTS, opened=MOMENTS)
def test_an_age_is_never_negative(now: datetime, opened: datetime) -> None:
    age = projection.age_seconds(now, opened)
    assert age >= 0
    if opened <= now:
        assert age == int((now - opened).total_seconds())


@given(statuses=st.lists(st.sampled_from(["met", "running", "on_track", "at_risk", "breached"])))
def test_a_card_is_coloured_by_its_worst_clock(statuses: list[str]) -> None:
    worst = projection.worst_clock(statuses)
    if "breached" in statuses:
        assert worst == "breached"
    elif "at_risk" in statuses:
        assert worst == "at_risk"
    else:
        assert worst is None


@given(values=st.dictionaries(st.text(max_size=20), st.text(max_size=20)))
def test_the_stakeholder_card_carries_whitelisted_fields_only(values: dict[str, str]) -> None:
    technical = {**values, "services": "ledger-db", "summary": "OOM", "timeline": "x"}
    card = projection.stakeholder_card(technical)
    assert set(card) == set(projection.STAKEHOLDER_FIELDS)
    assert not {"services", "summary", "timeline"} & set(card)
    assert all(card[name] == technical.get(name) for name in card)


@given(visibility=st.sampled_from(["public", "private"]), active=st.booleans())
def test_private_incidents_never_reach_the_stakeholder_screen(
    visibility: str, active: bool
) -> None:
    shown = projection.shown_on_stakeholder_screen(visibility, active)
    assert shown == (active and visibility == "public")


@given(status=st.text(max_size=20))
def test_every_status_reads_as_a_plain_sentence(status: str) -> None:
    text = projection.plain_status(status)
    assert text.endswith(".") and "_" not in text


@given(
    a=st.tuples(st.integers(1, 5), st.booleans(), st.booleans(), MOMENTS),
    b=st.tuples(st.integers(1, 5), st.booleans(), st.booleans(), MOMENTS),
)
def test_worse_severity_then_overdue_then_missing_commander_comes_first(
    a: tuple[int, bool, bool, datetime], b: tuple[int, bool, bool, datetime]
) -> None:
    first, second = projection.Urgency(*a), projection.Urgency(*b)
    same_rank = first.severity_rank == second.severity_rank
    if first.severity_rank < second.severity_rank or (
        same_rank and first.overdue and not second.overdue
    ):
        assert first.key() < second.key()
