"""Status-page subscribers: one update to 10,000 e-mail subscribers, while the API stays quick.

    .venv/bin/python benchmarks/subscribers.py [--subscribers 10000] [--database both]
        [--workers 0] [--server postgresql+psycopg://postgres@127.0.0.1:5432/postgres]

For each database (a fresh SQLite file, and/or a throw-away PostgreSQL database): creates a
default page with one component, `--subscribers` confirmed e-mail subscribers (bulk-inserted),
an admin token and an open status-page incident; starts a local SMTP server (aiosmtpd) in a
process of its own, so that receiving mail does not compete with the server for one GIL, then
`tocsin serve` with its in-process worker (plus `--workers` separate `tocsin worker`
processes) on a free loopback port. Then it posts an incident update through the API and
measures the time from that request until the SMTP server has received a message for every
subscriber, while a probe calls `GET /api/v1/incidents` every 50 ms and records its latency.

Goals (the issue's benchmark 2): all messages within 60 s, probe p99 under 200 ms. The script
prints a Markdown row per database and exits with status 1 when a goal is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from multiprocessing.sharedctypes import Synchronized
from pathlib import Path
from typing import Any

import httpx
from harness import free_port, percentile, postgres_database, wait_ready

TOCSIN = str(Path(sys.executable).with_name("tocsin"))
DEFAULT_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
PROBE_EVERY = 0.05
GOAL_SECONDS = 60.0
GOAL_P99_MS = 200.0
STARTUP_TRIES = 1200
"""Polls of /readyz, 0.1 s apart, before giving up: a loaded machine imports slowly."""


# --- the SMTP server, in its own process --------------------------------------------------------


def _smtp_process(
    port: int, expected: int, received: Synchronized[int], ready: Any, done: Any
) -> None:
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import SMTP, Envelope, Session

    class Counter:
        async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
            with received.get_lock():
                received.value += len(envelope.rcpt_tos)
                if received.value >= expected:
                    done.set()
            return "250 Message accepted"

    controller = Controller(Counter(), hostname="127.0.0.1", port=port)
    controller.start()
    ready.set()
    try:
        multiprocessing.Event().wait()  # until terminated
    finally:
        controller.stop()


@contextlib.contextmanager
def smtp_sink(expected: int) -> Iterator[tuple[int, Synchronized[int], Any]]:
    """A counting SMTP server in a separate process: its port, the recipients it got, and an
    event set once `expected` recipients have arrived."""
    context = multiprocessing.get_context("spawn")
    received = context.Value("q", 0)
    ready = context.Event()
    done = context.Event()
    port = free_port()
    process = context.Process(
        target=_smtp_process, args=(port, expected, received, ready, done), daemon=True
    )
    process.start()
    if not ready.wait(30):
        process.terminate()
        raise RuntimeError("the SMTP server did not start")
    try:
        yield port, received, done
    finally:
        process.terminate()
        process.join(10)


# --- the world ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class World:
    token: str
    incident_id: int


async def prepare(database_url: str, subscribers: int) -> World:
    """Schema, an admin token, a page with `subscribers` confirmed addresses and an incident."""
    import sqlalchemy as sa

    from tocsin.audit.service import Actor
    from tocsin.auth import service as auth
    from tocsin.auth.permissions import Role
    from tocsin.cli import migrate
    from tocsin.clock import utcnow
    from tocsin.config import load_settings
    from tocsin.db.engine import make_engine, make_sessionmaker
    from tocsin.statuspage import service
    from tocsin.statuspage.models import Subscriber
    from tocsin.statuspage.schemas import ComponentCreate, IncidentCreate, PageCreate

    settings = load_settings(database_url=database_url)
    await migrate(settings)
    engine = make_engine(settings)
    actor = Actor.system("benchmark")
    try:
        async with make_sessionmaker(engine)() as session:
            user = await auth.create_user(
                session, actor, email="admin@bench.example", role=Role.ADMIN, password=None
            )
            token = (await auth.create_token(session, actor, user=user, name="bench")).secret
            page = await service.create_page(session, actor, PageCreate(slug="acme", name="Acme"))
            await service.create_component(session, actor, "acme", ComponentCreate(name="Shop"))
            now = utcnow()
            rows = [
                {
                    "page_id": page.id,
                    "mode": "email",
                    "address": f"subscriber-{n}@bench.example",
                    "component_ids": [],
                    "confirmed_at": now,
                    "created_at": now,
                    "updated_at": now,
                }
                for n in range(subscribers)
            ]
            for start in range(0, len(rows), 2000):
                await session.execute(sa.insert(Subscriber), rows[start : start + 2000])
            await session.commit()
            incident = await service.create_incident(
                session,
                actor,
                "acme",
                IncidentCreate(name="Checkout errors", body="We are investigating.", notify=False),
            )
            return World(token, incident.id)
    finally:
        await engine.dispose()


@contextlib.contextmanager
def processes(database_url: str, port: int, smtp_port: int, workers: int) -> Iterator[Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOCSIN_")}
    env |= {
        "TOCSIN_DATABASE_URL": database_url,
        "TOCSIN_LOG_LEVEL": "warning",
        "TOCSIN_SMTP_HOST": "127.0.0.1",
        "TOCSIN_SMTP_PORT": str(smtp_port),
        "TOCSIN_SMTP_STARTTLS": "false",
        "TOCSIN_BASE_URL": f"http://127.0.0.1:{port}",
    }
    quiet: dict[str, Any] = {"env": env, "stdout": subprocess.DEVNULL}
    children = [
        subprocess.Popen([TOCSIN, "serve", "--host", "127.0.0.1", "--port", str(port)], **quiet)
    ]
    children += [subprocess.Popen([TOCSIN, "worker"], **quiet) for _ in range(workers)]
    try:
        yield children[0]
    finally:
        for child in children:
            child.terminate()
        for child in children:
            try:
                child.wait(10)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()


# --- measuring ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Result:
    database: str
    subscribers: int
    workers: int
    delivered: int
    seconds: float
    probe_ms: list[float]

    @property
    def met(self) -> bool:
        return (
            self.delivered >= self.subscribers
            and self.seconds <= GOAL_SECONDS
            and percentile(self.probe_ms, 0.99) < GOAL_P99_MS
        )


async def probe(base: str, token: str, stop: asyncio.Event, out: list[float]) -> None:
    """A normal API call every 50 ms (on a schedule, not back to back), timed."""
    headers = {"Authorization": f"Bearer {token}"}
    loop = asyncio.get_running_loop()
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as client:
        # One untimed call first: a fresh process builds each route's machinery on its first
        # request, which a server that has been up for a while has long done.
        (await client.get("/api/v1/incidents")).raise_for_status()
        due = loop.time()
        while not stop.is_set():
            started = time.perf_counter()
            response = await client.get("/api/v1/incidents")
            out.append((time.perf_counter() - started) * 1000)
            if response.status_code != 200:
                raise RuntimeError(f"the probe got {response.status_code}")
            due += PROBE_EVERY
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), max(0.0, due - loop.time()))


async def measure(label: str, url: str, args: argparse.Namespace) -> Result:
    world = await prepare(url, args.subscribers)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with (
        smtp_sink(args.subscribers) as (smtp_port, received, done),
        processes(url, port, smtp_port, args.workers) as child,
    ):
        await wait_ready(f"{base}/readyz", child, tries=STARTUP_TRIES)
        stop = asyncio.Event()
        probe_ms: list[float] = []
        prober = asyncio.create_task(probe(base, world.token, stop, probe_ms))
        await asyncio.sleep(1)  # the probe's quiet baseline is part of what it reports
        headers = {"Authorization": f"Bearer {world.token}"}
        started = time.monotonic()
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=60) as api:
            response = await api.post(
                f"/api/v1/status-pages/acme/incidents/{world.incident_id}/updates",
                json={"status": "identified", "body": "The cause is a bad deploy; rolling back."},
            )
        if response.status_code != 201:
            raise RuntimeError(f"the update answered {response.status_code}: {response.text}")
        await asyncio.to_thread(done.wait, args.give_up)
        seconds = time.monotonic() - started
        stop.set()
        await prober
    return Result(label, args.subscribers, args.workers, received.value, seconds, probe_ms)


def row(result: Result) -> str:
    return (
        f"| {result.database} | {result.subscribers} | {result.workers} | {result.delivered} | "
        f"{result.seconds:.1f} | {len(result.probe_ms)} | {percentile(result.probe_ms, 0.5):.1f} | "
        f"{percentile(result.probe_ms, 0.99):.1f} | {'yes' if result.met else 'NO'} |"
    )


async def main(args: argparse.Namespace) -> int:
    results = []
    if args.database in {"sqlite", "both"}:
        with tempfile.TemporaryDirectory() as workdir:
            url = f"sqlite+aiosqlite:///{Path(workdir) / 'bench.db'}"
            results.append(await measure("SQLite", url, args))
    if args.database in {"postgresql", "both"}:
        async with postgres_database(args.server) as url:
            results.append(await measure("PostgreSQL", url, args))
    print(
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs, "
        f"{platform.machine()}, Python {platform.python_version()}, load average "
        f"{os.getloadavg()[0]:.1f}"
    )
    print()
    print(
        "| database | subscribers | extra workers | delivered | all delivered after s | "
        "probe calls | probe p50 ms | probe p99 ms | goals met |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for result in results:
        print(row(result))
    return 0 if all(r.met for r in results) else 1


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--database", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument(
        "--workers", type=int, default=0, help="separate `tocsin worker` processes to add"
    )
    parser.add_argument(
        "--give-up", type=float, default=300, help="seconds to wait for every message"
    )
    parser.add_argument("--server", default=DEFAULT_SERVER, help="PostgreSQL server URL")
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse())))
