"""Sign-in, sessions with CSRF, API tokens with scopes, and revocation."""

from __future__ import annotations

import pytest
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession

from tests.factories import PASSWORD, browser_login, make_caller, make_user
from tocsin.auth.permissions import Permission, Role


async def test_password_login_sets_a_session_that_the_api_accepts(
    client: AsyncClient, session: AsyncSession
) -> None:
    user = await make_user(session, Role.RESPONDER)
    csrf = await browser_login(client, user.email)
    me = (await client.get("/api/v1/me")).json()
    assert me["email"] == user.email
    assert me["via"] == "session"
    assert csrf and me["csrf_token"] == csrf


async def test_wrong_password_is_refused_without_saying_which_part_was_wrong(
    client: AsyncClient, session: AsyncSession
) -> None:
    user = await make_user(session)
    bad_password = await client.post("/login", data={"email": user.email, "password": "nope"})
    no_user = await client.post("/login", data={"email": "ghost@example.test", "password": "x"})
    assert bad_password.status_code == no_user.status_code == 401
    assert "Wrong e-mail or password" in bad_password.text
    assert "tocsin_session" not in client.cookies


async def test_session_writes_need_the_csrf_token(
    client: AsyncClient, session: AsyncSession
) -> None:
    user = await make_user(session, Role.RESPONDER)
    csrf = await browser_login(client, user.email)
    body = {"name": "laptop"}
    refused = await client.post("/api/v1/tokens", json=body)
    assert refused.status_code == 403
    assert "CSRF" in refused.json()["detail"]
    accepted = await client.post("/api/v1/tokens", json=body, headers={"X-CSRF-Token": csrf})
    assert accepted.status_code == 201


async def test_logout_ends_the_session_server_side(
    client: AsyncClient, session: AsyncSession
) -> None:
    user = await make_user(session)
    csrf = await browser_login(client, user.email)
    cookie = client.cookies["tocsin_session"]
    out = await client.post("/logout", data={"csrf_token": csrf}, follow_redirects=False)
    assert out.status_code == 303
    client.cookies.set("tocsin_session", cookie)  # a stolen copy of the cookie
    assert (await client.get("/api/v1/me")).status_code == 401


async def test_login_redirect_never_leaves_the_site(
    client: AsyncClient, session: AsyncSession
) -> None:
    user = await make_user(session)
    response = await client.post(
        "/login",
        data={"email": user.email, "password": PASSWORD, "next": "//evil.example/phish"},
        follow_redirects=False,
    )
    assert response.headers["location"] == "/"


async def test_token_is_shown_once_and_stored_hashed(
    client: AsyncClient, session: AsyncSession
) -> None:
    caller = await make_caller(session, Role.RESPONDER)
    created = await client.post("/api/v1/tokens", json={"name": "ci"}, headers=caller.headers)
    assert created.status_code == 201
    secret = created.json()["token"]
    assert secret.startswith("tocsin_")
    listed = (await client.get("/api/v1/tokens", headers=caller.headers)).json()
    assert all("token" not in t for t in listed)
    assert secret not in str(listed)
    me = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"})
    assert me.status_code == 200


async def test_revoked_token_stops_working(client: AsyncClient, session: AsyncSession) -> None:
    caller = await make_caller(session, Role.RESPONDER)
    created = await client.post("/api/v1/tokens", json={"name": "x"}, headers=caller.headers)
    token = created.json()
    headers = {"Authorization": f"Bearer {token['token']}"}
    assert (await client.get("/api/v1/me", headers=headers)).status_code == 200
    revoked = await client.delete(f"/api/v1/tokens/{token['id']}", headers=caller.headers)
    assert revoked.json()["revoked_at"] is not None
    assert (await client.get("/api/v1/me", headers=headers)).status_code == 401


async def test_token_records_when_it_was_last_used(
    client: AsyncClient, session: AsyncSession
) -> None:
    caller = await make_caller(session, Role.RESPONDER)
    await client.get("/api/v1/me", headers=caller.headers)
    tokens = (await client.get("/api/v1/tokens", headers=caller.headers)).json()
    assert tokens[0]["last_used_at"] is not None


async def test_scoped_token_can_do_only_what_its_scopes_say(
    client: AsyncClient, session: AsyncSession
) -> None:
    admin = await make_caller(session, Role.ADMIN, scopes=frozenset({Permission.CATALOG_READ}))
    assert (await client.get("/api/v1/users", headers=admin.headers)).status_code == 403
    assert (await client.get("/api/v1/me", headers=admin.headers)).status_code == 200


async def test_a_token_cannot_exceed_its_users_role(
    client: AsyncClient, session: AsyncSession
) -> None:
    viewer = await make_caller(session, Role.COMMUNICATOR)
    response = await client.post(
        "/api/v1/tokens", json={"name": "x", "scopes": ["users:manage"]}, headers=viewer.headers
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "scopes"


async def test_deactivated_user_loses_sessions_and_tokens(
    client: AsyncClient, session: AsyncSession
) -> None:
    admin = await make_caller(session, Role.ADMIN)
    victim = await make_caller(session, Role.RESPONDER)
    patched = await client.patch(
        f"/api/v1/users/{victim.user.id}", json={"is_active": False}, headers=admin.headers
    )
    assert patched.status_code == 200
    assert (await client.get("/api/v1/me", headers=victim.headers)).status_code == 401


@pytest.mark.parametrize("bad", ["not json", '{"name": 5, "surprise": true}'])
async def test_bad_bodies_get_problem_json_naming_the_field(
    client: AsyncClient, session: AsyncSession, bad: str
) -> None:
    caller = await make_caller(session, Role.RESPONDER)
    response = await client.post(
        "/api/v1/tokens",
        content=bad,
        headers={**caller.headers, "content-type": "application/json"},
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"]
    listed = (await client.get("/api/v1/tokens", headers=caller.headers)).json()
    assert [t["name"] for t in listed] == ["test"]  # only the caller's own token


async def test_admin_creates_a_user_who_can_then_sign_in(
    client: AsyncClient, session: AsyncSession
) -> None:
    admin = await make_caller(session, Role.ADMIN)
    created = await client.post(
        "/api/v1/users",
        json={"email": "New.Person@Example.com", "role": "communicator", "password": PASSWORD},
        headers=admin.headers,
    )
    assert created.status_code == 201, created.text
    assert created.json()["email"] == "new.person@example.com"
    assert created.json()["team_ids"] == []
    await browser_login(client, "new.person@example.com")
    duplicate = await client.post(
        "/api/v1/users",
        json={"email": "new.person@example.com", "role": "viewer"},
        headers=admin.headers,
    )
    assert duplicate.status_code == 409
    assert duplicate.json()["errors"][0]["field"] == "email"


async def test_audit_filter_by_person_includes_their_token_actions(
    client: AsyncClient, session: AsyncSession
) -> None:
    admin = await make_caller(session, Role.ADMIN)
    await client.post(
        "/api/v1/users", json={"email": "x@example.com", "role": "viewer"}, headers=admin.headers
    )
    entries = (
        await client.get(f"/api/v1/audit?actor={admin.user.email}", headers=admin.headers)
    ).json()
    assert [e["action"] for e in entries if e["object_type"] == "user"] == ["user.create"]
