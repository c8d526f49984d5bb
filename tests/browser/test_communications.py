"""The Communications panel in a real browser: preview an update per audience, approve and
publish a colleague's draft, then find it on the admins' comms log page with the chain intact."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, expect
from sqlalchemy.ext.asyncio import AsyncSession

from tests.browser.conftest import Site
from tests.browser.test_dashboard_live import TIMEOUT_MS, api, sign_in
from tests.factories import make_caller
from tocsin.auth.permissions import Role

pytestmark = pytest.mark.browser


async def test_preview_approve_publish_and_see_it_in_the_comms_log(
    browser: Browser, site: Site, session: AsyncSession
) -> None:
    colleague = await make_caller(session, Role.COMMUNICATOR)
    await session.commit()
    ref = (await api(site, colleague, "POST", "", {"title": "Cart empty", "severity": "sev2"}))[
        "ref"
    ]
    await api(
        site,
        colleague,
        "POST",
        f"/{ref}/comms/messages",
        {"audience": "customers", "text": "Some carts appear empty; we are restoring them."},
    )
    context = await browser.new_context()
    context.set_default_timeout(TIMEOUT_MS)
    page = await context.new_page()
    await sign_in(page, site, site.org.admin.email, f"/incidents/{ref}")
    panel = page.locator("#communications")
    await expect(panel.get_by_text("Update cadence")).to_be_visible()

    await panel.get_by_label("Technical details (responders only)").fill("redis eviction storm")
    await panel.get_by_label("What they experience").fill("carts appear empty")
    await panel.get_by_role("button", name="Preview for every audience").click()
    previews = page.locator("#comms-previews")
    await expect(previews.get_by_text("redis eviction storm")).to_have_count(1)  # responders only
    await expect(previews.locator("h4")).to_have_count(6)

    await page.goto(f"{site.url}/incidents/{ref}/comms")
    await page.get_by_role("button", name="Approve").click()
    await page.get_by_role("button", name="Publish").click()
    await expect(page.locator(".status-published")).to_be_visible()

    await page.goto(f"{site.url}/comms/log")
    await expect(page.locator("#comms-chain")).to_have_text("Chain intact: 1 entry verified.")
    await expect(
        page.get_by_text("Some carts appear empty; we are restoring them.")
    ).to_be_visible()
    await context.close()
