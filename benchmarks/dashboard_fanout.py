"""Live dashboard fan-out: how long a change takes to reach the last of many open screens.

    .venv/bin/python benchmarks/dashboard_fanout.py [--database sqlite|postgresql|both]
        [--incidents 200] [--viewers 1000] [--changes 50] [--client-processes 4]
        [--server URL]

A real server (`tocsin serve --no-worker`, uvicorn, one process) runs on a fresh SQLite file or
a fresh PostgreSQL database (created and dropped here) holding `--incidents` active incidents,
a tenth of them private. `--viewers` Server-Sent Event streams (`GET /events/stream`, the
stream every live page uses) are opened by `--client-processes` separate OS processes, so the
clients' own parsing is not measured on the server's core; nine in ten viewers sign in as a
viewer (who is not a participant of the private incidents, so every private event is checked
against its participants), one in ten as an admin.

Each change is a timeline note added through the REST API to a different public incident;
before it, a note on a private incident is added too (not measured), so the filtering runs as
it does in real use. A change's latency is the moment the last viewer has received its event
minus the moment the API answered (and, in a second column, minus the moment the request was
sent: the event is published on commit, before the answer leaves). Changes go one after the
other: the next starts once every viewer has the previous one. Times come from the system-wide
monotonic clock, which all processes on one Linux machine share.

The command board itself is also timed: `GET /api/v1/dashboards/command` with every incident
on it, as each open board re-reads it after an event.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing as mp
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from multiprocessing.synchronize import Event as MpEvent
from pathlib import Path

import httpx
from harness import free_port, percentile, postgres_database, wait_ready

DEFAULT_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
TOCSIN = str(Path(sys.executable).with_name("tocsin"))
PRIVATE_SHARE = 10
"""one incident in this many is private"""
ADMIN_SHARE = 10
"""one viewer in this many is an admin"""
WAIT_SECONDS = 120.0
RAMP = 20
"""streams each client process opens at a time"""


# --- viewers (child processes) ---------------------------------------------------------------


def viewer_process(
    base: str,
    tokens: list[str],
    watched: list[str],
    ready: mp.Queue[int],
    results: mp.Queue[tuple[str, list[float]]],
    stop: MpEvent,
) -> None:
    asyncio.run(_viewers(base, tokens, set(watched), ready, results, stop))


async def _viewers(
    base: str,
    tokens: list[str],
    watched: set[str],
    ready: mp.Queue[int],
    results: mp.Queue[tuple[str, list[float]]],
    stop: MpEvent,
) -> None:
    arrivals: dict[str, list[float]] = {ref: [] for ref in watched}
    subscribed = 0
    count = len(tokens)
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
    timeout = httpx.Timeout(30.0, read=None)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=timeout) as client:

        async def one(token: str) -> None:
            nonlocal subscribed
            headers = {"Authorization": f"Bearer {token}"}
            async with client.stream("GET", "/events/stream", headers=headers) as response:
                if response.status_code != 200:
                    raise RuntimeError(f"stream answered {response.status_code}")
                async for line in response.aiter_lines():
                    if line.startswith(": subscribed"):
                        subscribed += 1
                        if subscribed == count:
                            ready.put(count)
                    elif line.startswith("data:"):
                        at = time.monotonic()
                        ref = json.loads(line[5:])["data"].get("ref")
                        if ref in arrivals:
                            arrivals[ref].append(at)
                            if len(arrivals[ref]) == count:
                                results.put((ref, arrivals[ref]))

        # Screens connect a few at a time, as after a deploy; a thousand authenticating in the
        # same instant would queue on SQLite's single writer (see docs/benchmarks.md).
        tasks: list[asyncio.Task[None]] = []
        for start in range(0, count, RAMP):
            tasks += [asyncio.create_task(one(token)) for token in tokens[start : start + RAMP]]
            while subscribed < len(tasks):
                failed = [t for t in tasks if t.done()]
                if failed:
                    raise RuntimeError(f"a viewer failed: {failed[0].exception()!r}")
                await asyncio.sleep(0.01)
        while not stop.is_set():
            failed = [t for t in tasks if t.done() and t.exception() is not None]
            if failed:
                raise RuntimeError(f"a viewer failed: {failed[0].exception()!r}")
            await asyncio.sleep(0.2)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


# --- the server -------------------------------------------------------------------------------


@dataclass(frozen=True)
class World:
    admin_token: str
    viewer_token: str
    public_refs: list[str]
    private_refs: list[str]


async def prepare(database_url: str, incidents: int) -> World:
    """Schema, default policies, two callers and `incidents` active incidents."""
    from tocsin.audit.service import Actor
    from tocsin.auth import service as auth
    from tocsin.auth.permissions import Role
    from tocsin.cli import migrate
    from tocsin.config import load_settings
    from tocsin.db.engine import make_engine, make_sessionmaker
    from tocsin.incidents import service as incident_service
    from tocsin.incidents.schemas import IncidentDeclare
    from tocsin.policy import service as policy

    settings = load_settings(database_url=database_url)
    await migrate(settings)
    engine = make_engine(settings)
    actor = Actor.system("benchmark")
    try:
        async with make_sessionmaker(engine)() as session:
            await policy.ensure_default_policies(session)
            await session.commit()
            tokens = []
            for role in (Role.ADMIN, Role.VIEWER):
                user = await auth.create_user(
                    session, actor, email=f"{role.value}@bench.example", role=role, password=None
                )
                issued = await auth.create_token(session, actor, user=user, name="bench")
                tokens.append(issued.secret)
            public: list[str] = []
            private: list[str] = []
            for n in range(incidents):
                hidden = n % PRIVATE_SHARE == 0
                body = IncidentDeclare(
                    title=f"Bench incident {n}",
                    severity=("sev1", "sev2", "sev3")[n % 3],
                    visibility="private" if hidden else "public",
                )
                declared = await incident_service.declare(session, actor, body)
                (private if hidden else public).append(declared.ref)
            return World(tokens[0], tokens[1], public, private)
    finally:
        await engine.dispose()


def _more_files() -> None:
    """A thousand streams need more descriptors than the usual soft limit of 1024."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


