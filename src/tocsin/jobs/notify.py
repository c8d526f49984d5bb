"""PostgreSQL LISTEN/NOTIFY: prompt wake-ups for workers and domain events across nodes.

Both ride on notifications because they need nothing besides the database every node
already talks to. Notifications are a latency optimisation, never the source of truth: a
worker that misses one still polls, and an event only refreshes what a page shows.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import os
import socket
import uuid
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import psycopg
import structlog
from fastapi import APIRouter, FastAPI

from tocsin.config import Settings
from tocsin.db.dialect import PG_NOTIFY_MAX_BYTES, listen, notify_now, psycopg_conninfo
from tocsin.events import Event, EventBus, bus
from tocsin.jobs.service import WAKE_CHANNEL

EVENTS_CHANNEL = "tocsin_events"
NODE_ID = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
"""Identifies this process in relayed events, so that it skips its own."""

RECONNECT_SECONDS = (0.5, 1, 2, 5, 10, 30)

log = structlog.get_logger("tocsin.jobs.notify")

Callback = Callable[[str], Awaitable[None] | None]


class Listener:
    """One dedicated connection LISTENing on some channels; reconnects when it drops.

    `on_connect` runs after every (re)connection: notifications sent while the connection
    was down are lost, so a worker uses it to look at the queue again.
    """

    def __init__(
        self,
        conninfo: str,
        callbacks: dict[str, Callback],
        *,
        on_connect: Callable[[], None] | None = None,
    ) -> None:
        self._conninfo = conninfo
        self._callbacks = callbacks
        self._on_connect = on_connect
        self._task: asyncio.Task[None] | None = None
        self._listening = asyncio.Event()

    async def start(self, wait_seconds: float = 5.0) -> bool:
        """Start listening; True once subscribed (False: still trying in the background)."""
        self._task = asyncio.create_task(self._run(), name="tocsin-listen")
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(wait_seconds):
                await self._listening.wait()
        return self._listening.is_set()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        failures = 0
        while True:
            try:
                conn = await psycopg.AsyncConnection.connect(self._conninfo, autocommit=True)
                try:
                    await listen(conn, list(self._callbacks))
                    self._listening.set()
                    failures = 0
                    if self._on_connect is not None:
                        self._on_connect()
                    async for note in conn.notifies():
                        await self._dispatch(note.channel, note.payload)
                finally:
                    self._listening.clear()
                    with contextlib.suppress(Exception):
                        await conn.close()
            except (psycopg.Error, OSError) as exc:
                delay = RECONNECT_SECONDS[min(failures, len(RECONNECT_SECONDS) - 1)]
                failures += 1
                log.warning("listen connection lost", error=str(exc), retry_in=delay)
                await asyncio.sleep(delay)

    async def _dispatch(self, channel: str, payload: str) -> None:
        callback = self._callbacks.get(channel)
        if callback is None:
            return
        try:
            outcome = callback(payload)
            if outcome is not None:
                await outcome
        except Exception:
            log.exception("notification callback failed", channel=channel)


async def start_wake_listener(settings: Settings, wake: Callable[[], None]) -> Listener | None:
    """Call `wake` whenever any node commits a job (PostgreSQL only)."""
    conninfo = psycopg_conninfo(settings.database_url)
    if conninfo is None:
        return None
    listener = Listener(conninfo, {WAKE_CHANNEL: lambda _payload: wake()}, on_connect=wake)
    await listener.start()
    return listener


# --- domain events across nodes ----------------------------------------------------------


RELAY_BACKLOG = 10_000
"""Events waiting to be relayed, at most; beyond it (the database unreachable for long) the
oldest are dropped, as a live update is worth less than memory."""


class EventRelay:
    """Forwards events published on this node's bus to the other nodes, and delivers theirs.

    Reactions therefore run on every node that receives an event: a reaction with an
    outside effect should enqueue a job with an idempotency key derived from the event.

    Publishing does not wait for the relay: events are queued and one task sends everything
    queued at that moment, packed into as few notifications as fit, in publishing order. A
    request that stores alerts publishes an event per alert; waiting for a round trip each,
    under one lock, had made every ingestion request of a node queue behind the others.
    """

    def __init__(self, conninfo: str, target: EventBus, node_id: str = NODE_ID) -> None:
        self.node_id = node_id
        self._conninfo = conninfo
        self._bus = target
        self._listener = Listener(conninfo, {EVENTS_CHANNEL: self._received})
        self._sender: psycopg.AsyncConnection[Any] | None = None
        self._pending: collections.deque[str] = collections.deque(maxlen=RELAY_BACKLOG)
        self._flusher: asyncio.Task[None] | None = None

    async def start(self) -> bool:
        listening = await self._listener.start()
        _attach(self._bus, self)
        return listening

    async def stop(self) -> None:
        _detach(self._bus, self)
        if self._flusher is not None:
            with contextlib.suppress(Exception):
                await self._flusher
        await self._listener.stop()
        if self._sender is not None:
            with contextlib.suppress(Exception):
                await self._sender.close()
            self._sender = None

    async def send(self, event: Event) -> None:
        message = json.dumps(
            {"name": event.name, "data": event.data, "audience": event.audience, "at": event.at},
            separators=(",", ":"),
            default=str,
        )
        if len(message.encode()) + len(self.node_id) + 40 > PG_NOTIFY_MAX_BYTES:
            # Events name what changed; pages reload the details. A huge one is a bug upstream.
            log.warning("event too large to relay", event_name=event.name, bytes=len(message))
            return
        self._pending.append(message)
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush(), name="tocsin-relay")

    def _notifications(self) -> list[str]:
        """Everything queued, as notification payloads under PostgreSQL's size limit."""
        head = json.dumps({"node": self.node_id}, separators=(",", ":"))[:-1] + ',"events":['
        payloads: list[str] = []
        batch: list[str] = []
        size = len(head) + 2
        while self._pending:
            message = self._pending[0]
            if batch and size + len(message.encode()) + 1 > PG_NOTIFY_MAX_BYTES:
                payloads.append(head + ",".join(batch) + "]}")
                batch, size = [], len(head) + 2
            batch.append(self._pending.popleft())
            size += len(message.encode()) + 1
        if batch:
            payloads.append(head + ",".join(batch) + "]}")
        return payloads

    async def _flush(self) -> None:
        while self._pending:
            payloads = self._notifications()
            for attempt in (1, 2):
                try:
                    if self._sender is None or self._sender.closed:
                        self._sender = await psycopg.AsyncConnection.connect(
                            self._conninfo, autocommit=True
                        )
                    for payload in payloads:
                        await notify_now(self._sender, EVENTS_CHANNEL, payload)
                    break
                except (psycopg.Error, OSError) as exc:
                    self._sender = None
                    if attempt == 2:
                        # Publishers have already committed; losing live updates beats failing.
                        log.warning("event relay failed", events=len(payloads), error=str(exc))

    async def _received(self, payload: str) -> None:
        """A notification holds one event (`name`, `data`, ...) or several (`events`)."""
        try:
            message = json.loads(payload)
            if message.get("node") == self.node_id:
                return
            events = message.get("events", [message])
            relayed = [
                Event(
                    str(item["name"]),
                    dict(item.get("data") or {}),
                    str(item.get("audience") or "authenticated"),
                    str(item.get("at") or ""),
                )
                for item in events
            ]
        except (ValueError, KeyError, TypeError, AttributeError):
            log.warning("ignoring a malformed relayed event", payload=payload[:200])
            return
        for event in relayed:
            await self._bus.deliver(event)


