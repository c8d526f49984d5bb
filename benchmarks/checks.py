"""Scheduling lag of synthetic checks: many HTTP checks a minute from one worker.

    .venv/bin/python benchmarks/checks.py [--checks 1000] [--minutes 2] [--database URL]

Creates a database of its own (a temporary SQLite file unless --database names an empty
PostgreSQL database), a local HTTP target on loopback, and N HTTP checks every 60 s with the
default jitter spread; then runs one worker for the given minutes and reports, for every
scheduled run that fell due inside the window after the first minute (the warm-up), the lag
from due time to the moment the worker started it (p50, p99, max), runs per minute and runs
that failed. The goal is 1,000 checks a minute with p99 lag under one second.

Beside it, the same target and monitor count run through a minimal Uptime Kuma-like loop: one
timer per monitor in one process, each beat a GET and one row written to SQLite, which is how
Uptime Kuma works. Uptime Kuma itself (Node.js) cannot be installed here, so this stands in
for it; it is a reference for the shape of the cost, not a measurement of Uptime Kuma.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import sqlite3
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

RESPONSE = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok"


async def serve_target() -> tuple[asyncio.Server, int]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            await reader.readuntil(b"\r\n\r\n")
            writer.write(RESPONSE)
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=1024)
    return server, int(server.sockets[0].getsockname()[1])


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(p / 100 * len(ordered)) - 1))]


async def run_tocsin(
    url: str, checks: int, minutes: float, port: int, concurrency: int
) -> dict[str, float]:
    import sqlalchemy as sa

    from tocsin.audit.service import Actor
    from tocsin.catalog import service as catalog
    from tocsin.catalog.schemas import ServiceCreate
    from tocsin.checks import handlers as _handlers  # noqa: F401
    from tocsin.checks import service
    from tocsin.checks.models import CheckResult
    from tocsin.checks.schemas import CheckCreate
    from tocsin.config import load_settings
    from tocsin.db.engine import make_engine, make_sessionmaker
    from tocsin.db.migrate import upgrade
    from tocsin.jobs.models import Job, JobAttempt
    from tocsin.jobs.worker import Worker

    settings = load_settings(database_url=url, log_level="warning", worker_concurrency=concurrency)
    engine = make_engine(settings)
    await upgrade(engine)
    sessions = make_sessionmaker(engine)
    system = Actor.system("benchmark")
    async with sessions() as session:
        await catalog.create_service(session, system, ServiceCreate(slug="target", name="T"))
        for n in range(checks):
            body = CheckCreate.model_validate(
                {
                    "slug": f"c{n}",
                    "name": f"check {n}",
                    "service": "target",
                    "kind": "http",
                    "interval_seconds": 60,
                    "jitter_seconds": 59,
                    "timeout_seconds": 5,
                    "spec": {"steps": [{"url": f"http://127.0.0.1:{port}/health"}]},
                }
            )
            await service.create_check(session, system, body, commit=False)
        await session.commit()
    worker = Worker(settings, sessions, worker_id="bench")
    started = datetime.now(UTC)
    task = asyncio.create_task(worker.run())
    await asyncio.sleep(minutes * 60)
    await worker.stop()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    window_start = started + timedelta(minutes=1)
    async with sessions() as session:
        rows = (
            await session.execute(
                sa.select(Job.run_at, JobAttempt.started_at, Job.payload)
                .join(JobAttempt, JobAttempt.job_id == Job.id)
                .where(Job.kind == service.RUN_KIND, Job.run_at >= window_start)
            )
        ).all()
        failed = await session.scalar(
            sa.select(sa.func.count())
            .select_from(CheckResult)
            .where(CheckResult.ok.is_(False), CheckResult.started_at >= window_start)
        )
    await engine.dispose()
    lags = [
        (begun - due).total_seconds()
        for due, begun, payload in rows
        if payload.get("trigger") == "schedule"
    ]
    window_minutes = minutes - 1
    return {
        "runs": len(lags),
        "per_minute": len(lags) / window_minutes,
        "p50": statistics.median(lags),
        "p99": pct(lags, 99),
        "max": max(lags),
        "failed": float(failed or 0),
    }


async def run_reference(checks: int, minutes: float, port: int, folder: Path) -> dict[str, float]:
    """One timer per monitor, a GET and one SQLite row per beat (the Uptime Kuma shape)."""
    db = sqlite3.connect(folder / "kuma.db", check_same_thread=False)
    db.execute("create table heartbeat (monitor int, time real, status int, ping real)")
    lags: list[float] = []
    deadline = time.monotonic() + minutes * 60
    warm = time.monotonic() + 60
    failed = 0

    async def monitor(n: int, client: httpx.AsyncClient) -> None:
        nonlocal failed
        due = time.monotonic() + (n * 59 / checks)
        while due < deadline:
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            begun = time.monotonic()
            if due >= warm:
                lags.append(begun - due)
            try:
                response = await client.get(f"http://127.0.0.1:{port}/health")
                status = int(response.status_code == 200)
            except httpx.HTTPError:
                status = 0
            if not status and due >= warm:
                failed += 1
            db.execute(
                "insert into heartbeat values (?, ?, ?, ?)",
                (n, time.time(), status, (time.monotonic() - begun) * 1000),
            )
            db.commit()
            due += 60

    limits = httpx.Limits(max_connections=64)
    async with httpx.AsyncClient(timeout=5, limits=limits) as client:
        await asyncio.gather(*(monitor(n, client) for n in range(checks)))
    db.close()
    window_minutes = minutes - 1
    return {
        "runs": len(lags),
        "per_minute": len(lags) / window_minutes,
        "p50": statistics.median(lags),
        "p99": pct(lags, 99),
        "max": max(lags),
        "failed": float(failed),
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checks", type=int, default=1000)
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--database", default=None)
    parser.add_argument("--concurrency", type=int, default=32, help="worker concurrency")
    parser.add_argument("--skip-reference", action="store_true")
    args = parser.parse_args()
    if args.minutes < 2:
        parser.error("--minutes must be at least 2 (the first minute is warm-up)")
    server, port = await serve_target()
    print(
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.machine()}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}, {args.checks} checks"
    )
    print("| system | runs | runs/min | lag p50 (s) | lag p99 (s) | lag max (s) | failed |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as folder:
        url = args.database or f"sqlite+aiosqlite:///{folder}/bench.db"
        label = "Tocsin, PostgreSQL" if url.startswith("postgresql") else "Tocsin, SQLite"
        results = {label: await run_tocsin(url, args.checks, args.minutes, port, args.concurrency)}
        if not args.skip_reference:
            reference = await run_reference(args.checks, args.minutes, port, Path(folder))
            results["Uptime Kuma-like loop (reference)"] = reference
    server.close()
    for name, r in results.items():
        print(
            f"| {name} | {r['runs']:.0f} | {r['per_minute']:.0f} | {r['p50']:.3f} | "
            f"{r['p99']:.3f} | {r['max']:.3f} | {r['failed']:.0f} |"
        )


if __name__ == "__main__":
    asyncio.run(main())
