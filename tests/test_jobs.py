"""Durable jobs: idempotent scheduling, the outbox, claims with leases, retries, dead letters."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.conftest import count_rows
from tocsin.audit.service import Actor
from tocsin.auth import service as auth
from tocsin.auth.models import User
from tocsin.auth.permissions import Role
from tocsin.clock import FrozenClock
from tocsin.config import Settings
from tocsin.jobs import service
from tocsin.jobs.models import Job, JobAttempt, JobStatus, Priority
from tocsin.jobs.queue import ClaimedJob
from tocsin.jobs.registry import JobContext, PermanentError, Registry, RetryLater, job_handler
from tocsin.jobs.registry import registry as global_registry
from tocsin.jobs.worker import Worker, jump_threshold, run_worker_forever

Payload = dict[str, Any]


@pytest.fixture
def handlers() -> Registry:
    return Registry()


@pytest.fixture
def make_worker(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession], handlers: Registry
) -> Any:
    def build(name: str = "worker-a", **overrides: Any) -> Worker:
        return Worker(
            settings.model_copy(update=overrides),
            sessionmaker,
            registry=handlers,
            worker_id=name,
        )

    return build


async def reload(session: AsyncSession, job_id: int) -> Job:
    session.expire_all()
    job = await service.get_job(session, job_id, with_attempts=True)
    await session.commit()  # on SQLite an open transaction would block the worker
    return job


async def attempts_of(session: AsyncSession, job_id: int) -> list[JobAttempt]:
    return (await reload(session, job_id)).attempt_log


# --- scheduling and the outbox ---------------------------------------------------------


async def test_same_idempotency_key_returns_the_existing_job(
    session: AsyncSession, clock: FrozenClock
) -> None:
    first = await service.schedule(session, "page.send", {"to": "ann"}, idempotency_key="k-1")
    again = await service.schedule(session, "page.send", {"to": "bob"}, idempotency_key="k-1")
    assert again.id == first.id
    assert again.payload == {"to": "ann"}
    assert await count_rows(session, Job) == 1


async def test_same_key_twice_in_one_transaction_is_one_job(
    session: AsyncSession, clock: FrozenClock
) -> None:
    first = await service.enqueue(session, "page.send", idempotency_key="k-2")
    second = await service.enqueue(session, "page.send", idempotency_key="k-2")
    await session.commit()
    assert first.id == second.id
    assert await count_rows(session, Job) == 1


async def test_database_refuses_duplicate_idempotency_keys(
    session: AsyncSession, clock: FrozenClock
) -> None:
    await service.schedule(session, "page.send", idempotency_key="k-3")
    now = clock.now()
    session.add(
        Job(kind="page.send", payload={}, run_at=now, idempotency_key="k-3", max_attempts=3)
    )
    with pytest.raises(IntegrityError):
        await session.commit()


async def test_enqueue_rides_the_callers_transaction(
    session: AsyncSession, clock: FrozenClock
) -> None:
    async def use_case(email: str) -> None:
        user = await auth.create_user(
            session, Actor.system("test"), email=email, role=Role.VIEWER, commit=False
        )
        await service.enqueue(session, "welcome.send", {"user_id": user.id})

    await use_case("rolled-back@example.test")
    await session.rollback()
    assert await count_rows(session, User) == 0
    assert await count_rows(session, Job) == 0

    await use_case("kept@example.test")
    await session.commit()
    assert await count_rows(session, User) == 1
    assert await count_rows(session, Job) == 1


async def test_enqueue_many_adds_only_new_keys(session: AsyncSession, clock: FrozenClock) -> None:
    await service.schedule(session, "notify", idempotency_key="sub-1")
    ids = await service.enqueue_many(
        session,
        [service.NewJob("notify", {"n": n}, idempotency_key=f"sub-{n}") for n in range(1, 4)],
    )
    await session.commit()
    assert len(ids) == 2
    assert await count_rows(session, Job) == 3


async def test_enqueue_many_stores_each_job_as_given_and_a_repeated_key_once(
    session: AsyncSession, clock: FrozenClock
) -> None:
    later = clock.now() + timedelta(minutes=5)
    ids = await service.enqueue_many(
        session,
        [
            service.NewJob("a", {"n": 1}, priority=-5),
            service.NewJob("b", {"nested": {"x": [1, 2]}}, idempotency_key="k"),
            service.NewJob("c", {}, idempotency_key="k"),
            service.NewJob("d", {"n": 4}, run_at=later, max_attempts=2),
        ],
    )
    await session.commit()
    jobs = (await session.scalars(sa.select(Job).order_by(Job.id))).all()
    assert [(j.kind, j.payload, j.priority, j.idempotency_key) for j in jobs] == [
        ("a", {"n": 1}, -5, None),
        ("b", {"nested": {"x": [1, 2]}}, 0, "k"),
        ("d", {"n": 4}, 0, None),
    ]
    assert [j.run_at for j in jobs] == [clock.now(), clock.now(), later]
    assert jobs[2].max_attempts == 2
    assert ids == [j.id for j in jobs], "the ids of the jobs added, in the order given"


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"kind": ""}, "kind"),
        ({"kind": "x" * 101}, "kind"),
        ({"kind": "ok", "idempotency_key": "k" * 201}, "idempotency_key"),
        ({"kind": "ok", "max_attempts": 0}, "max_attempts"),
        ({"kind": "ok", "payload": {"at": object()}}, "payload"),
        ({"kind": "ok", "priority": 10_000}, "priority"),
        ({"kind": "ok", "priority": "urgent"}, "priority"),
    ],
)
async def test_bad_jobs_are_refused_naming_the_field(
    session: AsyncSession, clock: FrozenClock, options: dict[str, Any], field: str
) -> None:
    from tocsin.errors import Invalid

    kind = options.pop("kind")
    with pytest.raises(Invalid) as refused:
        await service.enqueue(session, kind, **options)
    assert refused.value.errors and refused.value.errors[0]["field"] == field
    await session.rollback()
    assert await count_rows(session, Job) == 0


async def test_prune_deletes_finished_jobs_past_retention_and_keeps_the_rest(
    session: AsyncSession, clock: FrozenClock, handlers: Registry, make_worker: Any
) -> None:
    @job_handler("done", into=handlers)
    async def done(ctx: JobContext, payload: Payload) -> None:
        if payload.get("fail"):
            raise PermanentError("refused")

    old_ok = await service.schedule(session, "done", idempotency_key="old")
    old_dead = await service.schedule(session, "done", {"fail": True})
    await make_worker().run_once()
    clock.advance(timedelta(days=30))
    recent = await service.schedule(session, "done")
    await make_worker().run_once()
    waiting = await service.schedule(session, "done", run_at=clock.now() + timedelta(days=1))
    ids = (old_ok.id, old_dead.id, recent.id, waiting.id)

    actor = Actor.system("test")
    assert await service.prune(session, actor, older_than=timedelta(days=14)) == 1
    remaining = set((await session.scalars(sa.select(Job.id))).all())
    assert remaining == set(ids) - {ids[0]}
    assert (
        await service.prune(session, actor, older_than=timedelta(days=14), include_dead=True) == 1
    )
    assert set((await session.scalars(sa.select(Job.id))).all()) == {ids[2], ids[3]}
    assert await count_rows(session, JobAttempt) == 1  # the recent job's attempt
    # The key of a pruned job is free again.
    again = await service.schedule(session, "done", idempotency_key="old")
    assert again.id not in ids


# --- running ---------------------------------------------------------------------------


async def test_due_job_runs_once_and_its_attempt_is_recorded(
    session: AsyncSession, clock: FrozenClock, handlers: Registry, make_worker: Any
) -> None:
    seen: list[tuple[int, Payload]] = []

    @job_handler("greet", into=handlers)
    async def greet(ctx: JobContext, payload: Payload) -> None:
        seen.append((ctx.attempt, payload))

    job = await service.schedule(session, "greet", {"name": "Ann"})
    worker = make_worker()
    assert await worker.run_once() == 1
    assert await worker.run_once() == 0
    assert seen == [(1, {"name": "Ann"})]
    stored = await reload(session, job.id)
    assert stored.status == JobStatus.SUCCEEDED
    assert stored.finished_at == clock.now()
    [attempt] = stored.attempt_log
    assert (attempt.attempt, attempt.outcome, attempt.worker_id) == (1, "succeeded", "worker-a")
    assert attempt.started_at == attempt.finished_at == clock.now()


async def test_job_scheduled_for_later_waits_for_its_time(
    session: AsyncSession, clock: FrozenClock, handlers: Registry, make_worker: Any
) -> None:
    ran: list[int] = []

    @job_handler("remind", into=handlers)
    async def remind(ctx: JobContext, payload: Payload) -> None:
        ran.append(ctx.job_id)

    job = await service.schedule(session, "remind", run_at=clock.now() + timedelta(minutes=15))
    worker = make_worker()
    assert await worker.run_once() == 0
    clock.advance(timedelta(minutes=14, seconds=59))
    assert await worker.run_once() == 0
    clock.advance(timedelta(seconds=1))
    assert await worker.run_once() == 1
    assert ran == [job.id]


async def test_job_due_while_no_worker_ran_runs_when_one_starts(
    session: AsyncSession, settings: Settings, clock: FrozenClock
) -> None:
    ran: list[int] = []

    @job_handler("test.restart")
    async def after_restart(ctx: JobContext, payload: Payload) -> None:
        ran.append(ctx.job_id)

    try:
        job = await service.schedule(
            session, "test.restart", run_at=clock.now() + timedelta(minutes=5)
        )
        clock.advance(timedelta(hours=2))  # nothing was running meanwhile
        await run_worker_forever(settings, once=True)  # `tocsin worker --once`
    finally:
        global_registry.unregister("test.restart")
    assert ran == [job.id]
    stored = await reload(session, job.id)
    assert stored.status == JobStatus.SUCCEEDED
    assert stored.attempt_log[0].started_at - stored.run_at == timedelta(hours=1, minutes=55)


async def test_failure_is_retried_after_an_exponential_backoff(
    session: AsyncSession, clock: FrozenClock, handlers: Registry, make_worker: Any
) -> None:
    calls: list[int] = []

    @job_handler("flaky", into=handlers)
    async def flaky(ctx: JobContext, payload: Payload) -> None:
        calls.append(ctx.attempt)
        if ctx.attempt < 3:
            raise ConnectionError("chat platform unreachable")

    job = await service.schedule(session, "flaky", max_attempts=5)
    worker = make_worker()
    started = clock.now()
    assert await worker.run_once() == 1
    first = await reload(session, job.id)
    assert first.status == JobStatus.QUEUED
    assert first.last_error and first.last_error.startswith(
        "ConnectionError: chat platform unreachable"
    )
    first_retry = first.run_at
    assert timedelta(seconds=2.5) <= first_retry - started <= timedelta(seconds=5)
    assert await worker.run_once() == 0  # not yet due

    clock.set(first_retry)
    assert await worker.run_once() == 1
    second_retry = (await reload(session, job.id)).run_at
    assert timedelta(seconds=5) <= second_retry - first_retry <= timedelta(seconds=10)

    clock.set(second_retry)
    assert await worker.run_once() == 1
    done = await reload(session, job.id)
    assert done.status == JobStatus.SUCCEEDED
    assert done.last_error is None
    assert calls == [1, 2, 3]
    assert [a.outcome for a in done.attempt_log] == ["failed", "failed", "succeeded"]
    assert "ConnectionError" in (done.attempt_log[0].error or "")


async def test_a_requested_wait_is_honoured_before_the_next_attempt(
    session: AsyncSession, clock: FrozenClock, handlers: Registry, make_worker: Any
) -> None:
    """A provider answering 429 with Retry-After is not asked again sooner than it said."""

    @job_handler("chat.send", into=handlers)
    async def send(ctx: JobContext, payload: Payload) -> None:
        if ctx.attempt == 1:
            raise RetryLater("Slack chat.postMessage: rate limited (retry after 90 s)", 90)

    job = await service.schedule(session, "chat.send", max_attempts=5)
    worker = make_worker()
    started = clock.now()
    assert await worker.run_once() == 1
    waiting = await reload(session, job.id)
    assert waiting.status == JobStatus.QUEUED
    assert "rate limited" in (waiting.last_error or "")
    # The back-off alone would retry within 5 s; the provider asked for 90.
    assert timedelta(seconds=90) <= waiting.run_at - started <= timedelta(seconds=91)
    clock.advance(timedelta(seconds=60))
    assert await worker.run_once() == 0
    clock.set(waiting.run_at)
    assert await worker.run_once() == 1
    assert (await reload(session, job.id)).status == JobStatus.SUCCEEDED


async def test_job_is_dead_lettered_after_its_last_attempt(
    session: AsyncSession, clock: FrozenClock, handlers: Registry, make_worker: Any
) -> None:
    @job_handler("doomed", into=handlers)
    async def doomed(ctx: JobContext, payload: Payload) -> None:
        raise ValueError("the webhook answered 500")

    job = await service.schedule(session, "doomed", max_attempts=2)
    worker = make_worker()
    await worker.run_once()
    clock.advance(timedelta(hours=1))
    await worker.run_once()
    clock.advance(timedelta(days=1))
    assert await worker.run_once() == 0
    dead = await reload(session, job.id)
    assert dead.status == JobStatus.DEAD
    assert dead.attempts == 2
    assert dead.finished_at == clock.now() - timedelta(days=1)
    assert (dead.last_error or "").startswith("ValueError: the webhook answered 500")
    assert [a.outcome for a in dead.attempt_log] == ["failed", "failed"]


async def test_permanent_error_dead_letters_without_retrying(
    session: AsyncSession, clock: FrozenClock, handlers: Registry, make_worker: Any
) -> None:
    @job_handler("ticket.create", into=handlers)
    async def create_ticket(ctx: JobContext, payload: Payload) -> None:
        raise PermanentError("project TOC does not exist")

    job = await service.schedule(session, "ticket.create", max_attempts=8)
    await make_worker().run_once()
    dead = await reload(session, job.id)
    assert (dead.status, dead.attempts) == (JobStatus.DEAD, 1)
    assert "project TOC does not exist" in (dead.last_error or "")


async def test_unknown_kind_is_dead_lettered_with_a_clear_error(
    session: AsyncSession, clock: FrozenClock, handlers: Registry, make_worker: Any
) -> None:
    @job_handler("known", into=handlers)
    async def known(ctx: JobContext, payload: Payload) -> None:
        return None

    job = await service.schedule(session, "sms.send", max_attempts=8)
    await make_worker().run_once()
    dead = await reload(session, job.id)
    assert dead.status == JobStatus.DEAD
    assert dead.last_error == (
        "no handler is registered for job kind 'sms.send' (known kinds: known)"
    )
    assert [a.outcome for a in dead.attempt_log] == ["failed"]


async def test_slow_handler_fails_its_attempt_at_the_timeout(
    session: AsyncSession, clock: FrozenClock, handlers: Registry, make_worker: Any
) -> None:
    never = asyncio.Event()

    @job_handler("hang", into=handlers, timeout_seconds=0.01)
    async def hang(ctx: JobContext, payload: Payload) -> None:
        await never.wait()

    job = await service.schedule(session, "hang")
    await make_worker().run_once()
    stored = await reload(session, job.id)
    assert stored.status == JobStatus.QUEUED
    assert (stored.last_error or "").startswith("TimeoutError: the handler ran longer than 0.01 s")


async def test_handler_session_commits_on_success_and_rolls_back_on_failure(
    session: AsyncSession, clock: FrozenClock, handlers: Registry, make_worker: Any
) -> None:
    @job_handler("chain", into=handlers)
    async def chain(ctx: JobContext, payload: Payload) -> None:
        await service.enqueue(ctx.session, "follow-up", {"after": ctx.job_id})
        if payload.get("fail"):
            raise RuntimeError("after the follow-up was enqueued")

    ok = await service.schedule(session, "chain")
    bad = await service.schedule(session, "chain", {"fail": True})
    await make_worker().run_once()
    follow_ups = (await session.scalars(sa.select(Job).where(Job.kind == "follow-up"))).all()
    assert [f.payload for f in follow_ups] == [{"after": ok.id}]
    assert (await reload(session, bad.id)).status == JobStatus.QUEUED


async def test_handlers_run_concurrently_up_to_the_configured_limit(
    session: AsyncSession, clock: FrozenClock, handlers: Registry, make_worker: Any
) -> None:
    running = 0
    peak = 0
    three_in = asyncio.Barrier(3)

    @job_handler("parallel", into=handlers)
    async def parallel(ctx: JobContext, payload: Payload) -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        if payload["n"] < 3:
            async with asyncio.timeout(5):
                await three_in.wait()  # only passes when three handlers are in at once
        running -= 1

    for n in range(6):
        await service.enqueue(session, "parallel", {"n": n})
    await session.commit()
    assert await make_worker(worker_concurrency=3).run_once() == 6
    assert peak == 3
    assert await count_rows(session, JobAttempt) == 6


# --- leases ----------------------------------------------------------------------------


async def test_crashed_workers_job_is_claimed_again_after_its_lease(
    session: AsyncSession,
    clock: FrozenClock,
    handlers: Registry,
    make_worker: Any,
    settings: Settings,
) -> None:
    ran: list[str] = []

    @job_handler("escalate", into=handlers)
    async def escalate(ctx: JobContext, payload: Payload) -> None:
        ran.append(ctx.worker_id)

    job = await service.schedule(session, "escalate")
    crashed, survivor = make_worker("crashed"), make_worker("survivor")
    assert [j.id for j in await crashed.claim(10)] == [job.id]  # ... then the process dies

    assert await survivor.run_once() == 0  # the lease still protects the job
    clock.advance(timedelta(seconds=settings.job_lease_seconds))
    assert await survivor.run_once() == 1
    assert ran == ["survivor"]
    stored = await reload(session, job.id)
    assert stored.status == JobStatus.SUCCEEDED
    assert [(a.attempt, a.worker_id, a.outcome) for a in stored.attempt_log] == [
        (1, "crashed", "expired"),
        (2, "survivor", "succeeded"),
    ]


async def test_late_result_of_an_expired_lease_cannot_overwrite_the_new_attempt(
    session: AsyncSession,
    clock: FrozenClock,
    handlers: Registry,
    make_worker: Any,
    settings: Settings,
) -> None:
    @job_handler("deliver", into=handlers)
    async def deliver(ctx: JobContext, payload: Payload) -> None:
        if ctx.worker_id == "slow":
            raise RuntimeError("too late anyway")

    await service.schedule(session, "deliver")
    slow, fast = make_worker("slow"), make_worker("fast")
    [claimed] = await slow.claim(10)
    clock.advance(timedelta(seconds=settings.job_lease_seconds + 1))
    await fast.recover_expired()
    [again] = await fast.claim(10)
    await slow.complete([await slow.execute(claimed)])  # the slow one finally reports
    await fast.complete([await fast.execute(again)])
    stored = await reload(session, claimed.id)
    assert stored.status == JobStatus.SUCCEEDED
    assert [(a.worker_id, a.outcome) for a in stored.attempt_log] == [
        ("slow", "expired"),
        ("fast", "succeeded"),
    ]


async def test_lease_expiring_on_the_last_attempt_dead_letters_the_job(
    session: AsyncSession, clock: FrozenClock, make_worker: Any, settings: Settings
) -> None:
    job = await service.schedule(session, "poison", max_attempts=1)
    await make_worker("crashed").claim(10)
    clock.advance(timedelta(seconds=settings.job_lease_seconds))
    assert await make_worker("next").recover_expired() == 1
    dead = await reload(session, job.id)
    assert dead.status == JobStatus.DEAD
    assert "lease of worker crashed expired" in (dead.last_error or "")


async def test_heartbeat_keeps_a_long_job_from_being_taken(
    session: AsyncSession, clock: FrozenClock, make_worker: Any, settings: Settings
) -> None:
    job = await service.schedule(session, "long")
    owner, other = make_worker("owner"), make_worker("other")
    await owner.claim(10)
    clock.advance(timedelta(seconds=settings.job_lease_seconds - 1))
    assert await owner.extend_leases() == 1
    clock.advance(timedelta(seconds=settings.job_lease_seconds - 1))
    assert await other.recover_expired() == 0
    assert (await reload(session, job.id)).claimed_by == "owner"


# --- the long-running worker -----------------------------------------------------------


@pytest.fixture
async def running(make_worker: Any) -> AsyncIterator[Any]:
    started: list[tuple[Worker, asyncio.Task[None]]] = []

    async def start(**overrides: Any) -> Worker:
        worker: Worker = make_worker(**overrides)
        started.append((worker, asyncio.create_task(worker.run())))
        return worker

    yield start
    for worker, task in started:
        await worker.stop()
        async with asyncio.timeout(10):
            await task


async def test_running_worker_wakes_for_a_new_job_without_waiting_for_the_poll(
    session: AsyncSession, handlers: Registry, running: Any
) -> None:
    done = asyncio.Event()

    @job_handler("wake", into=handlers)
    async def wake(ctx: JobContext, payload: Payload) -> None:
        done.set()

    worker = await running(worker_poll_seconds=60)
    async with asyncio.timeout(10):
        await worker.idle.wait()  # settled: only a wake-up, not the poll, can start the job
    job = await service.schedule(session, "wake")
    async with asyncio.timeout(10):
        await done.wait()
    assert (await reload(session, job.id)).status in {JobStatus.RUNNING, JobStatus.SUCCEEDED}


async def test_stopping_finishes_running_jobs_and_hands_back_unstarted_ones(
    session: AsyncSession, handlers: Registry, make_worker: Any
) -> None:
    entered, release = asyncio.Event(), asyncio.Event()

    @job_handler("block", into=handlers)
    async def block(ctx: JobContext, payload: Payload) -> None:
        entered.set()
        await release.wait()

    for n in range(3):
        await service.enqueue(session, "block", {"n": n})
    await session.commit()
    worker = make_worker(worker_concurrency=1, worker_poll_seconds=60)
    task = asyncio.create_task(worker.run())
    async with asyncio.timeout(10):
        await entered.wait()
    await worker.stop()
    release.set()
    async with asyncio.timeout(10):
        await task
    session.expire_all()
    statuses = (await session.execute(sa.select(Job.status, Job.attempts))).all()
    assert sorted(statuses) == [("queued", 0), ("queued", 0), ("succeeded", 1)]
    assert await count_rows(session, JobAttempt) == 1


async def test_web_process_runs_jobs_with_its_own_worker(
    settings: Settings, session: AsyncSession
) -> None:
    """`tocsin serve` without --no-worker: the app's lifespan starts and stops a worker."""
    from asgi_lifespan import LifespanManager

    from tocsin.app import create_app

    ran = asyncio.Event()

    @job_handler("test.in-process")
    async def in_process(ctx: JobContext, payload: Payload) -> None:
        ran.set()

    try:
        async with LifespanManager(create_app(settings, run_worker=True)):
            await service.schedule(session, "test.in-process")
            async with asyncio.timeout(10):
                await ran.wait()
    finally:
        global_registry.unregister("test.in-process")


