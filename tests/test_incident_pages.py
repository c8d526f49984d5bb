"""Incident pages and the `tocsin incident` command."""

from __future__ import annotations

import re

import pytest
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession

from tests.cli import tocsin
from tests.factories import browser_login, make_caller, make_user
from tests.test_incident_api import API, TECHNICAL, declare, world  # noqa: F401  (fixture)
from tocsin.auth.permissions import Role

pytestmark = pytest.mark.usefixtures("world")


async def test_declare_form_creates_an_incident_and_shows_its_page(
    client: AsyncClient, session: AsyncSession
) -> None:
    user = await make_user(session, Role.RESPONDER)
    csrf = await browser_login(client, user.email)
    form = await client.get("/incidents/new")
    assert form.status_code == 200 and 'name="severity"' in form.text
    bad = await client.post(
        "/incidents/new",
        data={"csrf_token": csrf, "title": "", "severity": "sev1", "services": "checkout"},
    )
    assert bad.status_code == 422 and "field-error" in bad.text
    unknown = await client.post(
        "/incidents/new",
        data={"csrf_token": csrf, "title": "Down", "severity": "sev1", "services": "nope"},
    )
    assert unknown.status_code == 422 and "nope" in unknown.text
    created = await client.post(
        "/incidents/new",
        data={
            "csrf_token": csrf,
            "title": "Checkout down",
            "severity": "sev1",
            "services": "checkout",
            "visibility": "public",
            "type": "outage",
        },
        follow_redirects=False,
    )
    assert created.status_code == 303
    ref = created.headers["location"].rsplit("/", 1)[1]
    page = await client.get(f"/incidents/{ref}")
    assert page.status_code == 200
    assert "Checkout down" in page.text and "Incident Commander" in page.text
    assert 'id="milestone-declared"' in page.text
    listing = await client.get("/incidents")
    assert ref in listing.text and 'href="/incidents"' in listing.text


async def test_page_forms_change_status_add_notes_and_show_refusals(
    client: AsyncClient, session: AsyncSession
) -> None:
    user = await make_user(session, Role.RESPONDER)
    api_caller = await make_caller(session, Role.RESPONDER)
    ref = (await declare(client, api_caller))["ref"]
    await client.put(
        f"{API}/{ref}/roles",
        json={"role": "scribe", "user": user.email},
        headers=api_caller.headers,
    )
    csrf = await browser_login(client, user.email)
    noted = await client.post(
        f"/incidents/{ref}/notes",
        data={"csrf_token": csrf, "text": "Paged the payments team", "kind": "note"},
        follow_redirects=False,
    )
    assert noted.status_code == 303
    refused = await client.post(
        f"/incidents/{ref}/status", data={"csrf_token": csrf, "status": "resolved"}
    )
    assert refused.status_code == 422
    assert all(item in refused.text for item in TECHNICAL)
    for item in TECHNICAL:
        ticked = await client.post(
            f"/incidents/{ref}/checklists",
            data={"csrf_token": csrf, "checklist": "technical", "item": item, "state": "done"},
            follow_redirects=False,
        )
        assert ticked.status_code == 303
    resolved = await client.post(
        f"/incidents/{ref}/status",
        data={"csrf_token": csrf, "status": "resolved"},
        follow_redirects=False,
    )
    assert resolved.status_code == 303
    page = (await client.get(f"/incidents/{ref}")).text
    assert "Paged the payments team" in page
    assert re.search(r'id="status">resolved<', page)
    fragment = await client.get(f"/incidents/{ref}/timeline", headers={"HX-Request": "true"})
    assert fragment.status_code == 200 and "<html" not in fragment.text
    assert "Paged the payments team" in fragment.text


async def test_a_viewer_reads_but_cannot_act(client: AsyncClient, session: AsyncSession) -> None:
    responder = await make_caller(session, Role.RESPONDER)
    ref = (await declare(client, responder))["ref"]
    viewer = await make_user(session, Role.VIEWER)
    await browser_login(client, viewer.email)
    page = await client.get(f"/incidents/{ref}")
    assert page.status_code == 200
    assert f'action="/incidents/{ref}/status"' not in page.text
    assert "Declare an incident" not in (await client.get("/incidents")).text


async def test_the_command_line_declares_and_lists_incidents(
    database_url: str, session: AsyncSession
) -> None:
    declared = await tocsin(
        "incident",
        "declare",
        "--title",
        "Search down",
        "--severity",
        "sev2",
        "--service",
        "search",
        "--private",
        database_url=database_url,
    )
    assert declared.code == 0, declared.err
    ref = declared.out.split("\t")[0]
    assert re.fullmatch(r"INC-\d+", ref)
    listed = await tocsin("incident", "list", database_url=database_url)
    assert listed.code == 0
    assert listed.out.splitlines() == [f"{ref}\tsev2\tdeclared\tprivate\tSearch down"]
    bad = await tocsin(
        "incident", "declare", "--title", "x", "--severity", "sev9", database_url=database_url
    )
    assert bad.code == 1 and "sev9" in bad.err
