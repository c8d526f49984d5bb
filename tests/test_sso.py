"""Single sign-on against a real OpenID Connect provider running on a loopback port.

The provider (oidc-provider-mock: Flask + Authlib) signs real ID tokens with its own keys; the
app discovers it, redirects to it, exchanges the code over HTTP and verifies the token. Only
the person clicking "authorize" at the provider is played by the test.
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from hypothesis import given
from hypothesis import strategies as st
from oidc_provider_mock import run_server_in_thread
from sqlalchemy.ext.asyncio import AsyncSession

from tests.factories import make_user
from tocsin.audit.models import AuditEntry
from tocsin.audit.service import Actor
from tocsin.auth import service as auth
from tocsin.auth.models import BrowserSession, User
from tocsin.auth.permissions import Role
from tocsin.auth.sso import SsoRefused, identity_from_claims
from tocsin.config import Settings, load_settings

APP = "http://testserver"

# The provider under test uses an Authlib API that Authlib itself marks as deprecated.
pytestmark = pytest.mark.filterwarnings("ignore:get_jwt_config:DeprecationWarning")


@pytest.fixture(scope="module")
def provider() -> Iterator[str]:
    with run_server_in_thread() as server:
        yield f"http://localhost:{server.server_port}"


@pytest.fixture
def settings(database_url: str, provider: str) -> Settings:
    return load_settings(
        database_url=database_url,
        log_level="warning",
        base_url=APP,
        oidc_issuer=provider,
        oidc_client_id="tocsin-test",
        oidc_client_secret="not-a-real-secret",
        oidc_default_role="responder",
    )


async def provider_user(provider: str, sub: str, **claims: object) -> None:
    """What the organisation's directory says about a person."""
    async with httpx.AsyncClient() as directory:
        response = await directory.put(f"{provider}/users/{sub}", json=claims)
        assert response.status_code == 204


async def start(client: httpx.AsyncClient, provider: str, next: str = "/") -> str:
    """Clicks the SSO button; returns the provider's authorization URL."""
    response = await client.get("/auth/oidc/login", params={"next": next})
    assert response.status_code == 302, response.text
    location = response.headers["location"]
    assert location.startswith(f"{provider}/oauth2/authorize?")
    return location


async def authorize_at_provider(authorize_url: str, sub: str, action: str = "authorize") -> str:
    """The person signs in at the provider; returns where the provider sends the browser back."""
    async with httpx.AsyncClient() as browser:
        form = {"sub": sub} if action == "authorize" else {"action": "deny"}
        response = await browser.post(authorize_url, data=form)
    assert response.status_code == 302, response.text
    location = response.headers["location"]
    assert location.startswith(f"{APP}/auth/oidc/callback?")
    return location


async def sso_login(
    client: httpx.AsyncClient, provider: str, sub: str, next: str = "/"
) -> httpx.Response:
    callback = await authorize_at_provider(await start(client, provider, next), sub)
    return await client.get(callback)


async def test_full_flow_creates_the_user_and_the_session_cookie_works_on_the_api(
    client: httpx.AsyncClient, session: AsyncSession, provider: str
) -> None:
    await provider_user(
        provider, "ada-001", email="Ada@Example.test", email_verified=True, name="Ada Lovelace"
    )
    done = await sso_login(client, provider, "ada-001", next="/services/42")
    assert done.status_code == 303
    assert done.headers["location"] == "/services/42"
    assert "tocsin_session" in client.cookies

    me = await client.get("/api/v1/me")
    assert me.status_code == 200
    body = me.json()
    assert body["email"] == "ada@example.test"
    assert body["name"] == "Ada Lovelace"
    assert body["role"] == "responder"  # settings.oidc_default_role
    assert body["via"] == "session"
    # A browser session from SSO is a full session: writes need its CSRF token.
    refused = await client.post("/api/v1/tokens", json={"name": "laptop"})
    assert refused.status_code == 403
    created = await client.post(
        "/api/v1/tokens", json={"name": "laptop"}, headers={"X-CSRF-Token": body["csrf_token"]}
    )
    assert created.status_code == 201

    user = await auth.find_user_by_email(session, "ada@example.test")
    assert user is not None and user.oidc_subject == "ada-001" and user.password_hash is None
    row = await session.scalar(sa.select(BrowserSession).where(BrowserSession.user_id == user.id))
    assert row is not None and row.method == "oidc"
    entries = (
        await session.scalars(
            sa.select(AuditEntry)
            .where(AuditEntry.object_id == str(user.id))
            .order_by(AuditEntry.id)
        )
    ).all()
    assert [(e.action, e.actor_label) for e in entries[:2]] == [
        ("user.create", "single sign-on"),
        ("session.start", "ada@example.test"),
    ]
    assert entries[0].after is not None and entries[0].after["oidc_subject"] == "ada-001"
    assert entries[1].after is not None and entries[1].after["method"] == "oidc"


