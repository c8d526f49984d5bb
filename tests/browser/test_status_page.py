"""A customer opens the public status page in a real browser, with scripts switched off,
during an active incident; the screenshot in the documentation is taken here."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.async_api import Browser, expect
from sqlalchemy.ext.asyncio import AsyncSession

from tests.browser.conftest import Site
from tests.browser.test_browser_ui import TIMEOUT_MS
from tocsin.audit.service import Actor
from tocsin.clock import utcnow
from tocsin.statuspage import service as statuspage
from tocsin.statuspage.schemas import (
    AffectedIn,
    ComponentCreate,
    GroupCreate,
    IncidentCreate,
    MaintenanceCreate,
    PageCreate,
    UpdateCreate,
)

pytestmark = pytest.mark.browser

SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "img" / "status-page.png"


async def test_the_public_page_shows_an_active_incident_without_scripts(
    browser: Browser, site: Site, session: AsyncSession, tmp_path: Path
) -> None:
    who = Actor.system("test")
    await statuspage.create_page(session, who, PageCreate(slug="acme", name="Acme"))
    shop = await statuspage.create_group(session, who, "acme", GroupCreate(name="Shop"))
    ids = {}
    for name, service, group in (
        ("Checkout", "checkout", shop.id),
        ("Storefront", "web", shop.id),
        ("Public API", None, None),
    ):
        made = await statuspage.create_component(
            session, who, "acme", ComponentCreate(name=name, service=service, group_id=group)
        )
        ids[name] = made.id
    incident = await statuspage.create_incident(
        session,
        who,
        "acme",
        IncidentCreate(
            name="Checkout payments failing for some customers",
            impact="major",
            body="Some card payments fail at checkout. We are investigating.",
            components=[AffectedIn(component_id=ids["Checkout"], status="partial_outage")],
            notify=False,
        ),
    )
    await statuspage.post_update(
        session,
        who,
        "acme",
        incident.id,
        UpdateCreate(
            status="identified",
            body="A configuration change at our payment provider is the cause; "
            "a fix is rolling out.",
            notify=False,
        ),
    )
    start = utcnow() + timedelta(days=1)
    await statuspage.create_maintenance(
        session,
        who,
        "acme",
        MaintenanceCreate(
            name="Database upgrade",
            body="Search may be slow for a few minutes.",
            scheduled_for=start,
            scheduled_until=start + timedelta(hours=1),
            components=[ids["Public API"]],
            notify=False,
        ),
    )
    await session.rollback()

    context = await browser.new_context(
        java_script_enabled=False, viewport={"width": 1000, "height": 900}
    )
    context.set_default_timeout(TIMEOUT_MS)
    page = await context.new_page()
    await page.goto(f"{site.url}/status")
    await expect(page.get_by_role("status")).to_have_text("Partial System Outage")
    await expect(page.get_by_text("Checkout payments failing for some customers")).to_be_visible()
    await expect(page.get_by_text("a fix is rolling out")).to_be_visible()
    await expect(page.get_by_text("Database upgrade")).to_be_visible()
    await expect(page.locator(".bars").first.locator("span")).to_have_count(90)
    # The documentation's screenshot is refreshed on request (TOCSIN_UPDATE_DOCS=1), so a test
    # run leaves the working tree as it found it.
    shot = SCREENSHOT if os.environ.get("TOCSIN_UPDATE_DOCS") == "1" else tmp_path / "status.png"
    await page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 0

    await page.get_by_label("E-mail").fill("ana@example.com")
    await page.get_by_role("button", name="Subscribe").click()
    await expect(page.get_by_role("heading", name="Check your inbox")).to_be_visible()
