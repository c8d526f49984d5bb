"""Managing one's own contact methods and rules over the API and the page, the test button,
and who may see whose deliveries."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.conftest import count_rows
from tests.factories import browser_login, make_caller, make_user
from tests.test_notifications import (  # noqa: F401  (fixtures)
    Mailbox,
    http_server,
    mailbox,
    providers,
    run_worker,
)
from tocsin.audit.models import AuditEntry
from tocsin.auth.permissions import Role
from tocsin.notifications.models import ContactMethod, Delivery, NotificationRule

ME = "/api/v1/users/me"


async def test_people_manage_their_own_contact_methods_and_rules(
    client: AsyncClient, session: AsyncSession
) -> None:
    me = await make_caller(session, Role.STAKEHOLDER)
    await session.commit()
    sms = await client.post(
        f"{ME}/contact-methods",
        json={"channel": "sms", "address": "+49 151 1234 5678", "label": "mobile"},
        headers=me.headers,
    )
    assert sms.status_code == 201, sms.text
    assert sms.json()["address"] == "+4915112345678"
    assert sms.json()["secret"] is None

    hook = await client.post(
        f"{ME}/contact-methods",
        json={"channel": "webhook", "address": "https://hooks.example/tocsin"},
        headers=me.headers,
    )
    assert hook.status_code == 201
    assert len(hook.json()["secret"]) >= 32
    listed = await client.get(f"{ME}/contact-methods", headers=me.headers)
    assert [m["channel"] for m in listed.json()] == ["sms", "webhook"]
    assert all("secret" not in m for m in listed.json())

    rule = await client.post(
        f"{ME}/notification-rules",
        json={"contact_method_id": sms.json()["id"], "urgency": "high", "delay_minutes": 2},
        headers=me.headers,
    )
    assert rule.status_code == 201, rule.text
    again = await client.post(
        f"{ME}/notification-rules",
        json={"contact_method_id": sms.json()["id"], "urgency": "high", "delay_minutes": 2},
        headers=me.headers,
    )
    assert again.status_code == 409

    renamed = await client.patch(
        f"{ME}/contact-methods/{sms.json()['id']}", json={"label": "work phone"}, headers=me.headers
    )
    assert renamed.json()["label"] == "work phone"

    gone = await client.delete(f"{ME}/contact-methods/{sms.json()['id']}", headers=me.headers)
    assert gone.status_code == 204
    rules = await client.get(f"{ME}/notification-rules", headers=me.headers)
    assert rules.json() == []  # its rules went with it
    actions = set(
        (
            await session.scalars(
                sa.select(AuditEntry.action).where(AuditEntry.actor_id == me.user.id)
            )
        ).all()
    )
    assert {
        "notifications.contact_method.create",
        "notifications.contact_method.update",
        "notifications.contact_method.delete",
        "notifications.rule.create",
    } <= actions


async def test_bad_input_names_the_field_and_changes_nothing(
    client: AsyncClient, session: AsyncSession
) -> None:
    me = await make_caller(session)
    other = await make_caller(session)
    foreign = ContactMethod(user_id=other.user.id, channel="email", address="o@example.com")
    session.add(foreign)
    await session.commit()
    foreign_id = foreign.id
    before = await count_rows(session, ContactMethod)
    await session.rollback()

    for body, field in [
        ({"channel": "sms", "address": "0151 1234 5678"}, "address"),
        ({"channel": "voice", "address": "+1 555"}, "address"),
        ({"channel": "email", "address": "nobody"}, "address"),
        ({"channel": "webhook", "address": "ftp://x.example/"}, "address"),
        ({"channel": "pigeon", "address": "roof"}, "channel"),
    ]:
        response = await client.post(f"{ME}/contact-methods", json=body, headers=me.headers)
        assert response.status_code == 422, body
        assert response.headers["content-type"].startswith("application/problem+json")
        assert field in response.text
    assert await count_rows(session, ContactMethod) == before
    await session.rollback()

    stolen = await client.post(
        f"{ME}/notification-rules",
        json={"contact_method_id": foreign_id, "urgency": "high"},
        headers=me.headers,
    )
    assert stolen.status_code == 422
    assert stolen.json()["errors"][0]["field"] == "contact_method_id"
    too_late = await client.post(
        f"{ME}/notification-rules",
        json={"contact_method_id": foreign_id, "urgency": "high", "delay_minutes": 99999},
        headers=me.headers,
    )
    assert too_late.status_code == 422 and "delay_minutes" in too_late.text
    assert await count_rows(session, NotificationRule) == 0


async def test_only_admins_see_and_change_other_peoples_settings(
    client: AsyncClient, session: AsyncSession
) -> None:
    ada = await make_caller(session)
    bob = await make_caller(session)
    admin = await make_caller(session, Role.ADMIN)
    await session.commit()
    path = f"/api/v1/users/{ada.user.id}/contact-methods"
    body = {"channel": "email", "address": "ada@example.com"}
    assert (await client.get(path, headers=bob.headers)).status_code == 403
    assert (await client.post(path, json=body, headers=bob.headers)).status_code == 403
    assert (await client.post(path, json=body, headers=admin.headers)).status_code == 201
    mine = await client.get(f"{ME}/contact-methods", headers=ada.headers)
    assert [m["address"] for m in mine.json()] == ["ada@example.com"]
    method_id = mine.json()[0]["id"]
    # Bob cannot reach Ada's method through his own path either.
    assert (
        await client.delete(f"{ME}/contact-methods/{method_id}", headers=bob.headers)
    ).status_code == 404
    assert (
        await client.get("/api/v1/notifications/deliveries", headers=bob.headers)
    ).status_code == 403
    assert (
        await client.get("/api/v1/notifications/deliveries", headers=admin.headers)
    ).status_code == 200
    assert (await client.get(path)).status_code == 401


async def test_the_test_button_reaches_only_that_method_and_shows_in_deliveries(
    client: AsyncClient,
    session: AsyncSession,
    sessionmaker: async_sessionmaker[AsyncSession],
    providers: Any,  # noqa: F811
    mailbox: tuple[Mailbox, int],  # noqa: F811
    run_worker: Any,  # noqa: F811
) -> None:
    me = await make_caller(session)
    admin = await make_caller(session, Role.ADMIN)
    await session.commit()
    second = await client.post(
        f"{ME}/contact-methods",
        json={"channel": "email", "address": "second@example.com"},
        headers=me.headers,
    )
    await client.post(
        f"{ME}/contact-methods",
        json={"channel": "email", "address": "first@example.com"},
        headers=me.headers,
    )
    test = await client.post(f"{ME}/contact-methods/{second.json()['id']}/test", headers=me.headers)
    assert test.status_code == 202
    await run_worker()
    await run_worker()
    box, _ = mailbox
    assert [rcpt for rcpt, _ in box.messages] == [["second@example.com"]]
    assert box.messages[0][1]["Subject"] == "Test notification from Tocsin"

    mine = (await client.get(f"{ME}/deliveries", headers=me.headers)).json()
    assert [(d["address"], d["status"], d["attempts"]) for d in mine] == [
        ("second@example.com", "sent", 1)
    ]
    everyone = (
        await client.get(
            "/api/v1/notifications/deliveries", params={"status": "sent"}, headers=admin.headers
        )
    ).json()
    assert [d["user_id"] for d in everyone] == [me.user.id]
    # Deleting the method later does not rewrite where the test went.
    await client.delete(f"{ME}/contact-methods/{second.json()['id']}", headers=me.headers)
    async with sessionmaker() as s:
        [row] = (await s.scalars(sa.select(Delivery))).all()
        assert (row.contact_method_id, row.address) == (None, "second@example.com")


async def test_the_page_manages_methods_and_rules_with_forms(
    client: AsyncClient, session: AsyncSession
) -> None:
    user = await make_user(session, Role.VIEWER, email="viewer-page@example.com")
    await session.commit()
    csrf = await browser_login(client, user.email)
    page = await client.get("/notifications")
    assert page.status_code == 200
    assert "pages go by e-mail to your account address" in page.text

    bad = await client.post(
        "/notifications/contact-methods",
        data={"csrf_token": csrf, "channel": "sms", "address": "12345"},
    )
    assert bad.status_code == 422
    assert "address:" in bad.text and "international format" in bad.text

    added = await client.post(
        "/notifications/contact-methods",
        data={"csrf_token": csrf, "channel": "voice", "address": "+14155550123", "label": "cell"},
        follow_redirects=False,
    )
    assert added.status_code == 303
    method_id = await session.scalar(
        sa.select(ContactMethod.id).where(ContactMethod.user_id == user.id)
    )
    await session.rollback()
    rule = await client.post(
        "/notifications/rules",
        data={
            "csrf_token": csrf,
            "contact_method_id": str(method_id),
            "urgency": "high",
            "delay_minutes": "5",
        },
        follow_redirects=False,
    )
    assert rule.status_code == 303
    page = await client.get("/notifications")
    assert "+14155550123" in page.text and "5 min" in page.text

    hook = await client.post(
        "/notifications/contact-methods",
        data={"csrf_token": csrf, "channel": "webhook", "address": "https://hooks.example/x"},
    )
    assert hook.status_code == 201 and 'id="webhook-secret"' in hook.text
    assert (await client.get("/admin/notifications")).status_code == 403


async def test_admins_see_every_delivery_on_a_page(
    client: AsyncClient, session: AsyncSession
) -> None:
    admin = await make_user(session, Role.ADMIN, email="root-page@example.com")
    await session.commit()
    await browser_login(client, admin.email)
    page = await client.get("/admin/notifications")
    assert page.status_code == 200 and "No deliveries yet." in page.text


async def test_a_code_sent_through_the_method_verifies_it(
    client: AsyncClient,
    session: AsyncSession,
    providers: Any,  # noqa: F811
    mailbox: tuple[Mailbox, int],  # noqa: F811
    run_worker: Any,  # noqa: F811
) -> None:
    me = await make_caller(session)
    await session.commit()
    created = await client.post(
        f"{ME}/contact-methods",
        json={"channel": "email", "address": "verify-me@example.com"},
        headers=me.headers,
    )
    method = f"{ME}/contact-methods/{created.json()['id']}"
    assert created.json()["verified_at"] is None
    assert (await client.post(f"{method}/verification", headers=me.headers)).status_code == 202
    await run_worker()
    await run_worker()
    [(_, message)] = mailbox[0].messages
    code = str(message["Subject"]).rsplit(" ", 1)[1]
    assert len(code) == 8 and code.isdigit()

    wrong = "0" * 8 if code != "0" * 8 else "1" * 8
    refused = await client.post(f"{method}/verify", json={"code": wrong}, headers=me.headers)
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "code"
    accepted = await client.post(f"{method}/verify", json={"code": code}, headers=me.headers)
    assert accepted.status_code == 200 and accepted.json()["verified_at"] is not None
    # A used code does not work twice; a changed address must be verified again.
    again = await client.post(f"{method}/verify", json={"code": code}, headers=me.headers)
    assert again.status_code == 422
    moved = await client.patch(method, json={"address": "moved@example.com"}, headers=me.headers)
    assert moved.json()["verified_at"] is None


async def test_guessing_codes_voids_the_code(client: AsyncClient, session: AsyncSession) -> None:
    me = await make_caller(session)
    await session.commit()
    created = await client.post(
        f"{ME}/contact-methods",
        json={"channel": "sms", "address": "+14155550123"},
        headers=me.headers,
    )
    method = f"{ME}/contact-methods/{created.json()['id']}"
    await client.post(f"{method}/verification", headers=me.headers)
    row = await session.get(ContactMethod, created.json()["id"])
    assert row is not None and row.verification_code is not None
    code = row.verification_code
    await session.rollback()
    wrong = "0" * 8 if code != "0" * 8 else "1" * 8
    for _ in range(5):
        response = await client.post(f"{method}/verify", json={"code": wrong}, headers=me.headers)
        assert response.status_code == 422
    late = await client.post(f"{method}/verify", json={"code": code}, headers=me.headers)
    assert late.status_code == 422 and "no code is pending" in late.text
