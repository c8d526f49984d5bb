"""The worker: claims due jobs in batches, runs their handlers, records every attempt.

Inside one worker, a claimer keeps a small buffer of claimed jobs filled, `concurrency`
runners take jobs from it (most urgent first), and a flusher writes finished attempts back in
bulk; a heartbeat extends the leases of everything held. While the buffer is full the claimer
still takes urgent jobs, so a page never queues behind a backlog the worker already holds.
Several workers (processes or nodes) share the queue safely: claims skip rows another worker
is locking, and a job whose worker vanished is recovered when its lease expires.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import socket
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tocsin.clock import utcnow
from tocsin.config import Settings
from tocsin.jobs import doorbell, metrics, queue, service
from tocsin.jobs.backoff import DEFAULT_POLICY, RetryPolicy, Verdict, verdict
from tocsin.jobs.models import AttemptOutcome, JobStatus, Priority
from tocsin.jobs.queue import ClaimedJob, Result
from tocsin.jobs.registry import (
    JobContext,
    PermanentError,
    Registry,
    RetryLater,
    load_domain_handlers,
)
from tocsin.jobs.registry import registry as default_registry

log = structlog.get_logger("tocsin.jobs.worker")

FLUSH_SECONDS = 0.05
"""Longest a finished attempt waits before it is written back (bounded by the batch size)."""
RECOVER_EVERY_SECONDS = 15.0
STOP_GRACE_SECONDS = 30.0
IDLE_FLOOR_SECONDS = 0.005
URGENT_CLAIM_SECONDS = 0.05
"""While the buffer is full, urgent jobs are looked for at most this often: every commit wakes
the worker, and on SQLite each look is a write transaction that ingestion would wait for."""
"""Shortest idle wait: due rows another worker is claiming right now must not make us spin."""

Slot = tuple[tuple[int, datetime, int], ClaimedJob | None]
"""A buffered job under its claim order; None (ordered last) tells a runner to stop."""


def _slot(job: ClaimedJob) -> Slot:
    return (job.order, job)


def jump_threshold(buffered: Counter[int]) -> int:
    """The least urgent priority a full worker still claims: anything more urgent than the
    least urgent job it holds, so during an alert storm a decision that could page at once is
    not left behind a hundred claimed decisions that must wait anyway; urgent jobs always."""
    held = [priority for priority, count in buffered.items() if count > 0]
    return max(Priority.URGENT, max(held) - 1) if held else Priority.URGENT


def _stop_slot(n: int) -> Slot:
    return ((2**62, utcnow(), n), None)


def new_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Worker:
    def __init__(
        self,
        settings: Settings,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        registry: Registry | None = None,
        worker_id: str | None = None,
        policy: RetryPolicy = DEFAULT_POLICY,
        rng: random.Random | None = None,
        local_wakeups: bool = True,
    ) -> None:
        self.id = worker_id or new_worker_id()
        self.settings = settings
        self.registry = registry if registry is not None else default_registry
        self._sessionmaker = sessionmaker
        self._policy = policy
        self._rng = rng or random.Random()
        self._lease = timedelta(seconds=settings.job_lease_seconds)
        self._concurrency = settings.worker_concurrency
        self._buffered: Counter[int] = Counter()
        self._batch = settings.worker_batch_size
        self._poll = settings.worker_poll_seconds
        self._held: dict[int, ClaimedJob] = {}
        self._results: list[Result] = []
        self._stopping = False
        self._wake = asyncio.Event()
        self._flush_now = asyncio.Event()
        self._closing = False
        self._unstarted: list[ClaimedJob] = []
        self._local_wakeups = local_wakeups
        self.idle = asyncio.Event()
        """Set while the running worker waits with nothing due: lets tests and operators see it
        settle before they expect a wake-up to come from outside."""

    # --- one pass, for `tocsin worker --once` and for tests ---------------------------

    async def run_once(self) -> int:
        """Run every job due now (recovering expired leases first); returns the attempts made.

        Jobs that become due while it runs, retries included, wait for the next pass.
        """
        now = utcnow()
        await self.recover_expired()
        gate = asyncio.Semaphore(self._concurrency)

        async def run(job: ClaimedJob) -> Result:
            async with gate:
                return await self.execute(job)

        total = 0
        while batch := await self.claim(self._batch, due_by=now):
            results = await asyncio.gather(*(run(job) for job in batch))
            await self.complete(results)
            total += len(results)
        return total

    # --- the building blocks ----------------------------------------------------------

    async def claim(
        self, limit: int, *, due_by: datetime | None = None, up_to_priority: int | None = None
    ) -> list[ClaimedJob]:
        now = utcnow()
        async with self._sessionmaker.begin() as session:
            claimed = await queue.claim(
                session,
                self.id,
                limit=limit,
                now=now,
                locked_until=now + self._lease,
                due_by=due_by,
                up_to_priority=up_to_priority,
            )
        for job in claimed:
            self._held[job.id] = job
        return claimed

    async def execute(self, job: ClaimedJob) -> Result:
        """Run one claimed job's handler and decide what happens next; never raises,
        except to pass on cancellation after recording it."""
        started = utcnow()
        spec = self.registry.get(job.kind)
        if spec is None:
            known = ", ".join(self.registry.kinds()) or "none"
            error = f"no handler is registered for job kind {job.kind!r} (known kinds: {known})"
            return Result(job, started, started, AttemptOutcome.FAILED, error)
        context = JobContext(
            job_id=job.id,
            kind=job.kind,
            attempt=job.attempt,
            max_attempts=job.max_attempts,
            run_at=job.run_at,
            idempotency_key=job.idempotency_key,
            worker_id=self.id,
            _sessionmaker=self._sessionmaker,
        )
        timeout = spec.timeout_seconds or self.settings.job_lease_seconds
        try:
            async with asyncio.timeout(timeout):
                await spec.handler(context, job.payload)
                await context.finish(succeeded=True)
        except asyncio.CancelledError:
            await context.finish(succeeded=False)
            # Stopped from outside: not the job's fault, so it is due again at once.
            now = utcnow()
            self._results.append(
                Result(
                    job,
                    started,
                    now,
                    AttemptOutcome.FAILED,
                    "interrupted: the worker stopped",
                    retry_at=now,
                )
            )
            raise
        except PermanentError as exc:
            await context.finish(succeeded=False)
            return Result(job, started, utcnow(), AttemptOutcome.FAILED, queue.describe_error(exc))
        except RetryLater as exc:
            await context.finish(succeeded=False)
            return self._failed(job, started, queue.describe_error(exc), at_least=exc.seconds)
        except TimeoutError:
            await context.finish(succeeded=False)
            error = f"TimeoutError: the handler ran longer than {timeout:g} s"
            return self._failed(job, started, error)
        except Exception as exc:
            await context.finish(succeeded=False)
            return self._failed(job, started, queue.describe_error(exc))
        return Result(job, started, utcnow(), AttemptOutcome.SUCCEEDED)

    def _failed(
        self, job: ClaimedJob, started: datetime, error: str, *, at_least: float = 0.0
    ) -> Result:
        finished = utcnow()
        if verdict(job.attempt, job.max_attempts) == Verdict.DEAD:
            return Result(job, started, finished, AttemptOutcome.FAILED, error)
        delay = max(self._policy.delay(job.attempt, self._rng.random()), at_least)
        return Result(
            job,
            started,
            finished,
            AttemptOutcome.FAILED,
            error,
            retry_at=finished + timedelta(seconds=delay),
        )

    async def complete(self, results: Sequence[Result]) -> None:
        async with self._sessionmaker.begin() as session:
            recorded = await queue.complete(session, self.id, results, now=utcnow())
        for result in results:
            self._held.pop(result.job.id, None)
        metrics.count_attempts(recorded)
        dead = [r for r in recorded if r.status == JobStatus.DEAD]
        for result in dead:
            log.warning(
                "job dead-lettered",
                job_id=result.job.id,
                kind=result.job.kind,
                attempt=result.job.attempt,
                error=(result.error or "").split("\n", 1)[0],
            )
        if len(recorded) < len(results):
            log.warning(
                "results of jobs re-claimed after lease expiry were dropped",
                count=len(results) - len(recorded),
            )

    async def recover_expired(self) -> int:
        async with self._sessionmaker.begin() as session:
            recovered = await queue.recover_expired(session, now=utcnow())
        if recovered:
            metrics.count_expired(len(recovered))
            log.warning("recovered jobs whose lease expired", jobs=[i for i, _ in recovered])
        return len(recovered)

    async def extend_leases(self) -> int:
        ids = list(self._held)
        if not ids:
            return 0
        async with self._sessionmaker.begin() as session:
            return await queue.extend_leases(
                session, self.id, ids, locked_until=utcnow() + self._lease
            )

    # --- running until stopped --------------------------------------------------------

    async def run(self) -> None:
        """Claim and run jobs until `stop()`; wakes on notifications, local enqueues, polls."""
        from tocsin.jobs import notify

        loop = asyncio.get_running_loop()

        def wake() -> None:
            loop.call_soon_threadsafe(self._wake.set)

        if self._local_wakeups:
            service.add_local_waker(wake)
        listener = await notify.start_wake_listener(self.settings, wake)
        bell = doorbell.start_bell(self.settings.database_url, wake)
        buffer: asyncio.PriorityQueue[Slot] = asyncio.PriorityQueue()
        runners = [
            asyncio.create_task(self._runner(buffer), name=f"tocsin-job-runner-{n}")
            for n in range(self._concurrency)
        ]
        flusher = asyncio.create_task(self._flusher(), name="tocsin-job-flusher")
        heartbeat = asyncio.create_task(self._heartbeat(), name="tocsin-job-heartbeat")
        log.info(
            "worker started",
            worker_id=self.id,
            concurrency=self._concurrency,
            notifications=listener is not None or bell is not None,
        )
        try:
            await self._claim_loop(buffer)
        finally:
            service.remove_local_waker(wake)
            if listener is not None:
                await listener.stop()
            if bell is not None:
                bell.stop()
            await self._shut_down(buffer, runners, flusher, heartbeat)
            log.info("worker stopped", worker_id=self.id)

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    async def _claim_loop(self, buffer: asyncio.PriorityQueue[Slot]) -> None:
        low_water = max(1, self._batch // 2)
        next_recovery = next_urgent = 0.0
        while not self._stopping:
            try:
                if time.monotonic() >= next_recovery:
                    await self.recover_expired()
                    next_recovery = time.monotonic() + RECOVER_EVERY_SECONDS
                self._wake.clear()
                room = self._batch - buffer.qsize()
                if room < low_water:
                    # Full enough: only what is more urgent than the least urgent job held
                    # (and anything urgent) jumps the buffer. Runners wake us at the low-water
                    # mark, enqueues whenever a job is committed.
                    if (early := next_urgent - time.monotonic()) > 0:
                        await asyncio.sleep(early)
                    jump = jump_threshold(self._buffered)
                    for job in await self.claim(self._batch, up_to_priority=jump):
                        self._buffer(buffer, job)
                    next_urgent = time.monotonic() + URGENT_CLAIM_SECONDS
                    await self._sleep(self._poll)
                    continue
                claimed = await self.claim(room)
                for job in claimed:
                    self._buffer(buffer, job)
                if len(claimed) == room:
                    continue  # more may be due
                due = None
                async with self._sessionmaker() as session:
                    due = await queue.next_due(session)
                    await session.commit()
                wait = self._poll
                if due is not None:
                    wait = min(wait, (due - utcnow()).total_seconds())
                if not claimed and buffer.empty():
                    self.idle.set()
                await self._sleep(max(wait, 0.0 if claimed else IDLE_FLOOR_SECONDS))
                self.idle.clear()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("claiming jobs failed; retrying after the poll interval")
                await self._sleep(self._poll)

    def _buffer(self, buffer: asyncio.PriorityQueue[Slot], job: ClaimedJob) -> None:
        buffer.put_nowait(_slot(job))
        self._buffered[job.order[0]] += 1

    async def _sleep(self, seconds: float) -> None:
        if seconds <= 0:
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._wake.wait()

    async def _runner(self, buffer: asyncio.PriorityQueue[Slot]) -> None:
        low_water = max(1, self._batch // 2)
        while True:
            order, job = await buffer.get()
            if job is None:
                return
            self._buffered[order[0]] -= 1
            if self._stopping:
                self._unstarted.append(job)  # once stopping, nothing new starts
                continue
            if buffer.qsize() <= low_water:
                self._wake.set()
            result = await self.execute(job)
            self._results.append(result)
            if len(self._results) >= self._batch:
                self._flush_now.set()

    async def _flusher(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(FLUSH_SECONDS):
                    await self._flush_now.wait()
            self._flush_now.clear()
            await self._flush()
            if self._closing and not self._results:
                return

    async def _flush(self) -> None:
        if not self._results:
            return
        results, self._results = self._results, []
        try:
            await self.complete(results)
        except Exception:
            # Keep them: the next flush tries again, and the leases protect the jobs meanwhile.
            log.exception("recording job results failed; will retry", count=len(results))
            self._results[:0] = results
            await asyncio.sleep(self._poll)

    async def _heartbeat(self) -> None:
        every = max(1.0, self.settings.job_lease_seconds / 3)
        while True:
            await asyncio.sleep(every)
            try:
                await self.extend_leases()
            except Exception:
                log.exception("extending job leases failed")

    async def _shut_down(
        self,
        buffer: asyncio.PriorityQueue[Slot],
        runners: list[asyncio.Task[None]],
        flusher: asyncio.Task[None],
        heartbeat: asyncio.Task[None],
    ) -> None:
        unstarted, self._unstarted = self._unstarted, []
        while not buffer.empty():
            _order, job = buffer.get_nowait()
            if job is not None:
                unstarted.append(job)
        if unstarted:
            try:
                async with self._sessionmaker.begin() as session:
                    await queue.release(session, unstarted, now=utcnow())
                for job in unstarted:
                    self._held.pop(job.id, None)
            except Exception:
                log.exception("releasing unstarted jobs failed; their leases will expire")
        for n, _ in enumerate(runners):
            buffer.put_nowait(_stop_slot(n))
        _done, pending = await asyncio.wait(runners, timeout=STOP_GRACE_SECONDS)
        for task in pending:
            task.cancel()
        await asyncio.gather(*runners, return_exceptions=True)
        heartbeat.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await heartbeat
        self._closing = True
        self._flush_now.set()
        await flusher


class RunningWorker:
    """A worker running as a background task of the web process (`tocsin serve`)."""

    def __init__(self, worker: Worker, task: asyncio.Task[None]) -> None:
        self.worker = worker
        self.task = task

    async def stop(self) -> None:
        await self.worker.stop()
        try:
            await self.task
        except Exception:
            log.exception("the in-process worker ended with an error")


async def start_in_background(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> RunningWorker:
    load_domain_handlers()
    worker = Worker(settings, sessionmaker)
    task = asyncio.create_task(worker.run(), name="tocsin-worker")
    return RunningWorker(worker, task)


async def run_worker_forever(settings: Settings, once: bool = False) -> None:
    """`tocsin worker`: run jobs until SIGINT/SIGTERM, finishing the ones in progress."""
    from tocsin.db.engine import make_engine, make_sessionmaker
    from tocsin.jobs import notify

    load_domain_handlers()
    engine = make_engine(settings)
    try:
        worker = Worker(settings, make_sessionmaker(engine))
        if once:
            count = await worker.run_once()
            log.info("ran due jobs", attempts=count)
            return
        relay = await notify.start_event_relay(settings)
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        task = asyncio.create_task(worker.run(), name="tocsin-worker")
        try:
            stopper = asyncio.create_task(stop.wait())
            await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
            stopper.cancel()
            await worker.stop()
            await task
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
            if relay is not None:
                await relay.stop()
    finally:
        await engine.dispose()
