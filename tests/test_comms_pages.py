"""The Communications panel on the incident page (preview, draft, approve, publish, where it
was delivered), the template pages (versions, edit, preview against an incident), stakeholder
groups, media inquiries with the spokesperson's statement, and the comms log page for admins."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import Configure, count_rows
from tests.factories import browser_login, make_caller, make_user
from tests.test_comms import TEMPLATES, declare
from tocsin.auth.permissions import Role
from tocsin.clock import FrozenClock
from tocsin.comms.models import CommsMediaInquiry, CommsStakeholderGroup
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


# --- audience templates, stakeholder groups and media inquiries ------------------------------


@pytest.fixture
def spokesperson(configure: Configure) -> str:
    configure({"TOCSIN_COMMS_SPOKESPEOPLE": '["press@example.test"]'})
    return "press@example.test"


def section(html: str, element_id: str) -> str:
    """The text of the element with this id, up to the next closing section or list."""
    return html.split(f'id="{element_id}"', 1)[1].split("</section>", 1)[0]


async def test_templates_are_listed_edited_as_versions_and_previewed_against_an_incident(
    client: AsyncClient, session: AsyncSession, world: None
) -> None:
    writer = await make_user(session, Role.COMMUNICATOR)
    responder = await make_caller(session, Role.RESPONDER)
    viewer = await make_user(session, Role.VIEWER)
    await session.commit()
    ref = await declare(client, responder)
    written = await client.post(
        f"/api/v1/incidents/{ref}/comms/updates",
        json={"technical_details": "pg-eu-3 failover", "customer_experience": "carts empty"},
        headers=responder.headers,
    )
    assert written.status_code == 201
    csrf = await browser_login(client, writer.email)

    listed = await client.get("/comms/templates")
    assert listed.status_code == 200
    assert listed.text.count("<td>shipped default</td>") == 6
    assert 'href="/comms/templates"' in listed.text  # in the navigation

    page = await client.get("/comms/templates/customers?severity=sev2")
    assert page.status_code == 200 and "No edits yet" in page.text
    body = "{{ ref }}: {{ customer_experience }} ({{ severity }})"
    preview = await client.post(
        "/comms/templates/customers/preview",
        data={"csrf_token": csrf, "body": body, "severity": "sev2", "incident": ref},
    )
    assert preview.status_code == 200
    assert f"<pre>{ref}: carts empty (sev2)</pre>" in section(preview.text, "template-preview")

    # A template that asks for what its audience is not given is refused beside the field,
    # on preview and on save, and nothing is stored.
    leaking = "{{ technical_details }}"
    for action in ("/comms/templates/customers/preview", "/comms/templates/customers"):
        refused = await client.post(
            action, data={"csrf_token": csrf, "body": leaking, "severity": "sev2", "incident": ref}
        )
        assert refused.status_code == 422
        assert 'id="body-error"' in refused.text and "technical_details" in refused.text
        assert 'aria-invalid="true" aria-describedby="body-error"' in refused.text
    unknown = await client.post(
        "/comms/templates/customers/preview",
        data={"csrf_token": csrf, "body": body, "severity": "sev2", "incident": "INC-999"},
    )
    assert unknown.status_code == 422 and 'id="incident-error"' in unknown.text

    saved = await client.post(
        "/comms/templates/customers",
        data={"csrf_token": csrf, "body": body, "severity": "sev2"},
        follow_redirects=False,
    )
    assert saved.status_code == 303
    assert saved.headers["location"] == "/comms/templates/customers?severity=sev2"
    versions = (
        await client.get(f"{TEMPLATES}/customers?severity=sev2", headers=responder.headers)
    ).json()
    assert [(v["version"], v["body"]) for v in versions] == [(1, body)]
    page = await client.get("/comms/templates/customers?severity=sev2")
    assert "Version 1</strong> (in use)" in page.text
    assert "version 1 (sev2)" in (await client.get("/comms/templates?severity=sev2")).text

    await browser_login(client, viewer.email)
    assert (await client.get("/comms/templates")).status_code == 403
    forbidden = await client.post(
        "/comms/templates/customers", data={"csrf_token": csrf, "body": "x", "severity": ""}
    )
    assert forbidden.status_code == 403


async def test_a_private_incident_cannot_be_previewed_by_someone_outside_it(
    client: AsyncClient, session: AsyncSession, world: None
) -> None:
    owner = await make_caller(session, Role.RESPONDER)
    outsider = await make_user(session, Role.COMMUNICATOR)
    await session.commit()
    ref = await declare(client, owner, title="Card data exposed", visibility="private")
    csrf = await browser_login(client, outsider.email)
    preview = await client.post(
        "/comms/templates/executives/preview",
        data={"csrf_token": csrf, "body": "{{ title }}", "incident": ref},
    )
    assert preview.status_code == 422
    assert "Card data exposed" not in preview.text
    assert f"there is no incident {ref}" in preview.text


async def test_group_addresses_are_set_on_their_page_by_approvers(
    client: AsyncClient, session: AsyncSession, world: None
) -> None:
    approver = await make_user(session, Role.COMMUNICATOR)
    responder = (await make_user(session, Role.RESPONDER)).email
    await session.commit()
    csrf = await browser_login(client, approver.email)
    bad = await client.post(
        "/comms/groups/support",
        data={"csrf_token": csrf, "emails": "leads@example.test\nnot-an-address"},
    )
    assert bad.status_code == 422
    assert 'id="emails-error"' in bad.text and "row 2" in bad.text
    assert await count_rows(session, CommsStakeholderGroup) == 0
    await session.rollback()
    saved = await client.post(
        "/comms/groups/support",
        data={"csrf_token": csrf, "emails": "leads@example.test\ntier2@example.test"},
        follow_redirects=False,
    )
    assert saved.status_code == 303
    page = await client.get("/comms/groups")
    assert "leads@example.test\ntier2@example.test</textarea>" in section(
        page.text, "group-support"
    )

    csrf = await browser_login(client, responder)
    shown = await client.get("/comms/groups")
    assert shown.status_code == 200 and "<form" not in section(shown.text, "group-support")
    forbidden = await client.post(
        "/comms/groups/support", data={"csrf_token": csrf, "emails": "x@example.test"}
    )
    assert forbidden.status_code == 403


async def test_the_incident_panel_shows_where_a_published_message_went(
    client: AsyncClient, session: AsyncSession, world: None
) -> None:
    author = await make_caller(session, Role.COMMUNICATOR)
    approver = await make_caller(session, Role.COMMUNICATOR)
    await session.commit()
    saved = await client.put(
        "/api/v1/comms/groups/sales",
        json={"emails": ["sales-leads@example.test"]},
        headers=approver.headers,
    )
    assert saved.status_code == 200
    ref = await declare(client, author)
    mid = (
        await client.post(
            f"/api/v1/incidents/{ref}/comms/messages",
            json={"audience": "sales", "text": "Checkout is down in the EU."},
            headers=author.headers,
        )
    ).json()["id"]
    for verb in ("approve", "publish"):
        done = await client.post(
            f"/api/v1/incidents/{ref}/comms/messages/{mid}/{verb}", headers=approver.headers
        )
        assert done.status_code == 200
    panel = await client.get(f"/incidents/{ref}/comms", headers={**HTMX, **author.headers})
    assert "delivery-queued" in panel.text and "email to sales-leads@example.test" in panel.text


async def test_media_inquiries_are_logged_listed_by_deadline_and_answered_by_a_spokesperson(
    client: AsyncClient, session: AsyncSession, world: None, spokesperson: str, clock: FrozenClock
) -> None:
    communicator = await make_user(session, Role.COMMUNICATOR)
    await make_user(session, Role.COMMUNICATOR, email=spokesperson)
    await session.commit()
    csrf = await browser_login(client, communicator.email)

    missing = await client.post(
        "/comms/media-inquiries",
        data={"csrf_token": csrf, "outlet": "", "reporter": "A. Writer", "question": "Why?"},
    )
    assert missing.status_code == 422 and 'id="outlet-error"' in missing.text
    assert 'value="A. Writer"' in missing.text  # what was typed stays
    assert await count_rows(session, CommsMediaInquiry) == 0
    await session.rollback()

    soon = clock.now() + timedelta(hours=2)
    later = clock.now() + timedelta(days=1)
    for outlet, deadline in (("Daily Bugle", later), ("Tech Weekly", soon)):
        logged = await client.post(
            "/comms/media-inquiries",
            data={
                "csrf_token": csrf,
                "outlet": outlet,
                "reporter": "A. Writer",
                "question": "Are payments down?",
                "deadline": f"{deadline:%Y-%m-%dT%H:%M}",
            },
            follow_redirects=False,
        )
        assert logged.status_code == 303, logged.text
    page = await client.get("/comms/media-inquiries")
    listing = page.text.split('id="media-inquiries"', 1)[1]
    assert listing.index("Tech Weekly") < listing.index("Daily Bugle")  # nearest deadline first
    assert "Publish statement" not in page.text  # not a spokesperson
    stored = await session.scalar(
        sa.select(CommsMediaInquiry).where(CommsMediaInquiry.outlet == "Tech Weekly")
    )
    assert stored is not None and stored.deadline == soon.replace(second=0, microsecond=0)
    inquiry_id = stored.id
    await session.rollback()

    statement = {"csrf_token": csrf, "statement": "Payments are working again."}
    forbidden = await client.post(f"/comms/media-inquiries/{inquiry_id}/answer", data=statement)
    assert forbidden.status_code == 403
    still = await session.get(CommsMediaInquiry, inquiry_id)
    assert still is not None and still.status == "open"
    await session.rollback()

    csrf = await browser_login(client, spokesperson)
    page = await client.get("/comms/media-inquiries")
    assert page.text.count("Publish statement") == 2
    empty = await client.post(
        f"/comms/media-inquiries/{inquiry_id}/answer", data={"csrf_token": csrf, "statement": ""}
    )
    assert empty.status_code == 422 and 'id="statement-error"' in empty.text
    answered = await client.post(
        f"/comms/media-inquiries/{inquiry_id}/answer",
        data={**statement, "csrf_token": csrf},
        follow_redirects=False,
    )
    assert answered.status_code == 303
    page = await client.get("/comms/media-inquiries")
    item = page.text.split(f'id="inquiry-{inquiry_id}"', 1)[1].split("</li>", 1)[0]
    assert "Payments are working again." in item and "Publish statement" not in item
    assert page.text.count("Publish statement") == 1  # the other one is still open
    again = await client.post(
        f"/comms/media-inquiries/{inquiry_id}/answer", data={**statement, "csrf_token": csrf}
    )
    assert again.status_code == 409 and "answered already" in again.text
