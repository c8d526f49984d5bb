"""The catalog and policy service layer as configuration as code uses it: many changes, one
transaction, and nothing announced or kept unless it commits."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.conftest import count_rows
from tocsin import events
from tocsin.audit.models import AuditEntry
from tocsin.audit.service import Actor
from tocsin.auth import service as auth
from tocsin.auth.models import TeamMembership, User
from tocsin.auth.permissions import Role
from tocsin.auth.principal import Principal
from tocsin.catalog import service as catalog
from tocsin.catalog.graph import DependencyKind
from tocsin.catalog.models import Service, Team
from tocsin.catalog.schemas import (
    CustomerTierCreate,
    DependencyIn,
    MemberIn,
    ServiceCreate,
    ServiceUpdate,
    TeamCreate,
)
from tocsin.errors import Invalid, ProblemError
from tocsin.policy import service as policy
from tocsin.policy.schemas import SeverityCreate

CLI = Actor.system("cli")


async def _responder(session: AsyncSession) -> User:
    return await auth.create_user(session, CLI, email="rita@example.test", role=Role.RESPONDER)


async def _apply_file(session: AsyncSession) -> None:
    """What `tocsin apply` does with a small file: every object, no commit."""
    await policy.ensure_default_policies(session, CLI, commit=False)
    await catalog.create_team(session, CLI, TeamCreate(slug="core", name="Core"), commit=False)
    for slug in ["db", "api"]:
        await catalog.create_service(
            session,
            CLI,
            ServiceCreate(slug=slug, name=slug, owner_team="core"),
            commit=False,
        )
    await catalog.set_dependencies(session, CLI, "api", [DependencyIn(service="db")], commit=False)
    await catalog.create_customer_tier(
        session,
        CLI,
        CustomerTierCreate.model_validate(
            {
                "slug": "gold",
                "name": "Gold",
                "sla": {"availability_target_percent": 99.9, "response_minutes": {"sev1": 15}},
            }
        ),
        commit=False,
    )


async def test_many_changes_without_commit_vanish_on_rollback(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    async with sessionmaker() as session, events.bus.stream() as heard:
        await _apply_file(session)
        assert (await catalog.get_service(session, "api")).dependencies[0].service == "db"
        await session.rollback()
        assert heard.empty()
    async with sessionmaker() as session:
        for model in (Team, Service, AuditEntry):
            assert await count_rows(session, model) == 0
        assert await policy.list_severities(session) == []


async def test_many_changes_commit_together_and_are_all_audited(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    async with sessionmaker() as session:
        await _apply_file(session)
        await session.commit()
    async with sessionmaker() as session:
        graph = await catalog.dependency_graph(session)
        assert graph.depends_on("api") == {"db": DependencyKind.HARD}
        actions = list(
            (await session.scalars(sa.select(AuditEntry.action).order_by(AuditEntry.id))).all()
        )
        assert actions.count("policy.severity.create") == 4
        assert actions[-5:] == [
            "catalog.team.create",
            "catalog.service.create",
            "catalog.service.create",
            "catalog.service.dependencies",
            "catalog.customer_tier.create",
        ]


async def test_a_bad_step_halfway_lets_the_caller_roll_back_everything(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    async with sessionmaker() as session:
        await catalog.create_team(session, CLI, TeamCreate(slug="core", name="Core"), commit=False)
        with pytest.raises(Invalid) as refused:
            await catalog.create_service(
                session, CLI, ServiceCreate(slug="x", name="x", owner_team="nope"), commit=False
            )
        assert refused.value.errors == [
            {"field": "owner_team", "message": "there is no team 'nope'"}
        ]
        await session.rollback()
    async with sessionmaker() as session:
        assert await catalog.list_teams(session) == []


async def test_committed_writes_are_announced_after_commit(session: AsyncSession) -> None:
    async with events.bus.stream() as heard:
        await catalog.create_service(session, CLI, ServiceCreate(slug="db", name="DB"))
        event = heard.get_nowait()
    assert event.name == "catalog.service.created" and event.data == {"slug": "db"}


async def test_team_scoping_applies_to_principals_and_not_to_trusted_callers(
    session: AsyncSession,
) -> None:
    user = await _responder(session)
    await catalog.create_team(session, CLI, TeamCreate(slug="core", name="Core"))
    await catalog.create_team(session, CLI, TeamCreate(slug="web", name="Web"))
    await catalog.add_team_member(session, CLI, "core", MemberIn(email=user.email))
    core = await catalog.team_id(session, "core")
    responder = Principal.for_user(
        user_id=user.id,
        email=user.email,
        name=user.name,
        role=Role.RESPONDER,
        team_ids=frozenset({core}),
        via="token",
    )
    await catalog.create_service(
        session, responder, ServiceCreate(slug="db", name="DB", owner_team="core")
    )
    await catalog.create_service(
        session, CLI, ServiceCreate(slug="cdn", name="CDN", owner_team="web")
    )
    refused: list[Any] = []
    for attempt in (
        catalog.update_service(session, responder, "cdn", ServiceUpdate(name="mine")),
        catalog.update_service(session, responder, "db", ServiceUpdate(owner_team="web")),
        catalog.create_team(session, responder, TeamCreate(slug="x", name="x")),
    ):
        try:
            await attempt
        except ProblemError as exc:
            refused.append(exc.status)
    assert refused == [403, 403, 403]
    await session.rollback()
    moved = await catalog.update_service(session, CLI, "db", ServiceUpdate(owner_team="web"))
    assert moved.owner_team == "web"


async def test_deleting_a_team_ends_its_memberships(session: AsyncSession) -> None:
    user = await _responder(session)
    await catalog.create_team(
        session, CLI, TeamCreate(slug="core", name="Core", members=[MemberIn(email=user.email)])
    )
    assert await count_rows(session, TeamMembership) == 1
    await catalog.delete_team(session, CLI, "core")
    assert await count_rows(session, TeamMembership) == 0


async def test_a_severity_can_be_created_with_its_policy_in_one_call(
    session: AsyncSession,
) -> None:
    from tocsin.policy.schemas import SeverityPolicyIn

    created = await policy.create_severity(
        session,
        CLI,
        SeverityCreate(slug="p1", name="P1"),
        SeverityPolicyIn.model_validate({"postmortem": {"always": True}}),
    )
    assert created.rank == 1
    assert (await policy.get_policy(session, "p1")).postmortem.always is True
