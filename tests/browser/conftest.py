"""Fixtures for browser tests: Debian's Chromium driven by Playwright, against a real server.

Playwright never downloads a browser here: it launches the system's Chromium (installed by
`make browser`), or the one named by TOCSIN_CHROMIUM.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.async_api import Browser, async_playwright
from sqlalchemy.ext.asyncio import AsyncSession

from tests.browser.sample import Sample, build
from tests.browser.server import running_server
from tocsin.config import Settings

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str:
    path = os.environ.get("TOCSIN_CHROMIUM", "/usr/bin/chromium")
    if not Path(path).is_file():
        message = f"no Chromium at {path}: run `make browser` (apt-get install chromium)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    executable = chromium_path()
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            await launched.close()


@dataclass
class Site:
    url: str
    org: Sample


@pytest.fixture
async def site(settings: Settings, session: AsyncSession) -> AsyncIterator[Site]:
    """The sample organisation, served by uvicorn on a free loopback port."""
    org = await build(session)
    await session.rollback()  # SQLite: leave the single write lock to the server
    async with running_server(settings) as url:
        yield Site(url, org)