async def test_the_subject_finds_the_account_even_after_the_email_changes(
    client: httpx.AsyncClient, session: AsyncSession, provider: str
) -> None:
    await provider_user(provider, "grace-1", email="grace@example.test", email_verified=True)
    assert (await sso_login(client, provider, "grace-1")).status_code == 303
    client.cookies.clear()
    await provider_user(provider, "grace-1", email="g.hopper@example.test", email_verified=True)
    assert (await sso_login(client, provider, "grace-1")).status_code == 303
    assert (await client.get("/api/v1/me")).json()["email"] == "grace@example.test"
    assert await session.scalar(sa.select(sa.func.count()).select_from(User)) == 1


async def test_a_verified_email_links_an_existing_account_and_keeps_its_role(
    client: httpx.AsyncClient, session: AsyncSession, provider: str
) -> None:
    admin = await make_user(session, Role.ADMIN, email="boss@example.test")
    await provider_user(provider, "boss-sub", email="BOSS@example.test", email_verified=True)
    assert (await sso_login(client, provider, "boss-sub")).status_code == 303
    me = (await client.get("/api/v1/me")).json()
    assert (me["id"], me["role"]) == (admin.id, "admin")
    await session.refresh(admin)
    assert admin.oidc_subject == "boss-sub"
    link = await session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "user.sso_link"))
    assert link is not None and link.before is not None and link.after is not None
    assert (link.before["oidc_subject"], link.after["oidc_subject"]) == (None, "boss-sub")


async def test_an_unverified_email_never_takes_over_an_existing_account(
    client: httpx.AsyncClient, session: AsyncSession, provider: str
) -> None:
    admin = await make_user(session, Role.ADMIN, email="root@example.test")
    await provider_user(provider, "mallory", email="root@example.test", email_verified=False)
    refused = await sso_login(client, provider, "mallory")
    assert refused.status_code == 403
    assert "not verified" in refused.text
    assert "tocsin_session" not in client.cookies
    await session.refresh(admin)
    assert admin.oidc_subject is None


async def test_an_inactive_user_is_refused(
    client: httpx.AsyncClient, session: AsyncSession, provider: str
) -> None:
    user = await make_user(session, Role.RESPONDER, email="leaver@example.test")
    await provider_user(provider, "leaver", email="leaver@example.test", email_verified=True)
    assert (await sso_login(client, provider, "leaver")).status_code == 303
    await auth.update_user(session, Actor.system("test"), user.id, is_active=False)
    client.cookies.clear()

    refused = await sso_login(client, provider, "leaver")
    assert refused.status_code == 403
    assert "deactivated" in refused.text
    assert "tocsin_session" not in client.cookies
    assert (await client.get("/api/v1/me")).status_code == 401
    starts = await session.scalar(
        sa.select(sa.func.count())
        .select_from(AuditEntry)
        .where(AuditEntry.action == "session.start")
    )
    assert starts == 1


async def test_unknown_state_is_refused_with_400(
    client: httpx.AsyncClient, session: AsyncSession, provider: str
) -> None:
    response = await client.get("/auth/oidc/callback", params={"code": "x", "state": "forged"})
    assert response.status_code == 400
    assert "unknown or expired" in response.text
    assert "tocsin_session" not in client.cookies


