"""The web war room in a real browser: chat from the page, others' messages arrive live."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, expect
from sqlalchemy.ext.asyncio import AsyncSession

from tests.browser.conftest import Site
from tests.browser.test_dashboard_live import LIVE_MS, TIMEOUT_MS, api, sign_in
from tests.factories import make_caller
from tocsin.auth.permissions import Role

pytestmark = pytest.mark.browser


async def test_a_responder_chats_and_pins_while_others_messages_arrive_live(
    browser: Browser, site: Site, session: AsyncSession
) -> None:
    colleague = await make_caller(session, Role.RESPONDER)
    await session.rollback()
    ref = (await api(site, colleague, "POST", "", {"title": "Cart empty", "severity": "sev2"}))[
        "ref"
    ]
    context = await browser.new_context()
    context.set_default_timeout(TIMEOUT_MS)
    page = await context.new_page()
    await sign_in(page, site, site.org.responder.email, f"/incidents/{ref}")
    room = page.locator("#war-room")
    await expect(room.get_by_text("No messages yet.")).to_be_visible()

    await room.get_by_label("Message").fill("checking the cart service logs")
    await room.get_by_role("button", name="Send").click()
    await expect(room.get_by_text("checking the cart service logs")).to_be_visible()
    await expect(page.locator("#live-status")).to_have_attribute("data-state", "open")

    # A colleague's message arrives on the open page without a reload.
    await api(
        site, colleague, "POST", f"/{ref}/war-room/messages", {"body": "found it: bad deploy"}
    )
    await expect(room.get_by_text("found it: bad deploy")).to_be_visible(timeout=LIVE_MS)

    message = room.locator(".war-room-message", has_text="found it: bad deploy")
    await message.get_by_role("button", name="Pin to timeline").click()
    await expect(
        page.locator(".war-room-message", has_text="found it: bad deploy").get_by_text("pinned")
    ).to_be_visible()
    await context.close()
