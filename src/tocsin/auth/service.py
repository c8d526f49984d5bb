"""Use cases for users, tokens and browser sessions; each owns its transaction."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from tocsin.audit import service as audit
from tocsin.audit.service import Actor
from tocsin.audit.snapshot import snapshot
from tocsin.auth.models import ApiToken, BrowserSession, TeamMembership, User
from tocsin.auth.passwords import (
    MIN_PASSWORD_LENGTH,
    hash_password,
    needs_rehash,
    verify_password,
)
from tocsin.auth.permissions import ROLE_PERMISSIONS, TOKEN_SCOPES, Permission, Role
from tocsin.auth.principal import Principal
from tocsin.auth.secrets import TOKEN_PREFIX, digest, new_secret
from tocsin.clock import utcnow
from tocsin.errors import Conflict, Invalid, NotFound

LAST_USED_RESOLUTION = timedelta(minutes=1)
"""Token and session use is written at most once a minute: a busy token must not turn
every read into a write."""


def normalise_email(email: str) -> str:
    return email.strip().lower()


def parse_role(value: str, field: str = "role") -> Role:
    try:
        return Role(value)
    except ValueError:
        raise Invalid(field, f"must be one of {', '.join(r.value for r in Role)}") from None


def parse_scopes(values: Iterable[str], field: str = "scopes") -> frozenset[Permission]:
    scopes = set()
    for value in values:
        try:
            permission = Permission(value)
        except ValueError:
            permission = None
        if permission is None or permission not in TOKEN_SCOPES:
            allowed = ", ".join(sorted(p.value for p in TOKEN_SCOPES))
            raise Invalid(field, f"unknown scope {value!r}; known scopes: {allowed}")
        scopes.add(permission)
    return frozenset(scopes)


def check_password_strength(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise Invalid("password", f"must be at least {MIN_PASSWORD_LENGTH} characters")


async def get_user(session: AsyncSession, user_id: int) -> User:
    user = await session.get(User, user_id)
    if user is None:
        raise NotFound("user", user_id)
    return user


async def find_user_by_email(session: AsyncSession, email: str) -> User | None:
    return await session.scalar(sa.select(User).where(User.email == normalise_email(email)))


async def list_users(session: AsyncSession) -> list[User]:
    return list((await session.scalars(sa.select(User).order_by(User.email))).all())


async def create_user(
    session: AsyncSession,
    actor: Actor,
    *,
    email: str,
    role: Role,
    name: str = "",
    password: str | None = None,
    oidc_subject: str | None = None,
    commit: bool = True,
) -> User:
    email = normalise_email(email)
    if await find_user_by_email(session, email):
        raise Conflict(f"a user with e-mail {email} already exists", field="email")
    if password is not None:
        check_password_strength(password)
    user = User(
        email=email,
        name=name or email.split("@")[0],
        role=role.value,
        password_hash=hash_password(password) if password else None,
        oidc_subject=oidc_subject,
        memberships=[],
    )
    session.add(user)
    await session.flush()
    audit.record(session, actor, "user.create", "user", user.id, after=snapshot(user))
    if commit:
        await session.commit()
    return user


async def update_user(
    session: AsyncSession,
    actor: Actor,
    user_id: int,
    *,
    name: str | None = None,
    role: Role | None = None,
    is_active: bool | None = None,
    password: str | None = None,
    time_zone: str | None = None,
) -> User:
    user = await get_user(session, user_id)
    before = snapshot(user)
    if name is not None:
        user.name = name
    if role is not None:
        user.role = role.value
    if time_zone is not None:
        user.time_zone = time_zone
    if password is not None:
        check_password_strength(password)
        user.password_hash = hash_password(password)
    if is_active is not None:
        user.is_active = is_active
        if not is_active:
            await _revoke_all_sessions(session, user.id)
    await session.flush()
    audit.record(
        session, actor, "user.update", "user", user.id, before=before, after=snapshot(user)
    )
    await session.commit()
    return user


async def set_team_membership(
    session: AsyncSession,
    actor: Actor,
    *,
    user_id: int,
    team_id: int,
    role: str = "member",
    commit: bool = True,
) -> TeamMembership:
    existing = await session.scalar(
        sa.select(TeamMembership).where(
            TeamMembership.user_id == user_id, TeamMembership.team_id == team_id
        )
    )
    if existing is not None:
        before = snapshot(existing)
        existing.role = role
        membership = existing
    else:
        before = None
        membership = TeamMembership(user_id=user_id, team_id=team_id, role=role)
        session.add(membership)
    await session.flush()
    audit.record(
        session,
        actor,
        "team.member.set",
        "team",
        team_id,
        before=before,
        after=snapshot(membership),
    )
    if commit:
        await session.commit()
    return membership


async def remove_team_membership(
    session: AsyncSession, actor: Actor, *, user_id: int, team_id: int, commit: bool = True
) -> None:
    membership = await session.scalar(
        sa.select(TeamMembership).where(
            TeamMembership.user_id == user_id, TeamMembership.team_id == team_id
        )
    )
    if membership is None:
        raise NotFound("team membership", f"{team_id}/{user_id}")
    audit.record(session, actor, "team.member.remove", "team", team_id, before=snapshot(membership))
    await session.delete(membership)
    if commit:
        await session.commit()


def principal_for(
    user: User, *, via: str, token: ApiToken | None = None, csrf_token: str | None = None
) -> Principal:
    scopes = None
    if token is not None:
        scopes = frozenset(Permission(s) for s in token.scopes)
    return Principal.for_user(
        user_id=user.id,
        email=user.email,
        name=user.name,
        role=Role(user.role),
        team_ids=frozenset(m.team_id for m in user.memberships),
        via=via,
        token_id=token.id if token else None,
        scopes=scopes,
        csrf_token=csrf_token,
    )


# --- passwords and browser sessions ----------------------------------------------------------


async def authenticate_password(session: AsyncSession, email: str, password: str) -> User | None:
    user = await find_user_by_email(session, email)
    ok = verify_password(user.password_hash if user else None, password)
    if not ok or user is None or not user.is_active:
        return None
    if user.password_hash and needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    return user


@dataclass(frozen=True)
class NewSession:
    cookie_value: str
    csrf_token: str
    expires_at: datetime


async def start_session(
    session: AsyncSession, user: User, *, lifetime: timedelta, method: str = "password"
) -> NewSession:
    cookie_value = new_secret()
    csrf = new_secret()
    now = utcnow()
    row = BrowserSession(
        user_id=user.id,
        token_hash=digest(cookie_value),
        csrf_token=csrf,
        method=method,
        created_at=now,
        expires_at=now + lifetime,
        last_seen_at=now,
    )
    user.last_login_at = now
    session.add(row)
    await session.flush()
    audit.record(
        session,
        Actor("user", user.id, user.email),
        "session.start",
        "user",
        user.id,
        after={"method": method, "session_id": row.id},
    )
    await session.commit()
    return NewSession(cookie_value, csrf, row.expires_at)


async def resolve_session(session: AsyncSession, cookie_value: str) -> Principal | None:
    row = await session.scalar(
        sa.select(BrowserSession).where(BrowserSession.token_hash == digest(cookie_value))
    )
    now = utcnow()
    if row is None or row.revoked_at is not None or row.expires_at <= now:
        return None
    if not row.user.is_active:
        return None
    if row.last_seen_at is None or now - row.last_seen_at > LAST_USED_RESOLUTION:
        row.last_seen_at = now
        await session.commit()
    return principal_for(row.user, via="session", csrf_token=row.csrf_token)


async def end_session(session: AsyncSession, cookie_value: str) -> None:
    row = await session.scalar(
        sa.select(BrowserSession).where(BrowserSession.token_hash == digest(cookie_value))
    )
    if row is None or row.revoked_at is not None:
        return
    row.revoked_at = utcnow()
    audit.record(
        session,
        Actor("user", row.user_id, row.user.email),
        "session.end",
        "user",
        row.user_id,
        after={"session_id": row.id},
    )
    await session.commit()


async def _revoke_all_sessions(session: AsyncSession, user_id: int) -> None:
    await session.execute(
        sa.update(BrowserSession)
        .where(BrowserSession.user_id == user_id, BrowserSession.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


# --- API tokens ------------------------------------------------------------------------------


@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    secret: str


async def create_token(
    session: AsyncSession,
    actor: Actor,
    *,
    user: User,
    name: str,
    scopes: frozenset[Permission] | None = None,
    expires_at: datetime | None = None,
) -> IssuedToken:
    role_scopes = _role_scopes(Role(user.role))
    chosen = role_scopes if scopes is None else set(scopes)
    beyond = chosen - role_scopes
    if beyond:
        raise Invalid(
            "scopes",
            f"the {user.role} role cannot grant {', '.join(sorted(p.value for p in beyond))}",
        )
    secret = new_secret(TOKEN_PREFIX)
    token = ApiToken(
        user_id=user.id,
        name=name,
        prefix=secret[: len(TOKEN_PREFIX) + 4],
        token_hash=digest(secret),
        scopes=sorted(p.value for p in chosen),
        expires_at=expires_at,
    )
    session.add(token)
    await session.flush()
    audit.record(session, actor, "token.create", "api_token", token.id, after=snapshot(token))
    await session.commit()
    return IssuedToken(token, secret)


def _role_scopes(role: Role) -> set[Permission]:
    return {p for p in ROLE_PERMISSIONS[role] if p in TOKEN_SCOPES}


async def resolve_token(session: AsyncSession, secret: str) -> Principal | None:
    token = await session.scalar(sa.select(ApiToken).where(ApiToken.token_hash == digest(secret)))
    now = utcnow()
    if token is None or token.revoked_at is not None:
        return None
    if token.expires_at is not None and token.expires_at <= now:
        return None
    if not token.user.is_active:
        return None
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
        token.last_used_at = now
        await session.commit()
    return principal_for(token.user, via="token", token=token)


async def list_tokens(session: AsyncSession, user_id: int | None = None) -> list[ApiToken]:
    stmt = sa.select(ApiToken).order_by(ApiToken.id)
    if user_id is not None:
        stmt = stmt.where(ApiToken.user_id == user_id)
    return list((await session.scalars(stmt)).all())


async def revoke_token(session: AsyncSession, actor: Principal, token_id: int) -> ApiToken:
    token = await session.get(ApiToken, token_id)
    if token is None or (token.user_id != actor.user_id and not actor.can(Permission.USERS_MANAGE)):
        raise NotFound("token", token_id)
    if token.revoked_at is None:
        before = snapshot(token)
        token.revoked_at = utcnow()
        audit.record(
            session,
            actor.actor,
            "token.revoke",
            "api_token",
            token.id,
            before=before,
            after=snapshot(token),
        )
        await session.commit()
    return token
