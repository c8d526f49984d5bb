"""A paged person opens the acknowledge link from their notification in a real browser,
without signing in, and confirms; the responders' Pages list shows it acknowledged."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, expect
from sqlalchemy.ext.asyncio import AsyncSession

from tests.browser.conftest import Site
from tests.browser.test_browser_ui import TIMEOUT_MS, sign_in
from tocsin.audit.service import Actor
from tocsin.catalog import service as catalog
from tocsin.oncall import service as oncall
from tocsin.oncall.schemas import PolicyIn

pytestmark = pytest.mark.browser


async def test_the_link_in_a_page_acknowledges_after_one_click(
    browser: Browser, site: Site, session: AsyncSession
) -> None:
    system = Actor.system("test")
    responder = site.org.responder
    body = PolicyIn.model_validate(
        {
            "slug": "storefront",
            "name": "Storefront",
            "levels": [{"timeout_minutes": 5, "targets": [{"type": "user", "id": responder.id}]}],
        }
    )
    await oncall.save_policy(session, system, body)
    await oncall.attach_service(session, system, "checkout", "storefront")
    service = await catalog.get_service(session, "checkout")
    opened = await oncall.open_page(
        session,
        oncall.PageRequest(service.id, "Checkout failing", "5xx above 20 %", "checkout-5xx"),
    )
    page_id = opened.id
    await session.commit()
    token = oncall.ack_token(page_id, responder.id)

    context = await browser.new_context()
    context.set_default_timeout(TIMEOUT_MS)
    page = await context.new_page()
    await page.goto(f"{site.url}/oncall/ack/{token}")
    await expect(page.get_by_text("Checkout failing")).to_be_visible()
    await page.get_by_role("button", name="Acknowledge").click()
    await expect(page.get_by_role("status")).to_contain_text("acknowledged")

    signed_in = await (await browser.new_context()).new_page()
    signed_in.set_default_timeout(TIMEOUT_MS)
    await sign_in(signed_in, site, responder.email)
    await signed_in.goto(f"{site.url}/oncall/pages")
    row = signed_in.locator(f"#page-{page_id}")
    await expect(row).to_contain_text("acknowledged")
    await expect(row.get_by_role("button", name="Acknowledge")).to_have_count(0)
