"""Domain events published after commit, for reactions and live pages.

A use case commits its transaction first and publishes afterwards, so no subscriber ever sees
a change that was rolled back. Within one process the bus delivers directly; across nodes on
PostgreSQL a bridge (see `tocsin.jobs.notify`) relays events through LISTEN/NOTIFY.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from tocsin.clock import utcnow


@dataclass(frozen=True)
class Event:
    name: str
    """dotted, e.g. catalog.service.updated"""
    data: dict[str, Any] = field(default_factory=dict)
    audience: str = "authenticated"
    """who may see it live: a permission name, or "private:<id>" for a private incident"""
    at: str = field(default_factory=lambda: utcnow().isoformat())


Reaction = Callable[[Event], Awaitable[None]]


class EventBus:
    def __init__(self, queue_size: int = 1000) -> None:
        self._queues: set[asyncio.Queue[Event]] = set()
        self._reactions: dict[str, list[Reaction]] = {}
        self._queue_size = queue_size
        self._relays: list[Callable[[Event], Awaitable[None]]] = []

    def on(self, name: str, reaction: Reaction) -> None:
        """Register a reaction to an event name ("*" for all)."""
        self._reactions.setdefault(name, []).append(reaction)

    def add_relay(self, relay: Callable[[Event], Awaitable[None]]) -> None:
        """A relay forwards locally published events to other nodes."""
        self._relays.append(relay)

    async def publish(self, event: Event) -> None:
        for relay in self._relays:
            await relay(event)
        await self.deliver(event)
        for reaction in [*self._reactions.get(event.name, []), *self._reactions.get("*", [])]:
            await reaction(event)

    async def deliver(self, event: Event) -> None:
        """Hand an event (local or relayed from another node) to this node's live streams.

        Reactions run only on the node that published the event, so an effect happens once
        however many nodes hear it.
        """
        for queue in list(self._queues):
            with contextlib.suppress(asyncio.QueueFull):
                # A stalled browser must not hold up everyone else: it misses events instead.
                queue.put_nowait(event)

    @contextlib.asynccontextmanager
    async def stream(self) -> AsyncIterator[asyncio.Queue[Event]]:
        queue: asyncio.Queue[Event] = asyncio.Queue(self._queue_size)
        self._queues.add(queue)
        try:
            yield queue
        finally:
            self._queues.discard(queue)

    @property
    def subscriber_count(self) -> int:
        return len(self._queues)


bus = EventBus()


async def publish(
    name: str, data: dict[str, Any] | None = None, audience: str = "authenticated"
) -> None:
    await bus.publish(Event(name, data or {}, audience))
