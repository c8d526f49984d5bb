"""Throughput and due-to-start lag of the job queue on PostgreSQL, beside peers.

    .venv/bin/python benchmarks/jobs.py [--jobs 20000] [--rate 1000] [--seconds 10]
                                        [--peer-python PATH] [--server URL]

Creates a database of its own (and drops it afterwards), then for one and for two worker
processes (separate OS processes, so the database sees real concurrency):

* throughput: N no-op jobs, all due, drained; jobs/s from "go" to the last job stored done.
* lag, measured as the moment the handler starts minus the moment the job was due (p50,
  p99, max), at a steady rate below capacity (--rate, at most half the throughput just
  measured) over a window (--seconds), twice:
  - scheduled: timers stored in advance that fall due one after another;
  - enqueued: a producer commits jobs due at once in small transactions (the outbox), which
    workers learn of by notification (the plain loop polls every 10 ms).
* duplicates: every handler call is counted by the benchmark itself, not read back from the
  queue's own bookkeeping; a job run twice shows up here whatever the queue believes.

The same scenarios run against two peers: a plain `SELECT … FOR UPDATE SKIP LOCKED` loop (one
job per transaction, the textbook pattern) and procrastinate, when an interpreter that has it
is given with --peer-python (it is not a dependency of this project; install it into a
throwaway virtual environment). A peer that is unavailable is skipped with a message.

This file imports only the standard library at the top: peer workers run it under another
interpreter that has no Tocsin installed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness import libpq

DEFAULT_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
KIND = "bench.noop"
CAPACITY_SHARE = 0.5
"""Lag runs use at most this share of the throughput a system just showed."""
HERE = Path(__file__).resolve()


def with_database(url: str, name: str) -> str:
    head, _, _ = url.rpartition("/")
    return f"{head}/{name}"


# --- what every scenario reports -------------------------------------------------------


@dataclass
class Outcome:
    system: str
    workers: int
    scenario: str
    jobs: int
    seconds: float
    executions: int
    unique: int
    lags: list[float]

    @property
    def rate(self) -> float:
        return self.unique / self.seconds if self.seconds else 0.0

    @property
    def duplicates(self) -> int:
        return self.executions - self.unique

    def lag_ms(self, q: float) -> float:
        if not self.lags:
            return float("nan")
        ordered = sorted(self.lags)
        index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
        return ordered[index] * 1000

    def row(self) -> str:
        lags = (
            [f"{self.lag_ms(0.5):.1f}", f"{self.lag_ms(0.99):.1f}", f"{max(self.lags) * 1000:.1f}"]
            if self.lags
            else ["", "", ""]
        )
        cells = [
            self.system,
            str(self.workers),
            self.scenario,
            str(self.jobs),
            str(self.unique),
            f"{self.rate:.0f}" if not self.lags else "",
            *lags,
            str(self.duplicates),
        ]
        return "| " + " | ".join(cells) + " |"


HEADER = (
    "| system | workers | scenario | jobs | ran | jobs/s | lag p50 ms | lag p99 ms | lag max ms"
    " | duplicates |\n|---|---:|---|---:|---:|---:|---:|---:|---:|---:|"
)


# --- worker processes --------------------------------------------------------------------


def _scratch_file() -> Path:
    handle, name = tempfile.mkstemp(prefix="tocsin-bench-", suffix=".json")
    os.close(handle)
    return Path(name)


class Children:
    """Worker processes that start, report ready, run on "go" and stop on "stop"."""

    def __init__(self, argv: list[list[str]]) -> None:
        self.outs = [_scratch_file() for _ in argv]
        self.procs = [
            subprocess.Popen(
                [*args, "--out", str(out)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            for args, out in zip(argv, self.outs, strict=True)
        ]

    def kill(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        for out in self.outs:
            out.unlink(missing_ok=True)

    def wait_ready(self) -> None:
        for proc in self.procs:
            assert proc.stdout is not None
            line = proc.stdout.readline().strip()
            if line != "ready":
                raise SystemExit(f"a worker process failed to start (said {line!r})")

    def say(self, word: str) -> None:
        for proc in self.procs:
            assert proc.stdin is not None
            proc.stdin.write(word + "\n")
            proc.stdin.flush()

    def collect(self) -> list[tuple[Any, float]]:
        records: list[tuple[Any, float]] = []
        for proc, out in zip(self.procs, self.outs, strict=True):
            proc.wait(timeout=120)
            records.extend((r[0], r[1]) for r in json.loads(out.read_text() or "[]"))
            out.unlink(missing_ok=True)
        return records


def tocsin_child_argv(url: str, n: int) -> list[list[str]]:
    return [[sys.executable, str(HERE), "_child", "tocsin", "--url", url] for _ in range(n)]


def raw_child_argv(url: str, n: int) -> list[list[str]]:
    return [[sys.executable, str(HERE), "_child", "raw", "--url", url] for _ in range(n)]


def peer_child_argv(python: str, url: str, n: int, concurrency: int) -> list[list[str]]:
    return [
        [
            python,
            str(HERE),
            "_child",
            "procrastinate",
            "--url",
            url,
            "--concurrency",
            str(concurrency),
        ]
        for _ in range(n)
    ]


async def _wait_for_stdin(word: str) -> None:
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line or line.strip() == word:
            return


def _write(out: str, records: list[tuple[Any, float]]) -> None:
    Path(out).write_text(json.dumps(records))


async def child_tocsin(url: str, out: str) -> None:
    from sqlalchemy import text

    from tocsin.config import load_settings
    from tocsin.db.engine import make_engine, make_sessionmaker
    from tocsin.jobs.registry import JobContext, Registry, job_handler
    from tocsin.jobs.worker import Worker
    from tocsin.observability import configure_logging

    configure_logging("warning", "console")  # logs go to stderr; stdout is the protocol
    settings = load_settings(database_url=url, log_level="warning")
    records: list[tuple[Any, float]] = []
    handlers = Registry()

    @job_handler(KIND, into=handlers)
    async def noop(ctx: JobContext, payload: dict[str, Any]) -> None:
        records.append((ctx.job_id, time.time() - ctx.run_at.timestamp()))

    engine = make_engine(settings)
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))
    worker = Worker(settings, make_sessionmaker(engine), registry=handlers)
    print("ready", flush=True)
    await _wait_for_stdin("go")
    task = asyncio.create_task(worker.run())
    await _wait_for_stdin("stop")
    await worker.stop()
    await task
    await engine.dispose()
    _write(out, records)


async def child_raw(url: str, out: str) -> None:
    """The textbook loop: one job per transaction, SELECT … FOR UPDATE SKIP LOCKED."""
    import psycopg

    records: list[tuple[Any, float]] = []
    conn = await psycopg.AsyncConnection.connect(libpq(url))
    stop = asyncio.Event()
    print("ready", flush=True)
    await _wait_for_stdin("go")

    async def loop() -> None:
        while not stop.is_set():
            async with conn.transaction():
                cur = await conn.execute(
                    "SELECT id, run_at FROM bench_raw WHERE status = 'queued' AND run_at <= now()"
                    " ORDER BY run_at LIMIT 1 FOR UPDATE SKIP LOCKED"
                )
                row = await cur.fetchone()
                if row is not None:
                    records.append((row[0], time.time() - row[1].timestamp()))
                    await conn.execute(
                        "UPDATE bench_raw SET status = 'done' WHERE id = %s", (row[0],)
                    )
            if row is None:
                await asyncio.sleep(0.01)

    task = asyncio.create_task(loop())
    await _wait_for_stdin("stop")
    stop.set()
    await task
    await conn.close()
    _write(out, records)


async def child_procrastinate(url: str, out: str, concurrency: int) -> None:
    import logging

    import procrastinate

    logging.getLogger("procrastinate").setLevel(logging.ERROR)

    records: list[tuple[Any, float]] = []
    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=libpq(url)))

    @app.task(name=KIND, queue="bench")
    async def noop(n: int, due: float) -> None:
        records.append((n, time.time() - due))

    async with app.open_async():
        print("ready", flush=True)
        await _wait_for_stdin("go")
        task = asyncio.create_task(
            app.run_worker_async(
                queues=["bench"],
                concurrency=concurrency,
                wait=True,
                fetch_job_polling_interval=0.5,  # the same fallback poll as Tocsin's default
                install_signal_handlers=False,
                delete_jobs="never",
            )
        )
        await _wait_for_stdin("stop")
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    _write(out, records)


async def peer_setup(url: str) -> None:
    """Runs under the peer's interpreter: install procrastinate's schema."""
    import logging

    import procrastinate

    logging.getLogger("procrastinate").setLevel(logging.ERROR)

    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=libpq(url)))
    async with app.open_async():
        await app.schema_manager.apply_schema_async()


# --- the parent: database, jobs, scenarios ------------------------------------------------


class Bench:
    def __init__(self, server: str, peer_python: str | None) -> None:
        self.server = server
        self.name = f"tocsin_bench_{uuid.uuid4().hex[:10]}"
        self.url = with_database(server, self.name)
        self.peer_python = peer_python
        self.spawned: list[Children] = []

    async def __aenter__(self) -> Bench:
        import psycopg

        async with await psycopg.AsyncConnection.connect(libpq(self.server), autocommit=True) as c:
            await c.execute(f'CREATE DATABASE "{self.name}"')
        from tocsin.config import load_settings
        from tocsin.db.engine import make_engine, make_sessionmaker
        from tocsin.db.migrate import upgrade

        self.settings = load_settings(database_url=self.url, log_level="warning")
        self.engine = make_engine(self.settings)
        self.sessionmaker = make_sessionmaker(self.engine)
        await upgrade(self.engine)
        await self.sql(
            "CREATE TABLE bench_raw (id bigserial PRIMARY KEY, run_at timestamptz NOT NULL,"
            " status text NOT NULL DEFAULT 'queued');"
            "CREATE INDEX ON bench_raw (status, run_at)"
        )
        if self.peer_python:
            setup = await asyncio.create_subprocess_exec(
                self.peer_python, str(HERE), "_peer_setup", self.url
            )
            if await setup.wait() != 0:
                raise SystemExit("installing procrastinate's schema failed")
        return self

    async def __aexit__(self, *exc: object) -> None:
        import psycopg

        for children in self.spawned:
            children.kill()

        await self.engine.dispose()
        async with await psycopg.AsyncConnection.connect(libpq(self.server), autocommit=True) as c:
            await c.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')

    async def sql(self, statement: str, *params: Any) -> Any:
        import psycopg

        async with await psycopg.AsyncConnection.connect(libpq(self.url), autocommit=True) as c:
            cur = await c.execute(statement, params or None)
            return await cur.fetchone() if cur.description else None

    async def count_done(self, system: str) -> int:
        query = {
            "tocsin": "SELECT count(*) FROM jobs WHERE status = 'succeeded'",
            "plain-loop": "SELECT count(*) FROM bench_raw WHERE status = 'done'",
            "procrastinate": "SELECT count(*) FROM procrastinate_jobs WHERE status = 'succeeded'",
        }[system]
        row = await self.sql(query)
        return int(row[0])

    async def load(self, system: str, count: int, first_due: float, rate: float) -> None:
        """Store `count` jobs: all due at `first_due` (rate 0), or one every 1/rate s after."""
        if system == "tocsin":
            from tocsin.jobs import service

            await self.sql("TRUNCATE jobs, job_attempts RESTART IDENTITY")
            async with self.sessionmaker() as session:
                for start in range(0, count, 5000):
                    specs = [
                        service.NewJob(
                            KIND,
                            {"n": n},
                            run_at=datetime.fromtimestamp(
                                first_due + (n / rate if rate else 0), UTC
                            ),
                            max_attempts=3,
                        )
                        for n in range(start, min(count, start + 5000))
                    ]
                    await service.enqueue_many(session, specs)
                await session.commit()
        elif system == "plain-loop":
            await self.sql("TRUNCATE bench_raw RESTART IDENTITY")
            await self.sql(
                "INSERT INTO bench_raw (run_at) SELECT to_timestamp(%s + g * %s)"
                " FROM generate_series(0, %s::int - 1) AS g",
                first_due,
                (1 / rate) if rate else 0.0,
                count,
            )
        else:
            await self.sql(
                "TRUNCATE procrastinate_jobs, procrastinate_events RESTART IDENTITY CASCADE"
            )
            await self.sql(
                "INSERT INTO procrastinate_jobs (queue_name, task_name, args, scheduled_at)"
                " SELECT 'bench', %s, jsonb_build_object('n', g, 'due', %s + g * %s),"
                " to_timestamp(%s + g * %s) FROM generate_series(0, %s::int - 1) AS g",
                KIND,
                first_due,
                (1 / rate) if rate else 0.0,
                first_due,
                (1 / rate) if rate else 0.0,
                count,
            )
        await self.sql("VACUUM ANALYZE")

    def children(self, system: str, workers: int) -> Children:
        if system == "tocsin":
            argv = tocsin_child_argv(self.url, workers)
        elif system == "plain-loop":
            argv = raw_child_argv(self.url, workers)
        else:
            assert self.peer_python
            argv = peer_child_argv(
                self.peer_python, self.url, workers, self.settings.worker_concurrency
            )
        spawned = Children(argv)
        self.spawned.append(spawned)
        return spawned

    async def throughput(self, system: str, workers: int, count: int) -> Outcome:
        await self.load(system, count, time.time() - 1, 0)
        children = self.children(system, workers)
        children.wait_ready()
        started = time.perf_counter()
        children.say("go")
        done = 0
        deadline = started + max(120, count / 50)
        while done < count and time.perf_counter() < deadline:
            await asyncio.sleep(0.02)
            done = await self.count_done(system)
        seconds = time.perf_counter() - started
        children.say("stop")
        records = children.collect()
        return Outcome(
            system,
            workers,
            "throughput",
            count,
            seconds,
            len(records),
            len({r[0] for r in records}),
            [],
        )

    async def scheduled(self, system: str, workers: int, rate: float, window: float) -> Outcome:
        """Timers: jobs stored in advance, falling due one after another at `rate` per second."""
        count = int(rate * window)
        lead = 3.0
        children = self.children(system, workers)
        children.wait_ready()
        await self.load(system, count, time.time() + lead, rate)
        started = time.perf_counter()
        children.say("go")
        await self.wait_done(system, count, started + lead + window + 60)
        return self.finish(children, system, workers, f"scheduled@{rate:g}/s", count, started)

    async def enqueued(self, system: str, workers: int, rate: float, window: float) -> Outcome:
        """The outbox: a producer commits jobs due at once, `rate` per second in small
        transactions; workers learn of them by notification (or by polling, for the loop)."""
        import psycopg

        await self.load(system, 0, time.time(), 0)
        children = self.children(system, workers)
        children.wait_ready()
        children.say("go")
        await asyncio.sleep(1)  # let the workers settle into waiting
        count = int(rate * window)
        started = time.perf_counter()
        produced = 0
        async with await psycopg.AsyncConnection.connect(libpq(self.url), autocommit=True) as conn:
            while produced < count:
                due = min(count, int((time.perf_counter() - started) * rate) + 1)
                if due > produced:
                    await self.add_due_now(system, conn, produced, due - produced)
                    produced = due
                await asyncio.sleep(0.005)
        await self.wait_done(system, count, time.perf_counter() + 60)
        return self.finish(children, system, workers, f"enqueued@{rate:g}/s", count, started)

    async def add_due_now(self, system: str, conn: Any, first: int, size: int) -> None:
        now = time.time()
        if system == "tocsin":
            from tocsin.jobs import service

            async with self.sessionmaker() as session:
                specs = [service.NewJob(KIND, {"n": n}) for n in range(first, first + size)]
                await service.enqueue_many(session, specs)
                await session.commit()
        elif system == "plain-loop":
            await conn.execute(
                "INSERT INTO bench_raw (run_at) SELECT to_timestamp(%s)"
                " FROM generate_series(1, %s::int)",
                (now, size),
            )
        else:
            await conn.execute(
                "INSERT INTO procrastinate_jobs (queue_name, task_name, args)"
                " SELECT 'bench', %s, jsonb_build_object('n', g, 'due', %s::float8)"
                " FROM generate_series(%s::int, %s::int) AS g",
                (KIND, now, first, first + size - 1),
            )

    async def wait_done(self, system: str, count: int, deadline: float) -> None:
        done = 0
        while done < count and time.perf_counter() < deadline:
            await asyncio.sleep(0.05)
            done = await self.count_done(system)

    def finish(
        self,
        children: Children,
        system: str,
        workers: int,
        scenario: str,
        count: int,
        started: float,
    ) -> Outcome:
        seconds = time.perf_counter() - started
        children.say("stop")
        records = children.collect()
        return Outcome(
            system,
            workers,
            scenario,
            count,
            seconds,
            len(records),
            len({r[0] for r in records}),
            [r[1] for r in records],
        )


def peer_available(python: str | None) -> tuple[bool, str]:
    if not python:
        try:
            import procrastinate  # noqa: F401
        except ImportError:
            return False, "procrastinate: skipped (not importable here; pass --peer-python)"
        return True, sys.executable
    probe = subprocess.run(
        [python, "-c", "import procrastinate; print(procrastinate.__version__)"],
        capture_output=True,
        text=True,
    )
    if probe.returncode != 0:
        return False, f"procrastinate: skipped ({python} cannot import it)"
    return True, probe.stdout.strip()


async def main(args: argparse.Namespace) -> None:
    available, peer_note = peer_available(args.peer_python)
    peer_python = (args.peer_python or sys.executable) if available else None
    systems = ["tocsin", "plain-loop"] + (["procrastinate"] if available else [])
    if not available:
        print(peer_note, file=sys.stderr)
    outcomes: list[Outcome] = []
    load_before = os.getloadavg()[0]
    async with Bench(args.server, peer_python) as bench:
        version = (await bench.sql("SHOW server_version"))[0]
        for system in systems:
            if args.only and system not in args.only:
                continue
            for workers in (1, 2):
                outcome = await bench.throughput(system, workers, args.jobs)
                print(outcome.row(), flush=True)
                outcomes.append(outcome)
                # Lag is measured below capacity: a queue fed faster than it drains only
                # shows its backlog growing.
                rate = min(args.rate, max(10, int(outcome.rate * CAPACITY_SHARE / 10) * 10))
                for scenario in (bench.scheduled, bench.enqueued):
                    outcome = await scenario(system, workers, rate, args.seconds)
                    print(outcome.row(), flush=True)
                    outcomes.append(outcome)
    print()
    print(
        f"date: {datetime.now(UTC):%Y-%m-%d}  machine: {os.cpu_count()} cores, "
        f"{platform.machine()}, Python {platform.python_version()}, PostgreSQL {version}"
    )
    print(
        f"load average (1 min) before: {load_before:.2f}, after: {os.getloadavg()[0]:.2f}"
        " (other work on the machine skews every figure)"
    )
    if available:
        print(f"peer: procrastinate {peer_note}")
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    print(HEADER)
    for outcome in outcomes:
        print(outcome.row())
    failures = [
        o
        for o in outcomes
        if o.system == "tocsin"
        and (
            o.duplicates
            or o.unique != o.jobs
            or (o.scenario == "throughput" and o.rate < 2000)
            or (o.lags and o.lag_ms(0.99) >= 500)
        )
    ]
    if failures:
        print("\ngoal missed (>= 2,000 jobs/s, p99 lag < 500 ms, every job once):")
        for outcome in failures:
            print(outcome.row())
        raise SystemExit(1)


def cli() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "_child":
        parser = argparse.ArgumentParser()
        parser.add_argument("system")
        parser.add_argument("--url", required=True)
        parser.add_argument("--out", required=True)
        parser.add_argument("--concurrency", type=int, default=8)
        a = parser.parse_args(sys.argv[2:])
        runner = {
            "tocsin": lambda: child_tocsin(a.url, a.out),
            "raw": lambda: child_raw(a.url, a.out),
            "procrastinate": lambda: child_procrastinate(a.url, a.out, a.concurrency),
        }[a.system]
        asyncio.run(runner())
        return
    if len(sys.argv) > 1 and sys.argv[1] == "_peer_setup":
        asyncio.run(peer_setup(sys.argv[2]))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--jobs", type=int, default=20_000, help="jobs in the throughput run")
    parser.add_argument(
        "--rate",
        type=float,
        default=1000,
        help="jobs due per second in the lag runs (capped at half the measured throughput)",
    )
    parser.add_argument("--seconds", type=float, default=10, help="length of the lag window")
    parser.add_argument(
        "--server", default=os.environ.get("TOCSIN_BENCH_POSTGRES_URL", DEFAULT_SERVER)
    )
    parser.add_argument("--peer-python", help="an interpreter that can import procrastinate")
    parser.add_argument("--only", action="append", help="run only this system (repeatable)")
    asyncio.run(main(parser.parse_args()))


if __name__ == "__main__":
    cli()
