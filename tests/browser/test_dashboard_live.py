"""An open dashboard follows changes made elsewhere, in a real browser, without a reload."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Page, expect
from sqlalchemy.ext.asyncio import AsyncSession

from tests.browser.conftest import Site
from tests.factories import PASSWORD, Caller, make_caller
from tocsin.auth.permissions import Role

pytestmark = pytest.mark.browser

TIMEOUT_MS = 10_000
LIVE_MS = 2_000
"""a change must be on the open page within two seconds of the API answering"""


async def sign_in(page: Page, site: Site, email: str, path: str) -> None:
    await page.goto(f"{site.url}{path}")
    await page.get_by_label("E-mail").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page).to_have_url(f"{site.url}{path}")
    await expect(page.locator("#live-status")).to_have_attribute("data-state", "open")


async def api(site: Site, caller: Caller, method: str, path: str, body: Any) -> Any:
    async with httpx.AsyncClient(base_url=site.url, headers=caller.headers) as client:
        response = await client.request(method, f"/api/v1/incidents{path}", json=body)
    assert response.status_code in {200, 201}, response.text
    return response.json()


async def test_the_command_board_shows_a_change_made_through_the_api_within_two_seconds(
    browser: Browser, site: Site, session: AsyncSession
) -> None:
    commander = await make_caller(session, Role.RESPONDER)
    declared = await api(
        site, commander, "POST", "", {"title": "Checkout down", "severity": "sev2"}
    )
    ref = declared["ref"]
    context = await browser.new_context()
    context.set_default_timeout(TIMEOUT_MS)
    page = await context.new_page()
    await sign_in(page, site, site.org.viewer.email, "/dashboards/command")
    card = page.locator(f"#card-{ref}")
    await expect(card).to_have_attribute("data-status", "declared")
    await expect(card.locator('[data-missing-role="incident-commander"]')).to_be_visible()

    await api(site, commander, "POST", f"/{ref}/status", {"status": "investigating"})
    await expect(card).to_have_attribute("data-status", "investigating", timeout=LIVE_MS)

    await api(
        site,
        commander,
        "PUT",
        f"/{ref}/roles",
        {"role": "incident-commander", "user": commander.user.email},
    )
    await expect(card.locator('[data-missing-role="incident-commander"]')).to_have_count(
        0, timeout=LIVE_MS
    )
    await expect(card.locator('[data-field="roles"]')).to_contain_text(
        "Incident Commander:", timeout=LIVE_MS
    )
    await context.close()


async def test_the_incident_page_refreshes_its_panels_when_the_incident_changes(
    browser: Browser, site: Site, session: AsyncSession
) -> None:
    commander = await make_caller(session, Role.RESPONDER)
    declared = await api(
        site, commander, "POST", "", {"title": "Checkout down", "severity": "sev2"}
    )
    ref = declared["ref"]
    context = await browser.new_context()
    context.set_default_timeout(TIMEOUT_MS)
    page = await context.new_page()
    await sign_in(page, site, site.org.viewer.email, f"/incidents/{ref}")
    await expect(page.locator("#status")).to_have_text("declared")

    await api(site, commander, "POST", f"/{ref}/status", {"status": "investigating"})
    await expect(page.locator("#status")).to_have_text("investigating", timeout=LIVE_MS)
    await expect(page.locator("#milestone-acknowledged")).not_to_contain_text("—")
    await api(
        site,
        commander,
        "PUT",
        f"/{ref}/roles",
        {"role": "incident-commander", "user": commander.user.email},
    )
    await expect(page.locator("#roles-current")).to_contain_text(
        "Incident Commander", timeout=LIVE_MS
    )
    await context.close()


async def test_the_stakeholder_screen_follows_public_incidents_only(
    browser: Browser, site: Site, session: AsyncSession
) -> None:
    commander = await make_caller(session, Role.RESPONDER)
    context = await browser.new_context()
    context.set_default_timeout(TIMEOUT_MS)
    page = await context.new_page()
    await sign_in(page, site, site.org.admin.email, "/dashboards/stakeholder")
    await expect(page.locator("#no-incidents")).to_be_visible()

    await api(
        site,
        commander,
        "POST",
        "",
        {"title": "Hidden", "severity": "sev2", "visibility": "private"},
    )
    shown = await api(site, commander, "POST", "", {"title": "Orders delayed", "severity": "sev2"})
    await expect(page.locator(f"#card-{shown['ref']}")).to_be_visible(timeout=LIVE_MS)
    await expect(page.get_by_text("Hidden")).to_have_count(0)
    await context.close()
