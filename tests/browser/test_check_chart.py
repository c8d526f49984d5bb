"""A responder opens a synthetic check in a real browser: the list shows its live status, and
the detail page draws the latency history with Chart.js (installed by npm, served by Tocsin),
failed runs marked, beside the failing assertion of each failed run."""

from __future__ import annotations

from datetime import timedelta

import pytest
from playwright.async_api import Browser, expect
from sqlalchemy.ext.asyncio import AsyncSession

from tests.browser.conftest import Site
from tests.browser.test_browser_ui import TIMEOUT_MS, sign_in
from tocsin.audit.service import Actor
from tocsin.checks import runner
from tocsin.checks import service as checks
from tocsin.checks.schemas import CheckCreate
from tocsin.clock import utcnow

pytestmark = pytest.mark.browser

RUNS = [(True, 40.0), (True, 55.0), (False, 3000.0), (False, 3000.0), (False, 3000.0)]


async def test_the_check_page_draws_its_latency_history_with_failures_marked(
    browser: Browser, site: Site, session: AsyncSession
) -> None:
    body = CheckCreate.model_validate(
        {
            "slug": "checkout-port",
            "name": "Checkout port",
            "service": "checkout",
            "kind": "tcp",
            "spec": {"host": "127.0.0.1", "port": 9},
            "failure_threshold": 3,
        }
    )
    created = await checks.create_check(session, Actor.system("test"), body)
    start = utcnow() - timedelta(minutes=len(RUNS))
    for minute, (ok, latency) in enumerate(RUNS):
        outcome = runner.Outcome(
            ok=ok, latency_ms=latency, error=None if ok else "connection refused by 127.0.0.1:9"
        )
        await checks.record_outcome(
            session,
            created.id,
            outcome,
            location="default",
            started=start + timedelta(minutes=minute),
        )
    await session.commit()

    page = await (await browser.new_context()).new_page()
    page.set_default_timeout(TIMEOUT_MS)
    await sign_in(page, site, site.org.responder.email)
    await page.goto(f"{site.url}/checks")
    row = page.locator("#check-checkout-port")
    await expect(row.get_by_role("status")).to_have_text("down")
    await row.get_by_role("link", name="Checkout port").click()

    await expect(page.get_by_role("heading", name="Checkout port")).to_be_visible()
    await expect(page.get_by_text("connection refused by 127.0.0.1:9").first).to_be_visible()
    canvas = page.get_by_role("img", name="Latency of recent runs of Checkout port")
    await expect(canvas).to_be_visible()
    drawn = await page.wait_for_function(
        """() => {
            const chart = window.Chart && window.Chart.getChart("check-latency");
            if (!chart) return null;
            const set = chart.data.datasets[0];
            return {points: set.data, radii: set.pointRadius};
        }"""
    )
    chart = await drawn.json_value()
    assert chart["points"] == [latency for _, latency in RUNS]
    # Failed runs stand out as larger points.
    assert [r > 2 for r in chart["radii"]] == [not ok for ok, _ in RUNS]
