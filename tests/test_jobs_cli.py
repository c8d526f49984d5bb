"""`tocsin worker` and `tocsin jobs …` as an operator runs them, on the real database; the
long-running worker in a real process, since stopping on SIGTERM is its point."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from tests.cli import tocsin
from tocsin.jobs import service
from tocsin.jobs.models import JobStatus

TOCSIN = str(Path(sys.executable).with_name("tocsin"))


def environment(database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOCSIN_")}
    env["TOCSIN_DATABASE_URL"] = database_url
    env["TOCSIN_LOG_FORMAT"] = "json"
    return env


async def test_worker_once_runs_what_fell_due_and_jobs_commands_retry_it(
    session: AsyncSession, database_url: str
) -> None:
    job_id = (await service.schedule(session, "retired.kind", max_attempts=5)).id
    worked = await tocsin("worker", "--once", database_url=database_url)
    assert worked.code == 0, worked.err
    session.expire_all()
    stored = await service.get_job(session, job_id)
    await session.commit()
    assert stored.status == JobStatus.DEAD
    assert "no handler is registered for job kind 'retired.kind'" in (stored.last_error or "")

    listed = await tocsin("jobs", "list", "--status", "dead", database_url=database_url)
    assert listed.code == 0
    assert listed.out.startswith(f"{job_id}\tdead\tretired.kind\t")
    assert "1/5\tno handler is registered" in listed.out

    retried = await tocsin("jobs", "retry", str(job_id), database_url=database_url)
    assert (retried.code, retried.out.strip()) == (0, f"job {job_id} is queued again")
    again = await tocsin("jobs", "retry", str(job_id), database_url=database_url)
    assert again.code == 1
    assert f"only dead jobs can be retried; job {job_id} is queued" in again.err


async def test_worker_runs_until_sigterm_then_stops_cleanly(
    session: AsyncSession, database_url: str
) -> None:
    process = await asyncio.create_subprocess_exec(
        TOCSIN,
        "worker",
        env=environment(database_url),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stderr is not None
    try:

        async def until(event: str) -> dict[str, object]:
            assert process.stderr is not None
            async with asyncio.timeout(30):
                while line := await process.stderr.readline():
                    record = json.loads(line)
                    if record.get("event") == event:
                        return dict(record)
            raise AssertionError(f"the worker ended before logging {event!r}")

        await until("worker started")
        job = await service.schedule(session, "nobody.handles.this", max_attempts=1)
        dead = await until("job dead-lettered")  # the running worker picked it up
        assert dead["job_id"] == job.id
        process.send_signal(signal.SIGTERM)
        await until("worker stopped")
        async with asyncio.timeout(30):
            assert await process.wait() == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
