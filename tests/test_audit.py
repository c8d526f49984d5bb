"""The audit trail: complete entries, append-only in the database, readable by admins only."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from httpx import AsyncClient
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.factories import browser_login, make_caller, make_user
from tocsin.audit.models import AuditEntry
from tocsin.audit.service import Actor
from tocsin.auth import service as auth
from tocsin.auth.permissions import Permission, Role
from tocsin.clock import FrozenClock


async def entries(
    sessionmaker: async_sessionmaker[AsyncSession], **where: object
) -> list[AuditEntry]:
    """Read in a short transaction of its own, so the app's writers never wait on the test."""
    async with sessionmaker() as session:
        stmt = sa.select(AuditEntry).filter_by(**where).order_by(AuditEntry.id)
        return list((await session.scalars(stmt)).all())


async def test_a_write_records_actor_action_object_before_after_time_and_request_id(
    client: AsyncClient,
    session: AsyncSession,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FrozenClock,
) -> None:
    admin = await make_caller(session, Role.ADMIN)
    target = await make_user(session, Role.RESPONDER)
    clock.advance(timedelta(minutes=5))
    response = await client.patch(
        f"/api/v1/users/{target.id}",
        json={"role": "communicator", "password": "a brand new password"},
        headers={**admin.headers, "X-Request-ID": "req-audit-42"},
    )
    assert response.status_code == 200
    assert response.headers["x-request-id"] == "req-audit-42"

    [entry] = await entries(sessionmaker, action="user.update")
    assert entry.actor_type == "token"
    assert entry.actor_id == admin.user.id
    assert entry.actor_label.startswith(admin.user.email)
    assert (entry.object_type, entry.object_id) == ("user", str(target.id))
    assert entry.before is not None and entry.after is not None
    assert (entry.before["role"], entry.after["role"]) == ("responder", "communicator")
    assert entry.at == clock.now()
    assert entry.request_id == "req-audit-42"
    # Secrets never reach the trail, not even as hashes.
    assert entry.before["password_hash"] == entry.after["password_hash"] == "[redacted]"


