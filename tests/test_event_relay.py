"""Domain events reach the other nodes through PostgreSQL, also when a node publishes
faster than one notification at a time.

An alert storm publishes an event per stored alert; the relay must neither hold the
publisher up nor lose, reorder or echo back what it queued.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from tocsin.config import Settings
from tocsin.db.dialect import psycopg_conninfo
from tocsin.events import Event, EventBus
from tocsin.jobs.notify import EventRelay

pytestmark = pytest.mark.postgres_only


@contextlib.asynccontextmanager
async def two_nodes(
    settings: Settings, queue_size: int = 1000
) -> AsyncIterator[tuple[EventBus, EventRelay, EventBus]]:
    """Node A's bus and relay, and node B's bus, both relaying through the test database."""
    conninfo = psycopg_conninfo(settings.database_url)
    assert conninfo is not None
    bus_a, bus_b = EventBus(queue_size), EventBus(queue_size)
    relay_a = EventRelay(conninfo, bus_a, node_id="node-a")
    relay_b = EventRelay(conninfo, bus_b, node_id="node-b")
    assert await relay_a.start() and await relay_b.start()
    try:
        yield bus_a, relay_a, bus_b
    finally:
        await relay_a.stop()
        await relay_b.stop()


async def test_events_reach_other_nodes_once_and_never_come_back(settings: Settings) -> None:
    async with (
        two_nodes(settings) as (bus_a, _, bus_b),
        bus_a.stream() as seen_a,
        bus_b.stream() as seen_b,
    ):
        sent = Event("incident.updated", {"id": 7}, "private:7")
        await bus_a.publish(sent)
        async with asyncio.timeout(10):
            received = await seen_b.get()
        assert received == sent
        assert seen_a.get_nowait() == sent  # delivered locally, once
        await bus_b.publish(Event("incident.resolved", {"id": 7}))
        async with asyncio.timeout(10):
            after = await seen_a.get()
        # Node A's own event, relayed back through the database before B's, was skipped.
        assert after.name == "incident.resolved"
        assert seen_a.empty()


async def test_a_burst_reaches_the_other_node_whole_and_in_order(settings: Settings) -> None:
    # Far more than one notification holds (8,000 bytes): the burst is split, not cut.
    sent = [Event("alert.received", {"id": n, "key": "k" * 40}, "alerts:read") for n in range(2000)]
    async with two_nodes(settings, queue_size=5000) as (bus_a, _, bus_b), bus_b.stream() as seen:
        for event in sent:
            await bus_a.publish(event)
        received = []
        async with asyncio.timeout(20):
            while len(received) < len(sent):
                received.append(await seen.get())
        assert received == sent


async def test_events_queued_when_a_node_stops_are_still_sent(settings: Settings) -> None:
    async with two_nodes(settings) as (bus_a, relay_a, bus_b), bus_b.stream() as seen:
        last = Event("incident.resolved", {"id": 9})
        await bus_a.publish(last)
        await relay_a.stop()  # right after publishing: the queued event still goes out
        async with asyncio.timeout(10):
            assert await seen.get() == last
