"""Teams and their members.

Membership lives in the auth domain's table (it scopes what a user may change); adding goes
through its service so the record looks the same wherever it was made.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from tocsin.auth import service as auth
from tocsin.auth.models import TeamMembership, User
from tocsin.catalog.models import Service, Team
from tocsin.catalog.schemas import MemberIn, MemberOut, TeamCreate, TeamOut, TeamUpdate
from tocsin.catalog.service.common import (
    Who,
    actor_of,
    by_slug,
    changed_fields,
    ensure_new_slug,
    finish,
    record,
    reject_null,
    require_admin,
    state,
)
from tocsin.errors import Conflict, Invalid, NotFound


async def _members(session: AsyncSession, team_ids: list[int]) -> dict[int, list[MemberOut]]:
    out: dict[int, list[MemberOut]] = {i: [] for i in team_ids}
    if not team_ids:
        return out
    rows = await session.execute(
        sa.select(TeamMembership.team_id, TeamMembership.role, User.id, User.email, User.name)
        .join(User, User.id == TeamMembership.user_id)
        .where(TeamMembership.team_id.in_(team_ids))
        .order_by(User.email)
    )
    for team_id, role, user_id, email, name in rows:
        out[team_id].append(MemberOut(user_id=user_id, email=email, name=name, role=role))
    return out


async def _owned(session: AsyncSession, team_ids: list[int]) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {i: [] for i in team_ids}
    if not team_ids:
        return out
    rows = await session.execute(
        sa.select(Service.owner_team_id, Service.slug)
        .where(Service.owner_team_id.in_(team_ids))
        .order_by(Service.slug)
    )
    for team_id, slug in rows:
        if team_id is not None:
            out[team_id].append(slug)
    return out


async def _outs(session: AsyncSession, teams: list[Team]) -> list[TeamOut]:
    ids = [t.id for t in teams]
    members = await _members(session, ids)
    owned = await _owned(session, ids)
    return [
        TeamOut.model_validate(t).model_copy(
            update={"members": members[t.id], "services": owned[t.id]}
        )
        for t in teams
    ]


async def _state(session: AsyncSession, team: Team) -> dict[str, Any]:
    members = (await _members(session, [team.id]))[team.id]
    return state(team, members=[{"email": m.email, "role": m.role} for m in members])


async def list_teams(session: AsyncSession) -> list[TeamOut]:
    teams = list((await session.scalars(sa.select(Team).order_by(Team.slug))).all())
    return await _outs(session, teams)


async def get_team(session: AsyncSession, slug: str) -> TeamOut:
    return (await _outs(session, [await by_slug(session, Team, slug)]))[0]


async def team_id(session: AsyncSession, slug: str) -> int:
    """The database id behind a slug, for domains that keep a foreign key to a team."""
    return (await by_slug(session, Team, slug)).id


async def create_team(
    session: AsyncSession, who: Who, body: TeamCreate, *, commit: bool = True
) -> TeamOut:
    require_admin(who, "teams")
    await ensure_new_slug(session, Team, body.slug)
    team = Team(
        slug=body.slug,
        name=body.name,
        description=body.description,
        email=body.email,
        chat_channel=body.chat_channel,
    )
    session.add(team)
    await session.flush()
    if body.members is not None:
        await _sync_members(session, who, team, body.members)
    record(
        session, who, "catalog.team.create", "team", team.slug, after=await _state(session, team)
    )
    view = await get_team(session, team.slug)
    await finish(session, commit, "catalog.team.created", {"slug": team.slug})
    return view


async def update_team(
    session: AsyncSession, who: Who, slug: str, body: TeamUpdate, *, commit: bool = True
) -> TeamOut:
    team = await by_slug(session, Team, slug)
    require_admin(who, "teams")
    changes = changed_fields(body)
    reject_null(changes, ["name", "description"])
    before = await _state(session, team)
    for field in ("name", "description", "email", "chat_channel"):
        if field in changes:
            setattr(team, field, changes[field])
    if changes.get("members") is not None:
        await _sync_members(session, who, team, body.members or [])
    await session.flush()
    record(
        session,
        who,
        "catalog.team.update",
        "team",
        slug,
        before=before,
        after=await _state(session, team),
    )
    view = await get_team(session, slug)
    await finish(session, commit, "catalog.team.updated", {"slug": slug})
    return view


async def delete_team(session: AsyncSession, who: Who, slug: str, *, commit: bool = True) -> None:
    """Refused while the team owns services: they would silently become nobody's."""
    team = await by_slug(session, Team, slug)
    require_admin(who, "teams")
    owned = (await _owned(session, [team.id]))[team.id]
    if owned:
        raise Conflict(
            f"team {slug} still owns {', '.join(owned)}; give those services another owner first"
        )
    before = await _state(session, team)
    await session.execute(sa.delete(TeamMembership).where(TeamMembership.team_id == team.id))
    await session.delete(team)
    record(session, who, "catalog.team.delete", "team", slug, before=before)
    await finish(session, commit, "catalog.team.deleted", {"slug": slug})


