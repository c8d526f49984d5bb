"""A responder builds a schedule and changes an escalation policy in a real browser, with
the forms alone: the timeline and "who is on call" follow at once."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, Page, expect
from sqlalchemy.ext.asyncio import AsyncSession

from tests.browser.conftest import Site
from tests.browser.test_browser_ui import TIMEOUT_MS, sign_in
from tests.factories import make_user
from tocsin.audit.service import Actor
from tocsin.auth.permissions import Role
from tocsin.clock import FrozenClock
from tocsin.oncall import service as oncall
from tocsin.oncall.schemas import PolicyIn

pytestmark = pytest.mark.browser


async def signed_in(browser: Browser, site: Site) -> Page:
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    page = await context.new_page()
    await sign_in(page, site, site.org.responder.email)
    return page


async def test_a_schedule_with_two_members_and_an_override_made_in_the_browser(
    browser: Browser, site: Site, session: AsyncSession, clock: FrozenClock
) -> None:
    bea = await make_user(session, Role.RESPONDER, email="bea@example.com")
    cal = await make_user(session, Role.RESPONDER, email="cal@example.com")
    await session.commit()
    today = clock.now().date()  # the server reads the same frozen clock
    page = await signed_in(browser, site)

    await page.goto(f"{site.url}/oncall")
    await page.get_by_role("link", name="New schedule").click()
    await page.get_by_label("Name", exact=True).fill("Storefront primary")
    await expect(page.get_by_label("Team")).to_have_value("storefront")
    layer = page.get_by_role("group", name="Layer 1")
    await layer.get_by_label("Time zone").fill("UTC")
    await layer.get_by_label("Rotation").select_option("daily")
    await layer.get_by_label("First turn starts on").fill(today.isoformat())
    await layer.get_by_label("Hand-off time").fill("00:00")
    await layer.get_by_label("Member 1").select_option(label=bea.name)
    await layer.get_by_role("button", name="Add a member").click()
    layer = page.get_by_role("group", name="Layer 1")  # the form came back with a new row
    await expect(layer.get_by_label("Member 1")).to_have_value(str(bea.id))
    await layer.get_by_label("Member 2").select_option(label=site.org.responder.name)
    await page.get_by_role("button", name="Save", exact=True).click()

    await expect(page).to_have_url(f"{site.url}/oncall/schedules/storefront-primary?saved=1")
    await expect(page.get_by_role("status").filter(has_text="Saved.")).to_be_visible()
    # Daily turns from today 00:00 UTC: bea today, the responder tomorrow.
    first, second = (
        page.locator(".oncall-timeline tbody tr").nth(0),
        page.locator(".oncall-timeline tbody tr").nth(1),
    )
    await expect(first.locator(".oncall-bar")).to_have_text([bea.name])
    await expect(second.locator(".oncall-bar")).to_have_text([site.org.responder.name])

    # Cal covers the whole of today.
    await page.get_by_label("Who").select_option(label=cal.name)
    await page.get_by_label("From (UTC)").fill(f"{today.isoformat()}T00:00")
    await page.get_by_label("To (UTC)").fill(f"{today.isoformat()}T23:59")
    await page.get_by_role("button", name="Add override").click()
    await expect(page.locator("tr.override")).to_contain_text(cal.name)
    first = page.locator(".oncall-timeline tbody tr").nth(0)
    await expect(first.locator(".oncall-bar").first).to_have_text(cal.name)

    await page.goto(f"{site.url}/oncall")
    row = page.locator("#schedule-storefront-primary")
    await expect(row.locator(".on-call-now")).to_have_text(cal.name)
    await page.context.close()


async def test_a_policy_is_edited_in_the_browser(
    browser: Browser, site: Site, session: AsyncSession
) -> None:
    responder = site.org.responder
    body = PolicyIn.model_validate(
        {
            "slug": "storefront",
            "name": "Storefront",
            "team": "storefront",
            "levels": [{"timeout_minutes": 5, "targets": [{"type": "user", "id": responder.id}]}],
        }
    )
    await oncall.save_policy(session, Actor.system("test"), body)
    page = await signed_in(browser, site)

    await page.goto(f"{site.url}/oncall/policies")
    await page.get_by_role("link", name="Edit Storefront").click()
    await page.get_by_label("Repeat").fill("2")
    await page.get_by_role("button", name="Add a level").click()
    level = page.get_by_role("group", name="Level 2")
    await level.get_by_label("Target 1").select_option(label="Storefront")
    await level.get_by_label("Escalate after (minutes)").fill("20")
    await page.get_by_role("button", name="Save", exact=True).click()

    saved = page.get_by_role("status").filter(has_text="Escalation policy storefront saved.")
    await expect(saved).to_be_visible()
    card = page.locator("#policy-storefront")
    await expect(card).to_contain_text("repeats 2 times")
    await expect(card.locator("li")).to_have_count(2)
    await expect(card.locator("li").nth(1)).to_contain_text("team Storefront")
    await expect(card.locator("li").nth(1)).to_contain_text("escalates after 20 min")
    stored = await oncall.get_policy(session, "storefront")
    await session.rollback()
    assert stored.repeat == 2 and stored.levels[1].timeout_minutes == 20
    await page.context.close()
