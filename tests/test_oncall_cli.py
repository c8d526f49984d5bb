"""`tocsin oncall who` and `tocsin oncall schedules` as a responder runs them: the answer a
shell gives is the one the pager would act on."""

from __future__ import annotations

from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession

from tests.cli import tocsin
from tests.factories import Caller
from tests.test_oncall import layer, make_policy, make_schedule, people

__all__ = ["people"]  # the fixture, shared with the API tests


async def test_who_names_each_level_at_a_moment_across_the_berlin_handoff(
    client: AsyncClient, session: AsyncSession, people: dict[str, Caller], database_url: str
) -> None:
    ada, bob, cy = people["ada"], people["bob"], people["cy"]
    primary = await make_schedule(client, ada, [layer([ada, bob])])
    backup = await make_schedule(client, ada, [layer([cy])], slug="backup")
    await make_policy(
        client,
        ada,
        [
            {"timeout_minutes": 10, "targets": [{"type": "schedule", "id": primary["id"]}]},
            {"timeout_minutes": 10, "targets": [{"type": "schedule", "id": backup["id"]}]},
        ],
    )
    await session.rollback()  # SQLite: the command line needs the write lock
    label = {c.user.id: c.user.name or c.user.email for c in (ada, bob, cy)}

    # 2026-01-02 09:00 in Berlin is 08:00 UTC: Bob takes over from Ada.
    before = await tocsin(
        "oncall",
        "who",
        "--service",
        "checkout",
        "--at",
        "2026-01-02T07:59:00Z",
        database_url=database_url,
    )
    after = await tocsin(
        "oncall",
        "who",
        "--service",
        "checkout",
        "--at",
        "2026-01-02T09:00:00+01:00",
        database_url=database_url,
    )
    assert before.code == after.code == 0, before.err + after.err
    assert before.out.splitlines()[1:] == [
        f"level 1: {label[ada.user.id]}",
        f"level 2: {label[cy.user.id]}",
    ]
    assert after.out.splitlines()[1:] == [
        f"level 1: {label[bob.user.id]}",
        f"level 2: {label[cy.user.id]}",
    ]

    listed = await tocsin(
        "oncall", "schedules", "--at", "2026-01-02T08:00:00Z", database_url=database_url
    )
    assert listed.code == 0, listed.err
    rows = sorted(line.split("\t") for line in listed.out.splitlines())
    assert rows == [
        ["backup", "payments", label[cy.user.id]],
        ["primary", "payments", label[bob.user.id]],
    ]


async def test_who_refuses_unknown_services_and_times_without_a_zone(
    session: AsyncSession, people: dict[str, Caller], database_url: str
) -> None:
    await session.rollback()
    unknown = await tocsin("oncall", "who", "--service", "nowhere", database_url=database_url)
    assert unknown.code == 1 and "nowhere" in unknown.err
    naive = await tocsin(
        "oncall",
        "who",
        "--service",
        "checkout",
        "--at",
        "2026-01-02T08:00",
        database_url=database_url,
    )
    assert naive.code == 1 and "--at" in naive.err and "zone" in naive.err
    unrouted = await tocsin("oncall", "who", "--service", "checkout", database_url=database_url)
    assert unrouted.code == 2 and "no escalation policy" in unrouted.err
