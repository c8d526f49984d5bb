"""Single sign-on through OpenID Connect: the provider vouches for who is signing in.

The provider is trusted for identity only. Roles stay in Tocsin: an account is found by the
provider's stable subject, or once by an e-mail address the provider has verified (which links
the subject to it), or created with the configured default role. Linking and creation are
audited like any other change, and a deactivated account stays locked out whatever the
provider says.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from authlib.integrations.starlette_client import OAuth
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from tocsin.audit import service as audit
from tocsin.audit.service import Actor
from tocsin.audit.snapshot import snapshot
from tocsin.auth import service
from tocsin.auth.models import User
from tocsin.auth.permissions import Role
from tocsin.config import Settings

CLIENT_NAME = "oidc"
CALLBACK_PATH = "/auth/oidc/callback"
SSO_ACTOR = Actor.system("single sign-on")
PROVIDER_TIMEOUT_SECONDS = 10.0


class SsoRefused(Exception):
    """The provider vouched for someone Tocsin will not sign in; the message says why."""


@dataclass(frozen=True)
class Identity:
    subject: str
    email: str | None
    email_verified: bool
    name: str


def callback_url(settings: Settings) -> str:
    """The redirect URI registered at the provider; built from base_url so proxies do not matter."""
    return settings.base_url.rstrip("/") + CALLBACK_PATH


def discovery_url(issuer: str) -> str:
    return issuer.rstrip("/") + "/.well-known/openid-configuration"


def make_client(settings: Settings) -> Any:
    oauth = OAuth()
    assert settings.oidc_issuer is not None
    client_kwargs: dict[str, Any] = {
        "scope": settings.oidc_scopes,
        # PKCE on top of the client secret: a stolen code is useless on its own, and a
        # public client (no secret) is still safe.
        "code_challenge_method": "S256",
        "timeout": PROVIDER_TIMEOUT_SECONDS,
    }
    if not settings.oidc_client_secret:
        client_kwargs["token_endpoint_auth_method"] = "none"
    oauth.register(
        name=CLIENT_NAME,
        client_id=settings.oidc_client_id,
        client_secret=settings.oidc_client_secret,
        server_metadata_url=discovery_url(settings.oidc_issuer),
        client_kwargs=client_kwargs,
    )
    return oauth.create_client(CLIENT_NAME)


def client_for(app: FastAPI) -> Any:
    """One client per application, so the provider's metadata and keys are fetched once."""
    client = getattr(app.state, "oidc_client", None)
    if client is None:
        client = make_client(app.state.settings)
        app.state.oidc_client = client
    return client


def _is_true(value: object) -> bool:
    # Some providers send booleans as strings.
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def identity_from_claims(claims: Mapping[str, Any]) -> Identity:
    """Reads the verified ID token claims Tocsin relies on."""
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject.strip():
        raise SsoRefused("the identity provider sent no subject")
    raw_email = claims.get("email")
    email = (
        service.normalise_email(raw_email)
        if isinstance(raw_email, str) and "@" in raw_email
        else None
    )
    name = ""
    for key in ("name", "preferred_username"):
        value = claims.get(key)
        if isinstance(value, str) and value.strip():
            name = value.strip()[:200]
            break
    return Identity(
        subject=subject,
        email=email,
        email_verified=email is not None and _is_true(claims.get("email_verified")),
        name=name,
    )


async def find_or_create_user(
    session: AsyncSession, settings: Settings, identity: Identity
) -> User:
    """The account the identity signs in as; changes are flushed, the caller commits."""
    user = await session.scalar(sa.select(User).where(User.oidc_subject == identity.subject))
    if user is None:
        user = await _link_by_email(session, identity)
    if user is None:
        user = await _create(session, settings, identity)
    if not user.is_active:
        raise SsoRefused(f"the account {user.email} is deactivated")
    return user


async def _link_by_email(session: AsyncSession, identity: Identity) -> User | None:
    if identity.email is None:
        return None
    user = await service.find_user_by_email(session, identity.email)
    if user is None:
        return None
    if not identity.email_verified:
        # Anyone can type any address into an account at some providers.
        raise SsoRefused(
            f"the identity provider has not verified {identity.email}, so it cannot be "
            "linked to the existing account"
        )
    if user.oidc_subject is not None:
        raise SsoRefused(f"{identity.email} is already linked to another single sign-on identity")
    if not user.is_active:
        raise SsoRefused(f"the account {user.email} is deactivated")
    before = snapshot(user)
    user.oidc_subject = identity.subject
    await session.flush()
    audit.record(
        session, SSO_ACTOR, "user.sso_link", "user", user.id, before=before, after=snapshot(user)
    )
    return user


async def _create(session: AsyncSession, settings: Settings, identity: Identity) -> User:
    if not settings.oidc_auto_create_users:
        raise SsoRefused(
            "there is no Tocsin account for this identity; an administrator can create one"
        )
    if identity.email is None:
        raise SsoRefused("the identity provider sent no e-mail address")
    if not identity.email_verified:
        raise SsoRefused(f"the identity provider has not verified {identity.email}")
    return await service.create_user(
        session,
        SSO_ACTOR,
        email=identity.email,
        role=Role(settings.oidc_default_role),
        name=identity.name,
        oidc_subject=identity.subject,
        commit=False,
    )
