"""Communications in a real browser: preview an update per audience, approve and publish a
colleague's draft, then find it on the admins' comms log page with the chain intact; edit and
preview an audience template; log a media inquiry that the spokesperson answers."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, expect
from sqlalchemy.ext.asyncio import AsyncSession

from tests.browser.conftest import Site
from tests.browser.test_dashboard_live import TIMEOUT_MS, api, sign_in
from tests.conftest import Configure
from tests.factories import make_caller, make_user
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


async def test_edit_a_template_preview_it_against_an_incident_and_save_a_version(
    browser: Browser, site: Site, session: AsyncSession
) -> None:
    responder = await make_caller(session, Role.RESPONDER)
    await session.commit()
    ref = (await api(site, responder, "POST", "", {"title": "Search slow", "severity": "sev2"}))[
        "ref"
    ]
    await api(
        site,
        responder,
        "POST",
        f"/{ref}/comms/updates",
        {"technical_details": "es heap full", "customer_experience": "search takes 20 s"},
    )
    context = await browser.new_context()
    context.set_default_timeout(TIMEOUT_MS)
    page = await context.new_page()
    await sign_in(page, site, site.org.admin.email, "/comms/templates")
    await page.get_by_role("link", name="executives", exact=True).click()

    template = page.get_by_label("Template")
    await template.fill("{{ title }}: {{ technical_details }}")
    await page.get_by_label("Preview with the latest update of incident").fill(ref)
    await page.get_by_role("button", name="Preview").click()
    await expect(page.locator("#body-error")).to_contain_text("technical_details")
    await expect(page.get_by_label("Template")).to_have_attribute("aria-invalid", "true")

    await page.get_by_label("Template").fill(
        "Exec: {{ title }} ({{ severity }}): {{ customer_experience }}"
    )
    await page.get_by_role("button", name="Preview").click()
    await expect(page.locator("#template-preview pre")).to_have_text(
        "Exec: Search slow (sev2): search takes 20 s"
    )
    await page.get_by_role("button", name="Save as new version").click()
    await expect(page.locator("#template-versions li")).to_have_count(1)
    await expect(page.locator("#template-versions")).to_contain_text("Version 1 (in use)")
    await context.close()


@pytest.fixture
def press_desk(configure: Configure) -> str:
    configure({"TOCSIN_COMMS_SPOKESPEOPLE": '["pia@example.com"]'})
    return "pia@example.com"


async def test_log_a_media_inquiry_and_the_spokesperson_publishes_the_statement(
    browser: Browser, site: Site, session: AsyncSession, press_desk: str
) -> None:
    await make_user(session, Role.COMMUNICATOR, email=press_desk)
    await make_user(session, Role.COMMUNICATOR, email="cody@example.com")
    await session.commit()
    context = await browser.new_context()
    context.set_default_timeout(TIMEOUT_MS)
    page = await context.new_page()
    await sign_in(page, site, "cody@example.com", "/comms/media-inquiries")
    await page.get_by_label("Outlet").fill("Daily Bugle")
    await page.get_by_label("Reporter").fill("J. Jameson")
    await page.get_by_label("Question").fill("Are card payments down?")
    await page.get_by_label("Deadline (UTC)").fill("2030-01-05T16:00")
    await page.get_by_role("button", name="Log inquiry").click()
    inquiry = page.locator("#media-inquiries li.inquiry").first
    await expect(inquiry).to_contain_text("Daily Bugle")
    await expect(inquiry).to_contain_text("2030-01-05 16:00")
    await expect(page.get_by_role("button", name="Publish statement")).to_have_count(0)
    await context.close()

    context = await browser.new_context()
    context.set_default_timeout(TIMEOUT_MS)
    page = await context.new_page()
    await sign_in(page, site, press_desk, "/comms/media-inquiries")
    inquiry = page.locator("#media-inquiries li.inquiry").first
    await inquiry.get_by_label("Statement to Daily Bugle").fill("Payments work again.")
    await inquiry.get_by_role("button", name="Publish statement").click()
    statement = page.get_by_role("region", name="Statement to Daily Bugle")
    await expect(statement.locator("pre")).to_have_text("Payments work again.")
    await expect(page.get_by_role("button", name="Publish statement")).to_have_count(0)
    await context.close()
