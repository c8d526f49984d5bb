"""Several requests in one transaction (group commit), on a real database.

What a sender relies on must not depend on whether its request was written alone or with
others: each gets the answer its own post earned, later posts of a group see the earlier
ones, every state change keeps its history row and its request's decision job, and a post
that cannot be stored fails alone.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.test_alert_ingest_helpers import (
    events_of,
    make_integration,
    make_service,
    process_jobs,
    stored_alerts,
)
from tocsin.alerts.formats import alertmanager
from tocsin.alerts.models import Alert, AlertEvent
from tocsin.alerts.normalized import NormalizedAlert, SourceKind
from tocsin.alerts.service import ingestion
from tocsin.alerts.service.group_commit import GroupCommit
from tocsin.alerts.service.ingestion import Post
from tocsin.alerts.service.integrations import Sender, sender_for_key
from tocsin.db import dialect
from tocsin.jobs.models import Job

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def posted(name: str, *, starts: datetime = T0, ends: datetime | None = None) -> NormalizedAlert:
    body = {"labels": {"alertname": name}, "startsAt": starts.isoformat()}
    if ends is not None:
        body["endsAt"] = ends.isoformat()
    [alert] = alertmanager.parse_api_v2([body], now=T0 + timedelta(hours=1))
    return alert


@pytest.fixture
async def sender(session: AsyncSession) -> Sender:
    await make_service(session)
    integration = await make_integration(session, SourceKind.ALERTMANAGER)
    found = await sender_for_key(session, integration.key)
    await session.commit()
    assert found is not None
    return found


async def test_posts_of_one_group_are_merged_in_order_and_each_gets_its_own_answer(
    session: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession], sender: Sender
) -> None:
    fire = Post(sender, [posted("DiskFull"), posted("CpuHot")])
    resend = Post(sender, [posted("DiskFull", starts=T0 - timedelta(minutes=5))])
    resolve = Post(sender, [posted("CpuHot", ends=T0 + timedelta(minutes=10))])

    answers = await ingestion.write_many(session, [fire, resend, resolve], T0)
    await session.commit()

    assert [[(a.change, a.status.value) for a in answer] for answer in answers] == [
        [("created", "firing"), ("created", "firing")],
        [("refreshed", "firing")],
        [("resolved", "resolved")],
    ]
    rows = {row.labels["alertname"]: row for row in await stored_alerts(sessionmaker)}
    assert rows["DiskFull"].receive_count == 2
    assert rows["DiskFull"].starts_at == T0 - timedelta(minutes=5), "earliest start kept"
    assert rows["CpuHot"].status == "resolved"
    assert answers[0][0].alert_id == answers[1][0].alert_id == rows["DiskFull"].id
    history = [(e.alert_id, e.kind) for e in await events_of(sessionmaker)]
    assert history == [
        (rows["DiskFull"].id, "created"),
        (rows["CpuHot"].id, "created"),
        (rows["CpuHot"].id, "resolved"),
    ]
    # One decision job per request that changed something; the re-send changed nothing.
    jobs = await process_jobs(sessionmaker)
    events = [e.id for e in await events_of(sessionmaker)]
    assert [job.payload["alert_event_ids"] for job in jobs] == [events[:2], events[2:]]


async def test_one_group_stores_what_one_transaction_per_post_stores(
    sessionmaker: async_sessionmaker[AsyncSession], session: AsyncSession, sender: Sender
) -> None:
    later = T0 + timedelta(minutes=30)
    posts = [
        Post(sender, [posted("A"), posted("B")]),
        Post(sender, [posted("A", ends=T0 + timedelta(minutes=1))]),
        Post(sender, [posted("A", starts=later), posted("B", starts=T0 - timedelta(hours=1))]),
        Post(sender, [posted("B", ends=T0 + timedelta(minutes=2))]),
    ]
    grouped = await ingestion.write_many(session, posts, T0)
    await session.rollback()  # the same posts, one transaction each, on the same database
    alone = []
    for post in posts:
        async with sessionmaker() as own:
            alone.append(await ingestion.write(own, post.sender, post.alerts, T0))
            await own.commit()

    def shape(answers: list[list[ingestion.Stored]]) -> list[list[tuple[str, str]]]:
        return [[(a.change, a.status.value) for a in answer] for answer in answers]

    assert shape(grouped) == shape(alone)
    assert [a.change for a in alone[2]] == ["refired", "refreshed"]


async def test_a_post_that_cannot_be_stored_fails_alone(
    sessionmaker: async_sessionmaker[AsyncSession], sender: Sender
) -> None:
    writer = GroupCommit(sessionmaker)
    gone = replace(sender, integration_id=sender.integration_id + 1000)  # no such integration
    good, bad, other = await asyncio.gather(
        writer.ingest(Post(sender, [posted("Good")])),
        writer.ingest(Post(gone, [posted("Orphan")])),
        writer.ingest(Post(sender, [posted("Other")])),
        return_exceptions=True,
    )
    assert isinstance(bad, IntegrityError)
    assert not isinstance(good, BaseException) and good[0].change == "created"
    assert not isinstance(other, BaseException) and other[0].change == "created"
    names = sorted(row.labels["alertname"] for row in await stored_alerts(sessionmaker))
    assert names == ["Good", "Other"]


async def test_concurrent_posts_through_the_writer_are_all_durable_when_answered(
    sessionmaker: async_sessionmaker[AsyncSession], sender: Sender
) -> None:
    writer = GroupCommit(sessionmaker)

    async def post_and_read(name: str) -> int:
        [stored] = await writer.ingest(Post(sender, [posted(name)]))
        # Answered means committed: a fresh session sees the row at once.
        async with sessionmaker() as fresh:
            found = await fresh.scalar(sa.select(Alert.id).where(Alert.id == stored.alert_id))
        assert found is not None and found == stored.alert_id
        return found

    ids = await asyncio.gather(*(post_and_read(f"A{i}") for i in range(20)))
    assert len(set(ids)) == 20
    assert len(await process_jobs(sessionmaker)) == 20


async def test_every_answer_and_history_row_names_its_own_alert(
    session: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession], sender: Sender
) -> None:
    """Ids come back from bulk inserts; each must be the id of the alert it is given for,
    also after the newest rows were deleted (ids are then not the row count, and a history
    row's id, which keys its decision job, must not be one used before)."""
    await ingestion.write_many(session, [Post(sender, [posted("Old1"), posted("Old2")])], T0)
    await session.execute(sa.delete(AlertEvent))
    await session.execute(sa.delete(Alert).where(Alert.dedup_key == posted("Old2").dedup_key))
    await session.commit()
    names = [f"Alert{n}" for n in range(130)]
    posts = [Post(sender, [posted(name) for name in names[i : i + 64]]) for i in (0, 64, 128)]
    answers = await ingestion.write_many(session, posts, T0)
    await session.commit()

    async with sessionmaker() as reading:
        stored = {row.dedup_key: row.id for row in await reading.scalars(sa.select(Alert))}
        events = {
            event.id: event.alert_id for event in await reading.scalars(sa.select(AlertEvent))
        }
        jobs = [j for j in await reading.scalars(sa.select(Job).order_by(Job.id))]
    decisions = [job for job in jobs if job.kind == ingestion.PROCESS_JOB]
    given = {a.dedup_key: a.alert_id for answer in answers for a in answer}
    assert given == {posted(name).dedup_key: stored[posted(name).dedup_key] for name in names}
    assert sorted(events.values()) == sorted(given.values()), "one history row per new alert"
    assert len(decisions) == 4, "one decision job per request"
    for post, job in zip(posts, decisions[1:], strict=True):
        assert job.payload["alert_ids"] == [stored[alert.dedup_key] for alert in post.alerts]
        assert [events[e] for e in job.payload["alert_event_ids"]] == job.payload["alert_ids"]


STORED = 12_000
"""Alerts stored before the read: enough that scanning them costs more than looking up a
few hundred keys, so a planner that scans does so by mistake."""


async def _rows_read_for(session: AsyncSession, integration_id: int, keys: list[str]) -> int:
    """How many alert rows the database touched to find `keys`: those it returned plus
    those it read and discarded, from the executed plan (EXPLAIN ANALYZE on PostgreSQL;
    on SQLite, which reports no counts, whether the plan searches the unique index by both
    columns, in which case it reads only what it returns)."""
    params = {"integration_id": integration_id, "dedup_keys": keys}
    connection = await session.connection()
    if dialect.is_postgres(session):
        compiled = ingestion._EXISTING_FOR_UPDATE.params(params).compile(dialect=connection.dialect)
        result = await connection.exec_driver_sql(
            f"EXPLAIN (ANALYZE, FORMAT JSON) {compiled}", compiled.params
        )
        nodes = [result.scalar_one()[0]["Plan"]]
        touched = 0
        while nodes:
            node = nodes.pop()
            nodes.extend(node.get("Plans", []))
            if node.get("Relation Name") == "alerts":
                touched += node["Actual Rows"] + node.get("Rows Removed by Filter", 0)
        return touched
    compiled = ingestion._EXISTING.params(params).compile(
        dialect=connection.dialect, compile_kwargs={"literal_binds": True}
    )
    result = await connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}")
    plan = " ".join(str(row[-1]) for row in result)
    searched = "SEARCH alerts USING INDEX" in plan and "dedup_key=?" in plan
    return len(keys) if searched else -1


async def test_a_large_group_reads_only_the_alerts_it_names_however_many_are_stored(
    session: AsyncSession, sender: Sender
) -> None:
    """Ingestion must not slow down as history piles up: a group commit's read of the posted
    identities touches those alerts only, not every alert the integration ever stored, even
    right after a bulk of inserts, before the database has statistics on the table."""
    for start in range(0, STORED, 2000):
        batch = [posted(f"Stored{n}") for n in range(start, start + 2000)]
        await ingestion.write_many(session, [Post(sender, batch)], T0)
    await session.commit()
    keys = sorted(
        {posted(f"Stored{n}").dedup_key for n in range(0, STORED, STORED // 250)}
        | {posted(f"New{n}").dedup_key for n in range(50)}
    )

    touched = await _rows_read_for(session, sender.integration_id, keys)
    await session.rollback()

    assert 0 <= touched <= len(keys), f"read {touched} alert rows to find {len(keys)} keys"