async def test_a_code_issued_to_another_browser_is_refused(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, provider: str
) -> None:
    """Login CSRF: an attacker's code, delivered to the victim's browser, signs nobody in."""
    await provider_user(provider, "attacker", email="evil@example.test", email_verified=True)
    victim_authorize = await start(client, provider)
    victim_state = parse_qs(urlparse(victim_authorize).query)["state"][0]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=APP) as attacker:
        attacker_callback = await authorize_at_provider(await start(attacker, provider), "attacker")
    code = parse_qs(urlparse(attacker_callback).query)["code"][0]
    response = await client.get("/auth/oidc/callback", params={"code": code, "state": victim_state})
    assert response.status_code == 400
    assert "tocsin_session" not in client.cookies
    assert await auth.find_user_by_email(session, "evil@example.test") is None


async def test_the_provider_saying_no_is_a_400_and_creates_nothing(
    client: httpx.AsyncClient, session: AsyncSession, provider: str
) -> None:
    callback = await authorize_at_provider(await start(client, provider), "x", action="deny")
    response = await client.get(callback)
    assert response.status_code == 400
    assert "access_denied" in response.text or "denied" in response.text.lower()
    assert await session.scalar(sa.select(sa.func.count()).select_from(User)) == 0


async def test_without_auto_creation_an_unknown_person_is_refused(
    database_url: str, provider: str, session: AsyncSession
) -> None:
    from asgi_lifespan import LifespanManager

    from tocsin.app import create_app

    closed = load_settings(
        database_url=database_url,
        base_url=APP,
        oidc_issuer=provider,
        oidc_client_id="tocsin-test",
        oidc_client_secret="not-a-real-secret",
        oidc_auto_create_users=False,
    )
    await provider_user(provider, "stranger", email="stranger@example.test", email_verified=True)
    application = create_app(closed)
    async with (
        LifespanManager(application),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=application), base_url=APP) as c,
    ):
        refused = await sso_login(c, provider, "stranger")
    assert refused.status_code == 403
    assert "administrator can create one" in refused.text
    assert await session.scalar(sa.select(sa.func.count()).select_from(User)) == 0


async def test_next_never_leaves_the_site(client: httpx.AsyncClient, provider: str) -> None:
    await provider_user(provider, "nav", email="nav@example.test", email_verified=True)
    done = await sso_login(client, provider, "nav", next="//evil.example/phish")
    assert done.headers["location"] == "/"


async def test_login_page_offers_sso_when_configured(client: httpx.AsyncClient) -> None:
    page = await client.get("/login", params={"next": "/incidents"})
    assert page.status_code == 200
    assert 'href="/auth/oidc/login?next=/incidents"' in page.text.replace("%2F", "/")
    assert "Sign in with single sign-on" in page.text


async def test_without_configuration_sso_routes_are_404(database_url: str) -> None:
    from asgi_lifespan import LifespanManager

    from tocsin.app import create_app

    application = create_app(load_settings(database_url=database_url))
    async with (
        LifespanManager(application),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=application), base_url=APP) as c,
    ):
        assert (await c.get("/auth/oidc/login")).status_code == 404
        assert (await c.get("/auth/oidc/callback?state=x&code=y")).status_code == 404
        assert "single sign-on" not in (await c.get("/login")).text


@given(
    sub=st.text(min_size=1).filter(str.strip),
    email=st.emails(),
    verified=st.one_of(st.booleans(), st.sampled_from(["true", "false", "TRUE", "", None])),
)
def test_claims_reading(sub: str, email: str, verified: object) -> None:
    identity = identity_from_claims({"sub": sub, "email": email, "email_verified": verified})
    assert identity.subject == sub
    assert identity.email == email.strip().lower()
    assert identity.email_verified == (verified is True or str(verified).lower() == "true")


@given(st.one_of(st.none(), st.just(""), st.just("  "), st.integers()))
def test_claims_without_a_subject_are_refused(sub: object) -> None:
    with pytest.raises(SsoRefused):
        identity_from_claims({"sub": sub, "email": "a@example.test", "email_verified": True})
