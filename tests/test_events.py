"""The event bus: live streams hear every event; reactions run once, on the publishing node."""

from __future__ import annotations

from tocsin.events import Event, EventBus


async def test_a_local_event_reaches_streams_and_reactions_once() -> None:
    bus = EventBus()
    seen: list[str] = []

    async def react(event: Event) -> None:
        seen.append(event.name)

    bus.on("incident.declared", react)
    async with bus.stream() as queue:
        await bus.publish(Event("incident.declared", {"id": 1}))
        assert queue.get_nowait().data == {"id": 1}
    assert seen == ["incident.declared"]


async def test_an_event_relayed_from_another_node_updates_pages_but_reacts_nowhere_else() -> None:
    bus = EventBus()
    seen: list[str] = []

    async def react(event: Event) -> None:
        seen.append(event.name)

    bus.on("*", react)
    async with bus.stream() as queue:
        await bus.deliver(Event("incident.updated"))
        assert queue.get_nowait().name == "incident.updated"
    assert seen == []


async def test_a_stalled_stream_misses_events_instead_of_blocking_others() -> None:
    bus = EventBus(queue_size=1)
    async with bus.stream() as slow, bus.stream() as fast:
        await bus.publish(Event("a"))
        fast.get_nowait()
        await bus.publish(Event("b"))
        assert fast.get_nowait().name == "b"
        assert slow.qsize() == 1 and slow.get_nowait().name == "a"
    assert bus.subscriber_count == 0


async def test_relays_forward_what_this_node_publishes() -> None:
    bus = EventBus()
    forwarded: list[str] = []

    async def relay(event: Event) -> None:
        forwarded.append(event.name)

    bus.add_relay(relay)
    await bus.publish(Event("catalog.service.updated"))
    await bus.deliver(Event("from.elsewhere"))
    assert forwarded == ["catalog.service.updated"]
