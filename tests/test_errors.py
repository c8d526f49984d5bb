"""People in a browser get pages for errors; API clients get problem+json."""

from __future__ import annotations

from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession

from tests.factories import browser_login, make_user
from tocsin.auth.permissions import Role

HTML = {"Accept": "text/html"}


async def test_a_refused_page_is_a_page_with_a_way_back(
    client: AsyncClient, session: AsyncSession
) -> None:
    viewer = await make_user(session, Role.VIEWER)
    await browser_login(client, viewer.email)
    page = await client.get("/admin/audit", headers=HTML)
    assert page.status_code == 403
    assert page.headers["content-type"].startswith("text/html")
    assert "audit:read" in page.text and 'href="/"' in page.text
    api = await client.get("/api/v1/audit")
    assert api.status_code == 403
    assert api.headers["content-type"] == "application/problem+json"


async def test_a_missing_object_is_a_page_for_browsers(
    client: AsyncClient, session: AsyncSession
) -> None:
    viewer = await make_user(session, Role.VIEWER)
    await browser_login(client, viewer.email)
    page = await client.get("/services/no-such-service", headers=HTML)
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert "no-such-service" in page.text
