"""Live updates across nodes when a node publishes faster than one notification at a time.

An alert storm publishes an event per stored alert; the relay must neither hold the
publisher up nor lose or reorder what it queued.
"""

from __future__ import annotations

import asyncio

import pytest

from tocsin.config import Settings
from tocsin.db.dialect import psycopg_conninfo
from tocsin.events import Event, EventBus
from tocsin.jobs.notify import EventRelay

pytestmark = pytest.mark.postgres_only


async def test_a_burst_reaches_the_other_node_whole_and_in_order(settings: Settings) -> None:
    conninfo = psycopg_conninfo(settings.database_url)
    assert conninfo is not None
    bus_a, bus_b = EventBus(queue_size=5000), EventBus(queue_size=5000)
    relay_a = EventRelay(conninfo, bus_a, node_id="node-a")
    relay_b = EventRelay(conninfo, bus_b, node_id="node-b")
    assert await relay_a.start() and await relay_b.start()
    # Far more than one notification holds (8,000 bytes): the burst is split, not cut.
    sent = [Event("alert.received", {"id": n, "key": "k" * 40}, "alerts:read") for n in range(2000)]
    try:
        async with bus_b.stream() as seen_b:
            for event in sent:
                await bus_a.publish(event)
            received = []
            async with asyncio.timeout(20):
                while len(received) < len(sent):
                    received.append(await seen_b.get())
            assert received == sent
    finally:
        await relay_a.stop()
        await relay_b.stop()


async def test_events_queued_when_a_node_stops_are_still_sent(settings: Settings) -> None:
    conninfo = psycopg_conninfo(settings.database_url)
    assert conninfo is not None
    bus_a, bus_b = EventBus(), EventBus()
    relay_a = EventRelay(conninfo, bus_a, node_id="node-a")
    relay_b = EventRelay(conninfo, bus_b, node_id="node-b")
    assert await relay_a.start() and await relay_b.start()
    try:
        async with bus_b.stream() as seen_b:
            last = Event("incident.resolved", {"id": 9})
            await bus_a.publish(last)
            await relay_a.stop()  # right after publishing: the queued event still goes out
            async with asyncio.timeout(10):
                assert await seen_b.get() == last
    finally:
        await relay_b.stop()
