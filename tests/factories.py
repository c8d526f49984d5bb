"""Builders for test data that go through the real service layer."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession

from tocsin.audit.service import Actor
from tocsin.auth import service as auth
from tocsin.auth.models import User
from tocsin.auth.permissions import Permission, Role

PASSWORD = "correct horse battery staple"
_counter = itertools.count(1)


@dataclass
class Caller:
    user: User
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def make_user(
    session: AsyncSession,
    role: Role = Role.RESPONDER,
    email: str | None = None,
    password: str | None = PASSWORD,
) -> User:
    email = email or f"{role.value}{next(_counter)}@example.test"
    return await auth.create_user(
        session, Actor.system("test"), email=email, role=role, password=password
    )


async def make_caller(
    session: AsyncSession, role: Role = Role.RESPONDER, scopes: frozenset[Permission] | None = None
) -> Caller:
    # Token callers need no password: argon2 is deliberately slow, and the suite makes many.
    user = await make_user(session, role, password=None)
    issued = await auth.create_token(
        session, Actor.system("test"), user=user, name="test", scopes=scopes
    )
    return Caller(user, issued.secret)


async def browser_login(client: AsyncClient, email: str, password: str = PASSWORD) -> str:
    """Signs in through the login form like a browser; returns the CSRF token of the session."""
    response = await client.post(
        "/login", data={"email": email, "password": password}, follow_redirects=False
    )
    assert response.status_code == 303, response.text
    me = await client.get("/api/v1/me")
    assert me.status_code == 200
    return str(me.json()["csrf_token"])
