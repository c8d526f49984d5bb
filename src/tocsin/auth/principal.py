"""The caller of a request, however they authenticated."""

from __future__ import annotations

from dataclasses import dataclass, field

from tocsin.audit.service import Actor
from tocsin.auth.permissions import Permission, Role, effective_permissions


@dataclass(frozen=True)
class Principal:
    user_id: int | None
    email: str
    name: str
    role: Role | None
    team_ids: frozenset[int] = frozenset()
    via: str = "anonymous"
    """anonymous, session, token"""
    token_id: int | None = None
    scopes: frozenset[Permission] | None = None
    csrf_token: str | None = None
    permissions: frozenset[Permission] = field(default=frozenset({Permission.PUBLIC}))

    @classmethod
    def anonymous(cls) -> Principal:
        return cls(user_id=None, email="", name="anonymous", role=None)

    @classmethod
    def for_user(
        cls,
        *,
        user_id: int,
        email: str,
        name: str,
        role: Role,
        team_ids: frozenset[int],
        via: str,
        token_id: int | None = None,
        scopes: frozenset[Permission] | None = None,
        csrf_token: str | None = None,
    ) -> Principal:
        return cls(
            user_id=user_id,
            email=email,
            name=name,
            role=role,
            team_ids=team_ids,
            via=via,
            token_id=token_id,
            scopes=scopes,
            csrf_token=csrf_token,
            permissions=effective_permissions(role, scopes),
        )

    @property
    def is_authenticated(self) -> bool:
        return self.user_id is not None

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN

    def can(self, permission: Permission) -> bool:
        return permission in self.permissions

    @property
    def actor(self) -> Actor:
        if self.via == "token":
            return Actor("token", self.user_id, f"{self.email} (token {self.token_id})")
        if self.user_id is None:
            return Actor("anonymous", None, "anonymous")
        return Actor("user", self.user_id, self.email)
