"""Telling e-mail subscribers about an update, through the job worker and a real SMTP server:
one connection carries a batch, a refused address does not hold up the others, only those
the server asked to try later are tried again, and nobody hears the same update twice."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.conftest import Configure
from tests.mail import Picky, smtp_server
from tocsin.audit.service import Actor
from tocsin.clock import FrozenClock, utcnow
from tocsin.comms.models import CommsLogEntry
from tocsin.config import Settings, get_settings
from tocsin.jobs.models import Job
from tocsin.jobs.registry import load_domain_handlers
from tocsin.jobs.worker import Worker
from tocsin.statuspage import delivery, service
from tocsin.statuspage.models import StatusIncidentUpdate, Subscriber
from tocsin.statuspage.schemas import IncidentCreate, PageCreate

READERS = [f"reader{n}@acme.example" for n in range(5)]
GONE = "gone@acme.example"
BUSY = "busy@acme.example"
LEFT = "left@acme.example"


@pytest.fixture
def mailbox(configure: Configure) -> Iterator[Picky]:
    with smtp_server(Picky()) as (box, port):
        configure(
            {
                "TOCSIN_SMTP_HOST": "127.0.0.1",
                "TOCSIN_SMTP_PORT": str(port),
                "TOCSIN_SMTP_STARTTLS": "false",
                "TOCSIN_BASE_URL": "https://status.example",
            }
        )
        assert isinstance(box, Picky)
        yield box


async def run_jobs(settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    load_domain_handlers()  # as `tocsin worker` does
    worker = Worker(settings, sessionmaker, worker_id="test-worker")
    while await worker.run_once():
        pass


async def subscribe(session: AsyncSession, page_id: int, addresses: list[str]) -> dict[str, int]:
    now = utcnow()
    ids = {}
    for address in addresses:
        row = Subscriber(
            page_id=page_id,
            mode="email",
            address=address,
            component_ids=[],
            confirmed_at=now,
            unsubscribed_at=now if address == LEFT else None,
        )
        session.add(row)
        await session.flush()
        ids[address] = row.id
    await session.commit()
    return ids


async def unsubscribe_target(session: AsyncSession, text: str) -> int:
    """Whose subscription the unsubscribe link in this mail ends."""
    link = next(w for w in text.split() if "/status/unsubscribe/" in w)
    assert link.startswith("https://status.example/status/unsubscribe/")
    return (await service.read_token(session, link.rsplit("/", 1)[1], "unsubscribe")).id


async def test_a_batch_goes_over_one_connection_and_only_the_deferred_are_retried(
    mailbox: Picky,
    settings: Settings,
    session: AsyncSession,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FrozenClock,
) -> None:
    actor = Actor.system("test")
    page = await service.create_page(session, actor, PageCreate(slug="acme", name="Acme"))
    everyone = [*READERS[:2], GONE, BUSY, LEFT, *READERS[2:]]
    ids = await subscribe(session, page.id, everyone)
    mailbox.refuse.add(GONE)
    mailbox.later.add(BUSY)

    await service.create_incident(
        session, actor, "acme", IncidentCreate(name="Checkout is slow", body="Looking into it.")
    )
    await session.commit()
    await run_jobs(settings, sessionmaker)

    assert sorted(r for recipients, _ in mailbox.messages for r in recipients) == sorted(READERS)
    assert len(set(mailbox.peers)) == 1, "the whole batch over one SMTP connection"
    for address in READERS:
        [text] = mailbox.text_to(address)
        assert "Checkout is slow" in text and "Looking into it." in text
        assert await unsubscribe_target(session, text) == ids[address]
    retries = list(
        await session.scalars(
            sa.select(Job).where(Job.kind == service.DELIVER_KIND, Job.status == "queued")
        )
    )
    assert [(j.payload["subscribers"], j.payload["round"]) for j in retries] == [
        ([ids[BUSY]], 2)
    ], "only the one the server asked to try later; a refused address is not retried"
    logged = list(
        await session.scalars(
            sa.select(CommsLogEntry)
            .where(CommsLogEntry.kind == "subscriber_batch")
            .order_by(CommsLogEntry.seq)
        )
    )
    assert [e.recipients for e in logged] == [", ".join(sorted(READERS))]
    assert "(per-subscriber unsubscribe link)" in logged[0].text

    await session.commit()  # the worker needs the database to itself
    mailbox.later.clear()
    clock.advance(delivery.RETRY_DELAY)
    await run_jobs(settings, sessionmaker)
    [text] = mailbox.text_to(BUSY)
    assert await unsubscribe_target(session, text) == ids[BUSY]
    assert len(mailbox.messages) == len(READERS) + 1, "nobody heard the update twice"
    assert mailbox.text_to(GONE) == [] and mailbox.text_to(LEFT) == []
    session.expire_all()
    entries = await session.scalars(
        sa.select(CommsLogEntry.recipients)
        .where(CommsLogEntry.kind == "subscriber_batch")
        .order_by(CommsLogEntry.seq)
    )
    assert list(entries)[-1] == BUSY


async def test_without_a_mail_server_every_address_waits_for_a_later_round(
    settings: Settings,
    session: AsyncSession,
    sessionmaker: async_sessionmaker[AsyncSession],
    configure: Configure,
) -> None:
    configure({"TOCSIN_SMTP_HOST": None})
    actor = Actor.system("test")
    page = await service.create_page(session, actor, PageCreate(slug="acme", name="Acme"))
    ids = await subscribe(session, page.id, READERS)
    incident = await service.create_incident(
        session, actor, "acme", IncidentCreate(name="Down", body="Looking.", notify=False)
    )
    await session.commit()
    update_id = await session.scalar(
        sa.select(StatusIncidentUpdate.id).where(
            StatusIncidentUpdate.status_incident_id == incident.id
        )
    )
    payload: dict[str, Any] = {"update_id": update_id, "subscribers": list(ids.values())}
    failed = await delivery.deliver_batch(session, payload)
    await session.commit()
    assert failed == sorted(ids.values())
    logged = await session.scalar(
        sa.select(sa.func.count())
        .select_from(CommsLogEntry)
        .where(CommsLogEntry.kind == "subscriber_batch")
    )
    assert logged == 0, "nobody was reached, so no batch is on record"


async def test_one_process_mails_only_a_few_batches_at_once(
    mailbox: Picky,
    settings: Settings,
    session: AsyncSession,
    sessionmaker: async_sessionmaker[AsyncSession],
    configure: Configure,
) -> None:
    """More connections would not send faster (the sending is CPU-bound on our side) but would
    slow down every request the same process serves."""
    configure({"TOCSIN_STATUSPAGE_BATCH_SIZE": "10"})
    actor = Actor.system("test")
    page = await service.create_page(session, actor, PageCreate(slug="acme", name="Acme"))
    readers = [f"reader{n}@acme.example" for n in range(60)]
    await subscribe(session, page.id, readers)
    await service.create_incident(
        session, actor, "acme", IncidentCreate(name="Checkout is slow", body="Looking into it.")
    )
    await session.commit()
    await run_jobs(settings, sessionmaker)

    assert sorted(r for recipients, _ in mailbox.messages for r in recipients) == sorted(readers)
    assert len(set(mailbox.peers)) == 6, "a connection per batch"
    spans = {
        peer: (mailbox.peers.index(peer), len(mailbox.peers) - mailbox.peers[::-1].index(peer))
        for peer in mailbox.peers
    }
    overlapping = max(
        sum(1 for start, end in spans.values() if start <= at < end)
        for at in range(len(mailbox.peers))
    )
    assert overlapping <= get_settings().statuspage_smtp_connections == 2