async def set_team_members(
    session: AsyncSession, who: Who, slug: str, members: list[MemberIn], *, commit: bool = True
) -> TeamOut:
    """Make the team's members exactly `members` (by e-mail), leaving unchanged ones alone."""
    team = await by_slug(session, Team, slug)
    require_admin(who, "team membership")
    await _sync_members(session, who, team, members)
    view = await get_team(session, slug)
    await finish(session, commit, "catalog.team.updated", {"slug": slug})
    return view


async def add_team_member(
    session: AsyncSession, who: Who, slug: str, member: MemberIn, *, commit: bool = True
) -> TeamOut:
    """Add one member, or change their role if they already belong to the team."""
    team = await by_slug(session, Team, slug)
    require_admin(who, "team membership")
    user = await _user(session, member.email, "email")
    await auth.set_team_membership(
        session,
        actor_of(who),
        user_id=user.id,
        team_id=team.id,
        role=member.role.value,
        commit=False,
    )
    view = await get_team(session, slug)
    await finish(session, commit, "catalog.team.updated", {"slug": slug})
    return view


async def remove_team_member(
    session: AsyncSession, who: Who, slug: str, user_id: int, *, commit: bool = True
) -> TeamOut:
    team = await by_slug(session, Team, slug)
    require_admin(who, "team membership")
    membership = await session.scalar(
        sa.select(TeamMembership).where(
            TeamMembership.team_id == team.id, TeamMembership.user_id == user_id
        )
    )
    if membership is None:
        raise NotFound("member of team " + slug + ": user", user_id)
    await _remove(session, who, membership)
    view = await get_team(session, slug)
    await finish(session, commit, "catalog.team.updated", {"slug": slug})
    return view


async def _user(session: AsyncSession, email: str, field: str) -> User:
    user = await auth.find_user_by_email(session, email)
    if user is None:
        raise Invalid(field, f"there is no user with e-mail {email}")
    return user


async def _sync_members(
    session: AsyncSession, who: Who, team: Team, members: list[MemberIn]
) -> None:
    wanted: dict[int, str] = {}
    for i, member in enumerate(members):
        user = await _user(session, member.email, f"members.{i}.email")
        wanted[user.id] = member.role.value
    current = {
        m.user_id: m
        for m in await session.scalars(
            sa.select(TeamMembership).where(TeamMembership.team_id == team.id)
        )
    }
    for user_id, membership in current.items():
        if user_id not in wanted:
            await _remove(session, who, membership)
    for user_id, role in wanted.items():
        existing = current.get(user_id)
        if existing is None or existing.role != role:
            await auth.set_team_membership(
                session, actor_of(who), user_id=user_id, team_id=team.id, role=role, commit=False
            )


async def _remove(session: AsyncSession, who: Who, membership: TeamMembership) -> None:
    await auth.remove_team_membership(
        session,
        actor_of(who),
        user_id=membership.user_id,
        team_id=membership.team_id,
        commit=False,
    )
    await session.flush()