@contextlib.contextmanager
def server(database_url: str, port: int) -> Iterator[subprocess.Popen[bytes]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOCSIN_")}
    env |= {"TOCSIN_DATABASE_URL": database_url, "TOCSIN_LOG_LEVEL": "warning"}
    argv = [TOCSIN, "serve", "--no-worker", "--host", "127.0.0.1", "--port", str(port)]
    child = subprocess.Popen(
        argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=_more_files
    )
    try:
        yield child
    finally:
        child.terminate()
        try:
            child.wait(10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


# --- measuring --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Result:
    database: str
    incidents: int
    viewers: int
    changes: int
    from_answer_ms: list[float]
    from_request_ms: list[float]
    median_viewer_ms: list[float]
    board_ms: list[float]
    server_cpu_ms_per_change: float
    """CPU the server process spent per change (both notes and the fan-out), whatever the
    machine's load: the part of the latency that is Tocsin's own work"""


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _board_times(base: str, token: str, times: int) -> list[float]:
    found = []
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        for _ in range(times):
            started = time.monotonic()
            response = await client.get(
                "/api/v1/dashboards/command", headers={"Authorization": f"Bearer {token}"}
            )
            found.append((time.monotonic() - started) * 1000)
            if response.status_code != 200:
                raise RuntimeError(f"board answered {response.status_code}")
    return found


async def measure(label: str, database_url: str, args: argparse.Namespace) -> Result:
    world = await prepare(database_url, args.incidents)
    if len(world.public_refs) < args.changes:
        raise SystemExit("--changes must not exceed the number of public incidents")
    watched = world.public_refs[: args.changes]
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    context = mp.get_context("spawn")
    ready: mp.Queue[int] = context.Queue()
    results: mp.Queue[tuple[str, list[float]]] = context.Queue()
    stop = context.Event()
    tokens = [
        world.admin_token if n % ADMIN_SHARE == 0 else world.viewer_token
        for n in range(args.viewers)
    ]
    shares = [tokens[p :: args.client_processes] for p in range(args.client_processes)]
    with server(database_url, port) as child:
        await wait_ready(f"{base}/healthz", child)
        board = await _board_times(base, world.admin_token, 20)
        clients = [
            context.Process(
                target=viewer_process, args=(base, share, watched, ready, results, stop)
            )
            for share in shares
        ]
        for process in clients:
            process.start()
        try:
            for _ in clients:
                await asyncio.to_thread(ready.get, True, WAIT_SECONDS)
            from_answer, from_request, median_viewer = [], [], []
            cpu_before = cpu_seconds(child.pid)
            headers = {"Authorization": f"Bearer {world.admin_token}"}
            async with httpx.AsyncClient(base_url=base, headers=headers, timeout=60) as api:
                for n, ref in enumerate(watched):
                    secret = world.private_refs[n % len(world.private_refs)]
                    note = {"text": f"private change {n}"}
                    await api.post(f"/api/v1/incidents/{secret}/timeline", json=note)
                    sent = time.monotonic()
                    response = await api.post(
                        f"/api/v1/incidents/{ref}/timeline", json={"text": f"change {n}"}
                    )
                    answered = time.monotonic()
                    if response.status_code != 201:
                        raise RuntimeError(f"change answered {response.status_code}")
                    arrivals: list[float] = []
                    for _ in clients:
                        got_ref, times = await asyncio.to_thread(results.get, True, WAIT_SECONDS)
                        if got_ref != ref:
                            raise RuntimeError(f"expected {ref}, a viewer reported {got_ref}")
                        arrivals += times
                    last = max(arrivals)
                    from_answer.append((last - answered) * 1000)
                    from_request.append((last - sent) * 1000)
                    median_viewer.append((statistics.median(arrivals) - answered) * 1000)
            cpu_per_change = (cpu_seconds(child.pid) - cpu_before) * 1000 / len(watched)
        finally:
            stop.set()
            for process in clients:
                process.join(15)
                if process.is_alive():
                    process.terminate()
    return Result(
        label,
        args.incidents,
        args.viewers,
        args.changes,
        from_answer,
        from_request,
        median_viewer,
        board,
        cpu_per_change,
    )


def row(result: Result) -> str:
    def stats(values: list[float]) -> str:
        return (
            " | ".join(f"{percentile(values, s):.1f}" for s in (0.5, 0.95, 0.99))
            + f" | {max(values):.1f}"
        )

    return (
        f"| {result.database} | {result.incidents} | {result.viewers} | {result.changes} | "
        f"{stats(result.from_answer_ms)} | {percentile(result.from_request_ms, 0.99):.1f} | "
        f"{percentile(result.median_viewer_ms, 0.5):.1f} | "
        f"{percentile(result.board_ms, 0.5):.1f} | {result.server_cpu_ms_per_change:.1f} |"
    )


async def main(args: argparse.Namespace) -> None:
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
        "| database | incidents | viewers | changes | last viewer p50 ms | p95 ms | p99 ms | "
        "max ms | p99 from request ms | median viewer p50 ms | board GET p50 ms | "
        "server CPU ms per change |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for result in results:
        print(row(result))


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--incidents", type=int, default=200)
    parser.add_argument("--viewers", type=int, default=1000)
    parser.add_argument("--changes", type=int, default=50)
    parser.add_argument("--client-processes", type=int, default=4)
    parser.add_argument("--server", default=DEFAULT_SERVER, help="PostgreSQL server URL")
    return parser.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(parse()))