# --- priority --------------------------------------------------------------------------


async def test_urgent_jobs_run_before_an_older_backlog_and_background_jobs_after(
    session: AsyncSession, clock: FrozenClock, handlers: Registry, make_worker: Any
) -> None:
    ran: list[str] = []

    @job_handler("note", into=handlers)
    async def note(ctx: JobContext, payload: Payload) -> None:
        ran.append(payload["name"])

    await service.enqueue(
        session, "note", {"name": "overdue"}, run_at=clock.now() - timedelta(hours=1)
    )
    await service.enqueue_many(
        session,
        [
            service.NewJob("note", {"name": "later"}, priority=Priority.BACKGROUND),
            service.NewJob("note", {"name": "backlog-1"}),
            service.NewJob("note", {"name": "backlog-2"}),
        ],
    )
    await service.enqueue(session, "note", {"name": "page"}, priority=Priority.URGENT)
    await session.commit()

    worker = make_worker(worker_concurrency=1, worker_batch_size=2)
    assert await worker.run_once() == 5
    assert ran == ["page", "overdue", "backlog-1", "backlog-2", "later"]


@pytest.mark.parametrize(
    ("held", "newcomer"),
    [(Priority.NORMAL, Priority.URGENT), (Priority.NORMAL + 5, Priority.NORMAL)],
    ids=["urgent-over-normal", "no-wait-decision-over-waiting-ones"],
)
async def test_a_full_worker_takes_what_is_more_urgent_than_the_jobs_it_holds(
    session: AsyncSession,
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    handlers: Registry,
    held: int,
    newcomer: int,
) -> None:
    """During an alert storm the worker holds a full buffer of decisions that wait anyway
    (their group wait ranks them after NORMAL); a decision that could page at once must not
    queue behind all of them."""
    ran: list[str] = []
    entered, release, finished, newcomer_claimed = (asyncio.Event() for _ in range(4))

    class Watched(Worker):
        async def claim(self, limit: int, **options: Any) -> list[ClaimedJob]:
            claimed = await super().claim(limit, **options)
            if any(job.priority == newcomer for job in claimed):
                newcomer_claimed.set()
            return claimed

    @job_handler("step", into=handlers)
    async def step(ctx: JobContext, payload: Payload) -> None:
        if payload["name"] == "backlog-0":
            entered.set()
            await release.wait()
        ran.append(payload["name"])
        if len(ran) == 5:
            finished.set()

    for n in range(4):
        await service.enqueue(session, "step", {"name": f"backlog-{n}"}, priority=held)
    await session.commit()
    overrides = {"worker_concurrency": 1, "worker_batch_size": 4, "worker_poll_seconds": 60}
    worker = Watched(settings.model_copy(update=overrides), sessionmaker, registry=handlers)
    task = asyncio.create_task(worker.run())
    try:
        async with asyncio.timeout(10):
            await entered.wait()  # the worker holds all four: its buffer is full
        await service.schedule(session, "step", {"name": "newcomer"}, priority=newcomer)
        async with asyncio.timeout(10):
            await newcomer_claimed.wait()
        release.set()
        async with asyncio.timeout(10):
            await finished.wait()
    finally:
        release.set()
        await worker.stop()
        async with asyncio.timeout(10):
            await task
    assert ran == ["backlog-0", "newcomer", "backlog-1", "backlog-2", "backlog-3"]


@given(st.lists(st.integers(min_value=-50, max_value=50), max_size=20))
def test_a_full_worker_claims_urgent_jobs_and_nothing_as_lenient_as_what_it_holds(
    held: list[int],
) -> None:
    threshold = jump_threshold(Counter(held))
    assert threshold >= Priority.URGENT  # urgent work is always taken
    if held:
        assert threshold < max(held) or threshold == Priority.URGENT