_relays: weakref.WeakKeyDictionary[EventBus, set[EventRelay]] = weakref.WeakKeyDictionary()


def _attach(target: EventBus, relay: EventRelay) -> None:
    # The bus cannot forget a relay, so it gets one forwarder for its whole life, which
    # sends through whichever relays are running at the moment.
    if target not in _relays:
        _relays[target] = set()

        async def forward(event: Event) -> None:
            for active in list(_relays.get(target, ())):
                await active.send(event)

        target.add_relay(forward)
    _relays[target].add(relay)


def _detach(target: EventBus, relay: EventRelay) -> None:
    _relays.get(target, set()).discard(relay)


async def start_event_relay(settings: Settings, target: EventBus = bus) -> EventRelay | None:
    """Relay `target`'s events across nodes (PostgreSQL only; one node needs no relay)."""
    conninfo = psycopg_conninfo(settings.database_url)
    if conninfo is None:
        return None
    relay = EventRelay(conninfo, target)
    await relay.start()
    return relay


@contextlib.asynccontextmanager
async def _relay_lifespan(app: FastAPI) -> AsyncIterator[None]:
    relay = await start_event_relay(app.state.settings)
    try:
        yield
    finally:
        if relay is not None:
            await relay.stop()


relay_router = APIRouter(lifespan=_relay_lifespan)
"""Routes nothing; including it makes every app node relay events while it runs."""