async def test_a_refused_write_leaves_no_entry(
    client: AsyncClient, session: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    admin = await make_caller(session, Role.ADMIN)
    responder = await make_caller(session, Role.RESPONDER)
    target = await make_user(session, Role.VIEWER)
    before = len(await entries(sessionmaker))
    invalid = await client.patch(
        f"/api/v1/users/{target.id}", json={"role": "root"}, headers=admin.headers
    )
    forbidden = await client.patch(
        f"/api/v1/users/{target.id}", json={"role": "admin"}, headers=responder.headers
    )
    bad_zone = await client.patch(
        f"/api/v1/users/{target.id}", json={"time_zone": "Mars/Olympus"}, headers=admin.headers
    )
    assert (invalid.status_code, forbidden.status_code, bad_zone.status_code) == (422, 403, 422)
    assert len(await entries(sessionmaker)) == before


@pytest.mark.parametrize("statement", ["UPDATE", "DELETE"])
async def test_the_database_refuses_to_rewrite_history(
    statement: str, session: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await make_user(session, Role.VIEWER)
    [entry] = await entries(sessionmaker)
    sql = {
        "UPDATE": "UPDATE audit_entries SET action = 'nothing.happened' WHERE id = :id",
        "DELETE": "DELETE FROM audit_entries WHERE id = :id",
    }[statement]
    async with sessionmaker() as tamper:
        with pytest.raises(DBAPIError, match="append-only"):
            await tamper.execute(sa.text(sql), {"id": entry.id})
        await tamper.rollback()
    [still] = await entries(sessionmaker)
    assert (still.id, still.action) == (entry.id, "user.create")


async def test_the_orm_cannot_delete_an_entry_either(
    session: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await make_user(session, Role.VIEWER)
    async with sessionmaker() as tamper:
        entry = await tamper.scalar(sa.select(AuditEntry))
        await tamper.delete(entry)
        with pytest.raises(DBAPIError, match="append-only"):
            await tamper.commit()
    assert len(await entries(sessionmaker)) == 1


@pytest.fixture
async def history(session: AsyncSession, clock: FrozenClock) -> dict[str, object]:
    """Seven entries over seven minutes, by two actors, about users and a team."""
    alice = Actor("user", None, "alice@example.test")
    bob = Actor("user", None, "bob@example.test")
    users = []
    for i, actor in enumerate([alice, bob, alice]):
        users.append(
            await auth.create_user(
                session, actor, email=f"u{i}@example.test", role=Role.VIEWER, password=None
            )
        )
        clock.advance(timedelta(minutes=1))
    start = clock.now()
    for user, actor in zip(users, [bob, alice, bob], strict=True):
        await auth.update_user(session, actor, user.id, name=f"renamed {user.id}")
        clock.advance(timedelta(minutes=1))
    await auth.update_user(session, alice, users[0].id, is_active=False)
    return {"users": users, "updates_from": start}


async def test_admins_filter_the_trail(
    client: AsyncClient, session: AsyncSession, history: dict[str, object]
) -> None:
    admin = await make_caller(session, Role.ADMIN)

    async def query(**params: object) -> list[dict[str, object]]:
        response = await client.get("/api/v1/audit", params=params, headers=admin.headers)
        assert response.status_code == 200, response.text
        return list(response.json())

    updates = await query(action="user.update")
    assert len(updates) == 4
    assert [e["id"] for e in updates] == sorted((e["id"] for e in updates), reverse=True)
    by_bob = await query(actor="bob@example.test")
    assert {e["actor_label"] for e in by_bob} == {"bob@example.test"}
    assert len(by_bob) == 3
    first_user = history["users"][0]  # type: ignore[index]
    about_first = await query(object_type="user", object_id=first_user.id)
    assert [e["action"] for e in about_first] == ["user.update", "user.update", "user.create"]
    start = history["updates_from"]
    since = await query(since=start.isoformat(), action="user.update")  # type: ignore[attr-defined]
    until = await query(until=start.isoformat(), action="user.create")  # type: ignore[attr-defined]
    assert len(since) == 4 and len(until) == 3
    assert await query(action="user.update", until=start.isoformat()) == []  # type: ignore[attr-defined]


@pytest.mark.parametrize("page_size", [1, 2, 3, 5])
async def test_paging_walks_every_entry_once(
    page_size: int, client: AsyncClient, session: AsyncSession, history: dict[str, object]
) -> None:
    admin = await make_caller(session, Role.ADMIN)
    everything = (await client.get("/api/v1/audit", headers=admin.headers)).json()
    seen: list[int] = []
    params: dict[str, object] = {"limit": page_size}
    while True:
        page = (await client.get("/api/v1/audit", params=params, headers=admin.headers)).json()
        if not page:
            break
        assert len(page) <= page_size
        seen += [e["id"] for e in page]
        params["before_id"] = page[-1]["id"]
    assert seen == [e["id"] for e in everything]


async def test_bad_query_parameters_are_422(client: AsyncClient, session: AsyncSession) -> None:
    admin = await make_caller(session, Role.ADMIN)
    for params in ({"limit": 0}, {"limit": 100000}, {"since": "yesterday"}):
        response = await client.get("/api/v1/audit", params=params, headers=admin.headers)
        assert response.status_code == 422, params
        assert response.json()["errors"][0]["field"] == next(iter(params))


@pytest.mark.parametrize("role", [Role.RESPONDER, Role.COMMUNICATOR, Role.STAKEHOLDER, Role.VIEWER])
async def test_only_admins_read_the_trail(
    role: Role, client: AsyncClient, session: AsyncSession
) -> None:
    caller = await make_caller(session, role)
    assert (await client.get("/api/v1/audit", headers=caller.headers)).status_code == 403
    assert (await client.get("/admin/audit", headers=caller.headers)).status_code == 403


async def test_anonymous_and_narrowed_tokens_cannot_read_it(
    client: AsyncClient, session: AsyncSession
) -> None:
    assert (await client.get("/api/v1/audit")).status_code == 401
    page = await client.get("/admin/audit", headers={"Accept": "text/html"})
    assert page.status_code == 303 and page.headers["location"].startswith("/login")
    narrowed = await make_caller(session, Role.ADMIN, scopes=frozenset({Permission.CATALOG_READ}))
    assert (await client.get("/api/v1/audit", headers=narrowed.headers)).status_code == 403
    scoped = await make_caller(session, Role.ADMIN, scopes=frozenset({Permission.AUDIT_READ}))
    assert (await client.get("/api/v1/audit", headers=scoped.headers)).status_code == 200


async def test_the_audit_page_lists_filters_and_pages(
    client: AsyncClient, session: AsyncSession, history: dict[str, object]
) -> None:
    admin = await make_user(session, Role.ADMIN)
    await browser_login(client, admin.email)
    page = await client.get("/admin/audit")
    assert page.status_code == 200
    assert "text/html" in page.headers["content-type"]
    assert "user.update" in page.text and "bob@example.test" in page.text
    # The sign-in itself is on the trail, as the newest entry.
    assert "session.start" in page.text

    only_bob = await client.get("/admin/audit", params={"actor": "bob@example.test"})
    assert "bob@example.test" in only_bob.text
    assert "alice@example.test" not in only_bob.text.replace('placeholder="alice', "")
    nothing = await client.get("/admin/audit", params={"action": "no.such.action"})
    assert "No entries match" in nothing.text


async def test_the_audit_page_links_to_older_entries(
    client: AsyncClient, session: AsyncSession
) -> None:
    from tocsin.web.admin import AUDIT_PAGE_SIZE

    for i in range(AUDIT_PAGE_SIZE + 2):
        await auth.create_user(
            session, Actor.system("seed"), email=f"p{i}@example.test", role=Role.VIEWER
        )
    admin = await make_user(session, Role.ADMIN)
    await browser_login(client, admin.email)
    first = await client.get("/admin/audit", params={"action": "user.create"})
    assert first.text.count("<code>user.create</code>") == AUDIT_PAGE_SIZE
    assert "Older entries" in first.text
    older_link = first.text.split('href="/admin/audit?', 1)[1].split('"', 1)[0]
    older = await client.get("/admin/audit?" + older_link.replace("&amp;", "&"))
    assert older.status_code == 200
    # 52 seeded users and the admin: 53 creations, 50 on the first page, 3 on the next.
    assert older.text.count("<code>user.create</code>") == 3
    assert "Older entries" not in older.text
