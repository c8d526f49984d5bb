"""The Communications panel on the incident page (preview, draft, approve, publish) and the
comms log page for admins."""

from __future__ import annotations

import pytest
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession

from tests.factories import browser_login, make_caller, make_user
from tests.test_comms import declare
from tocsin.auth.permissions import Role
from tocsin.clock import FrozenClock
from tocsin.policy import service as policy

HTMX = {"HX-Request": "true"}


@pytest.fixture
async def world(session: AsyncSession, clock: FrozenClock) -> None:
    await policy.ensure_default_policies(session)
    await session.commit()


async def test_preview_draft_approve_and_publish_from_the_incident_page(
    client: AsyncClient, session: AsyncSession, world: None
) -> None:
    author = await make_caller(session, Role.COMMUNICATOR)
    approver = await make_user(session, Role.COMMUNICATOR)
    await session.commit()
    csrf = await browser_login(client, approver.email)
    ref = await declare(client, author)

    page = await client.get(f"/incidents/{ref}")
    assert f'hx-get="/incidents/{ref}/comms"' in page.text
    panel = await client.get(f"/incidents/{ref}/comms", headers=HTMX)
    assert "<html" not in panel.text
    assert "executives" in panel.text and "60 min" in panel.text

    preview = await client.post(
        f"/incidents/{ref}/comms/preview",
        data={
            "csrf_token": csrf,
            "technical_details": "pg-eu-3 failover loop",
            "customer_experience": "card payments fail",
        },
    )
    assert preview.status_code == 200
    customers = preview.text.split("<h4>customers</h4>")[1].split("</pre>")[0]
    assert "card payments fail" in customers and "pg-eu-3" not in customers
    assert "pg-eu-3" in preview.text.split("<h4>responders</h4>")[1].split("</pre>")[0]

    missing = await client.post(
        f"/incidents/{ref}/comms/messages",
        data={"csrf_token": csrf, "audience": "customers", "channel": "email", "text": ""},
    )
    assert missing.status_code == 422 and "field-error" in missing.text

    drafted = await client.post(
        f"/api/v1/incidents/{ref}/comms/messages",
        json={"audience": "customers", "text": "Payments are failing."},
        headers=author.headers,
    )
    mid = drafted.json()["id"]
    approved = await client.post(
        f"/incidents/{ref}/comms/messages/{mid}/approve",
        data={"csrf_token": csrf},
        follow_redirects=False,
    )
    assert approved.status_code == 303
    published = await client.post(
        f"/incidents/{ref}/comms/messages/{mid}/publish",
        data={"csrf_token": csrf},
        follow_redirects=False,
    )
    assert published.status_code == 303
    panel = await client.get(f"/incidents/{ref}/comms")
    assert "<html" in panel.text
    assert "status-published" in panel.text


async def test_the_comms_log_page_is_for_admins_and_shows_the_chain_verdict(
    client: AsyncClient, session: AsyncSession, world: None
) -> None:
    admin = await make_user(session, Role.ADMIN)
    responder = await make_caller(session, Role.RESPONDER)
    await session.commit()
    ref = await declare(client, responder)
    drafted = await client.post(
        f"/api/v1/incidents/{ref}/comms/messages",
        json={"audience": "responders", "channel": "chat", "text": "Bridge is open."},
        headers=responder.headers,
    )
    sent = await client.post(
        f"/api/v1/incidents/{ref}/comms/messages/{drafted.json()['id']}/publish",
        headers=responder.headers,
    )
    assert sent.status_code == 200
    await browser_login(client, admin.email)
    page = await client.get("/comms/log")
    assert page.status_code == 200
    assert "Chain intact: 1 entry verified." in page.text
    assert "Bridge is open." in page.text
    assert 'href="/comms/log"' in page.text  # in the navigation for admins

    other = await make_user(session, Role.COMMUNICATOR)
    await session.commit()
    await browser_login(client, other.email)
    assert (await client.get("/comms/log")).status_code == 403
