"""A person in a real browser: signs in, edits a service, reads the dependency graph, and
finds the navigation on a phone."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect
from sqlalchemy.ext.asyncio import AsyncSession

from tests.browser.conftest import Site
from tests.factories import PASSWORD
from tocsin.audit.service import Actor
from tocsin.catalog import service as catalog
from tocsin.catalog.schemas import ServiceUpdate

pytestmark = pytest.mark.browser

TIMEOUT_MS = 10_000


async def sign_in(page: Page, site: Site, email: str) -> None:
    await page.goto(f"{site.url}/services")
    await expect(page).to_have_url(f"{site.url}/login?next=/services")
    await page.get_by_label("E-mail").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page).to_have_url(f"{site.url}/services")


async def test_a_responder_edits_a_service_and_reads_the_graph(
    browser: Browser, site: Site, session: AsyncSession, tmp_path: Path
) -> None:
    context = await browser.new_context(viewport={"width": 1280, "height": 860})
    context.set_default_timeout(TIMEOUT_MS)
    page = await context.new_page()
    await sign_in(page, site, site.org.responder.email)

    await expect(page.get_by_role("heading", name="Services")).to_be_visible()
    await page.get_by_role("link", name="Checkout", exact=True).click()
    await expect(page).to_have_url(f"{site.url}/services/checkout")
    await page.get_by_role("link", name="Edit", exact=True).click()

    await page.get_by_label("Tier").select_option("tier-2")
    await page.get_by_label("Description").fill("Takes the money, then says thank you.")
    await page.get_by_role("button", name="Save").click()

    await expect(page).to_have_url(f"{site.url}/services/checkout?saved=1")
    await expect(page.get_by_role("status").filter(has_text="Saved.")).to_be_visible()
    await expect(page.get_by_text("Takes the money, then says thank you.")).to_be_visible()
    stored = await catalog.get_service(session, "checkout")
    await session.rollback()
    assert stored.tier.value == "tier-2"
    assert stored.description == "Takes the money, then says thank you."

    await (
        page.get_by_role("navigation", name="Main")
        .get_by_role("link", name="Dependency graph")
        .click()
    )
    graph = page.locator("#dependency-graph")
    await expect(graph).to_have_attribute("data-state", "rendered")
    await expect(graph).to_have_attribute("data-nodes", "5")
    await expect(graph).to_have_attribute("data-edges", "4")
    drawn = await page.evaluate("window.tocsinGraph.nodes().map(n => n.id()).sort()")
    assert drawn == ["checkout", "ledger", "payments", "recommendations", "web"]
    await page.screenshot(path=str(tmp_path / "dependency-graph.png"))
    assert (tmp_path / "dependency-graph.png").stat().st_size > 0
    await context.close()


async def test_a_change_made_elsewhere_appears_without_a_reload(
    browser: Browser, site: Site, session: AsyncSession
) -> None:
    context = await browser.new_context()
    context.set_default_timeout(TIMEOUT_MS)
    page = await context.new_page()
    await sign_in(page, site, site.org.viewer.email)
    await expect(page.locator("#live-status")).to_have_attribute("data-state", "open")

    await catalog.update_service(
        session, Actor.system("test"), "ledger", ServiceUpdate(name="General ledger")
    )

    await expect(page.get_by_role("link", name="General ledger")).to_be_visible()
    await context.close()


async def test_the_navigation_is_reachable_on_a_phone(browser: Browser, site: Site) -> None:
    context = await browser.new_context(
        viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
    )
    context.set_default_timeout(TIMEOUT_MS)
    page = await context.new_page()
    await sign_in(page, site, site.org.viewer.email)

    menu = page.get_by_role("button", name="Menu")
    teams = page.get_by_role("navigation", name="Main").get_by_role("link", name="Teams")
    await expect(menu).to_have_attribute("aria-expanded", "false")
    await expect(teams).to_be_hidden()
    await menu.click()
    await expect(menu).to_have_attribute("aria-expanded", "true")
    await teams.click()
    await expect(page).to_have_url(f"{site.url}/teams")
    await expect(page.get_by_role("heading", name="Teams")).to_be_visible()
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, "the page scrolls sideways on a phone"
    await context.close()


async def test_the_keyboard_reaches_the_content_first(browser: Browser, site: Site) -> None:
    context = await browser.new_context()
    context.set_default_timeout(TIMEOUT_MS)
    page = await context.new_page()
    await sign_in(page, site, site.org.viewer.email)
    await page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    await expect(skip).to_be_focused()
    await page.keyboard.press("Enter")
    await expect(page.locator("#main")).to_be_focused()
    await context.close()


async def test_htmx_requests_carry_the_csrf_token(browser: Browser, site: Site) -> None:
    """Cookie-authenticated writes are refused without the token; htmx sends it by itself."""
    context = await browser.new_context()
    context.set_default_timeout(TIMEOUT_MS)
    page = await context.new_page()
    await sign_in(page, site, site.org.viewer.email)
    bare = await page.evaluate("fetch('/logout', {method: 'POST'}).then(r => r.status)")
    assert bare == 403
    await page.evaluate("htmx.ajax('POST', '/logout', {target: '#main', swap: 'none'})")
    me = await page.evaluate("fetch('/api/v1/me').then(r => r.status)")
    assert me == 401
    await context.close()
