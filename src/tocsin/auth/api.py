"""REST routes for the signed-in user, users and API tokens."""

from __future__ import annotations

from zoneinfo import available_timezones

from fastapi import APIRouter, Depends
from sqlalchemy.ext.asyncio import AsyncSession

from tocsin.auth import service
from tocsin.auth.dependencies import Requires
from tocsin.auth.models import User
from tocsin.auth.permissions import Permission
from tocsin.auth.principal import Principal
from tocsin.auth.schemas import (
    MeOut,
    TokenCreate,
    TokenCreated,
    TokenOut,
    UserCreate,
    UserOut,
    UserUpdate,
)
from tocsin.db.session import get_session
from tocsin.errors import Invalid

router = APIRouter(prefix="/api/v1", tags=["users and tokens"])


def user_out(user: User) -> UserOut:
    return UserOut.model_validate(user).model_copy(
        update={"team_ids": sorted(m.team_id for m in user.memberships)}
    )


@router.get("/me", response_model=MeOut)
async def me(
    principal: Principal = Depends(Requires(Permission.AUTHENTICATED)),
    session: AsyncSession = Depends(get_session),
) -> MeOut:
    assert principal.user_id is not None
    user = await service.get_user(session, principal.user_id)
    return MeOut(
        **user_out(user).model_dump(),
        permissions=sorted(principal.permissions),
        via=principal.via,
        csrf_token=principal.csrf_token,
    )


@router.get("/users", response_model=list[UserOut])
async def list_users(
    _: Principal = Depends(Requires(Permission.USERS_READ)),
    session: AsyncSession = Depends(get_session),
) -> list[UserOut]:
    return [user_out(u) for u in await service.list_users(session)]


@router.post("/users", response_model=UserOut, status_code=201)
async def create_user(
    body: UserCreate,
    principal: Principal = Depends(Requires(Permission.USERS_MANAGE)),
    session: AsyncSession = Depends(get_session),
) -> UserOut:
    user = await service.create_user(
        session,
        principal.actor,
        email=body.email,
        role=body.role,
        name=body.name,
        password=body.password,
    )
    return user_out(user)


@router.patch("/users/{user_id}", response_model=UserOut)
async def update_user(
    user_id: int,
    body: UserUpdate,
    principal: Principal = Depends(Requires(Permission.USERS_MANAGE)),
    session: AsyncSession = Depends(get_session),
) -> UserOut:
    if body.time_zone is not None and body.time_zone not in available_timezones():
        raise Invalid("time_zone", f"unknown IANA time zone {body.time_zone!r}")
    user = await service.update_user(
        session,
        principal.actor,
        user_id,
        name=body.name,
        role=body.role,
        is_active=body.is_active,
        password=body.password,
        time_zone=body.time_zone,
    )
    return user_out(user)


@router.get("/tokens", response_model=list[TokenOut])
async def list_tokens(
    principal: Principal = Depends(Requires(Permission.TOKENS_OWN)),
    session: AsyncSession = Depends(get_session),
) -> list[TokenOut]:
    tokens = await service.list_tokens(session, principal.user_id)
    return [TokenOut.model_validate(t) for t in tokens]


@router.post("/tokens", response_model=TokenCreated, status_code=201)
async def create_token(
    body: TokenCreate,
    principal: Principal = Depends(Requires(Permission.TOKENS_OWN)),
    session: AsyncSession = Depends(get_session),
) -> TokenCreated:
    assert principal.user_id is not None
    user = await service.get_user(session, principal.user_id)
    scopes = frozenset(body.scopes) if body.scopes is not None else None
    if principal.scopes is not None:
        # A token cannot mint a token that can do more than itself.
        beyond = (scopes or frozenset()) - principal.scopes
        if beyond:
            raise Invalid("scopes", "the calling token lacks " + ", ".join(sorted(beyond)))
        scopes = principal.scopes if scopes is None else scopes
    issued = await service.create_token(
        session,
        principal.actor,
        user=user,
        name=body.name,
        scopes=scopes,
        expires_at=body.expires_at,
    )
    return TokenCreated(**TokenOut.model_validate(issued.token).model_dump(), token=issued.secret)


@router.delete("/tokens/{token_id}", response_model=TokenOut)
async def revoke_token(
    token_id: int,
    principal: Principal = Depends(Requires(Permission.TOKENS_OWN)),
    session: AsyncSession = Depends(get_session),
) -> TokenOut:
    token = await service.revoke_token(session, principal, token_id)
    return TokenOut.model_validate(token)
