"""API shapes for users and tokens."""

from __future__ import annotations

from datetime import datetime

from pydantic import EmailStr, Field

from tocsin.auth.permissions import Permission, Role
from tocsin.schemas import Input, Output


class UserOut(Output):
    id: int
    email: str
    name: str
    role: Role
    is_active: bool
    time_zone: str
    team_ids: list[int] = []
    last_login_at: datetime | None


class MeOut(UserOut):
    permissions: list[Permission]
    via: str
    csrf_token: str | None = Field(
        default=None, description="Send as X-CSRF-Token on writes made with the session cookie."
    )


class UserCreate(Input):
    email: EmailStr
    role: Role
    name: str = Field(default="", max_length=200)
    password: str | None = Field(default=None, min_length=10, max_length=1024)


class UserUpdate(Input):
    name: str | None = Field(default=None, max_length=200)
    role: Role | None = None
    is_active: bool | None = None
    password: str | None = Field(default=None, min_length=10, max_length=1024)
    time_zone: str | None = Field(default=None, max_length=64)


class TokenCreate(Input):
    name: str = Field(min_length=1, max_length=200)
    scopes: list[Permission] | None = None
    expires_at: datetime | None = None


class TokenOut(Output):
    id: int
    user_id: int
    name: str
    prefix: str
    scopes: list[str]
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


class TokenCreated(TokenOut):
    token: str = Field(description="The secret; shown once, never stored in clear.")


class MembershipSet(Input):
    user_id: int
    role: str = Field(default="member", pattern="^(member|lead)$")
