"""`tocsin serve --processes 2`: several server processes each keep their own status-page
cache, and a change made elsewhere still reaches every one of them within the documented
second (`freshness.VERSION_TTL`)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests.net import tocsin_serve
from tocsin.audit.service import Actor
from tocsin.statuspage import freshness, service
from tocsin.statuspage.schemas import ComponentCreate, ComponentUpdate, PageCreate

WHO = Actor.system("test")


@pytest.fixture
async def two_processes(database_url: str) -> AsyncIterator[str]:
    async with tocsin_serve(database_url, "--processes", "2") as base:
        yield base


async def states(base: str, times: int) -> list[tuple[str, str]]:
    """(Search's state, ETag) of `times` answers, each on a new connection so that the
    kernel spreads them over the processes."""
    found = []
    for _ in range(times):
        async with httpx.AsyncClient() as client:
            answer = await client.get(f"{base}/api/v2/summary.json")
        assert answer.status_code == 200, answer.text
        search = next(c for c in answer.json()["components"] if c["name"] == "Search")
        found.append((search["status"], answer.headers["etag"]))
    return found


async def test_every_process_shows_a_change_within_the_bound(
    session: AsyncSession, two_processes: str
) -> None:
    await service.create_page(session, WHO, PageCreate(slug="acme", name="Acme"))
    made = await service.create_component(session, WHO, "acme", ComponentCreate(name="Search"))
    before = await states(two_processes, 20)
    assert {s for s, _ in before} == {"operational"}
    assert len({e for _, e in before}) == 1, "every process renders the same bytes"

    await service.update_component(
        session, WHO, "acme", made.id, ComponentUpdate(status="major_outage")
    )
    changed_at = time.monotonic()
    # The processes run on the system clock, so the bound can only be waited out for real.
    await asyncio.sleep(
        max(0.0, changed_at + freshness.VERSION_TTL.total_seconds() - time.monotonic())
    )
    after = await states(two_processes, 20)
    assert {s for s, _ in after} == {"major_outage"}
    assert len({e for _, e in after}) == 1
