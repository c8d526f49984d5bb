"""Alert ingestion throughput: Tocsin (SQLite, PostgreSQL) beside Prometheus Alertmanager.

    .venv/bin/python benchmarks/ingest.py [--single 2000] [--batches 100] [--concurrency 16]
                                          [--server URL] [--alertmanager PATH]

Every target receives the same bodies, from the same load generator, at the same endpoint
shape: Alertmanager's `POST /api/v2/alerts` (Tocsin serves it too, with the integration key
as bearer token). Two modes:

* one alert per request (`--single` requests, each a new alert);
* 64-alert batches (`--batches` requests, each 64 new alerts).

Tocsin runs as `tocsin serve --no-worker` in its own process, on a fresh SQLite file and on a
fresh PostgreSQL database (created and dropped here); each accepted request has been merged
and committed (durable) before its answer. Alertmanager keeps alerts in memory only. The
load generator is an asyncio loop of `--concurrency` keep-alive HTTP clients; alerts per
second are counted from the first request to the last answer, and every answer must be 200.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
from harness import free_port, postgres_database, wait_ready

DEFAULT_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
TOCSIN = str(Path(sys.executable).with_name("tocsin"))
BATCH = 64


@dataclass(frozen=True)
class Result:
    target: str
    mode: str
    requests: int
    alerts: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.alerts / self.seconds


def payloads(run: str, requests: int, per_request: int) -> list[list[dict[str, Any]]]:
    start = datetime.now(UTC).isoformat()
    return [
        [
            {
                "labels": {
                    "alertname": "BenchAlert",
                    "job": "bench",
                    "instance": f"{run}-{r}-{i}",
                    "severity": "warning",
                },
                "annotations": {"summary": f"bench alert {r}/{i}"},
                "startsAt": start,
            }
            for i in range(per_request)
        ]
        for r in range(requests)
    ]


async def load(
    url: str, bodies: list[list[dict[str, Any]]], headers: dict[str, str], concurrency: int
) -> float:
    queue: asyncio.Queue[list[dict[str, Any]]] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=60) as client:

        async def worker() -> None:
            while not queue.empty():
                body = queue.get_nowait()
                response = await client.post(url, json=body, headers=headers)
                if response.status_code != 200:
                    raise RuntimeError(f"{url}: {response.status_code} {response.text[:200]}")

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - started


async def measure(
    target: str, url: str, headers: dict[str, str], args: argparse.Namespace
) -> list[Result]:
    run = uuid.uuid4().hex[:8]
    await load(url, payloads(f"warm-{run}", 50, 1), headers, args.concurrency)
    single = payloads(f"one-{run}", args.single, 1)
    batches = payloads(f"batch-{run}", args.batches, BATCH)
    one_s = await load(url, single, headers, args.concurrency)
    batch_s = await load(url, batches, headers, args.concurrency)
    return [
        Result(target, "1 alert/request", args.single, args.single, one_s),
        Result(target, "64 alerts/request", args.batches, args.batches * BATCH, batch_s),
    ]


# --- targets ---------------------------------------------------------------------------------


async def prepare_tocsin(database_url: str) -> str:
    """Schema, one service and one Alertmanager integration; returns its key."""
    from tocsin.alerts import service as alerts
    from tocsin.alerts.normalized import SourceKind
    from tocsin.alerts.schemas import IntegrationCreate
    from tocsin.audit.service import Actor
    from tocsin.catalog import service as catalog
    from tocsin.catalog.schemas import ServiceCreate
    from tocsin.cli import migrate
    from tocsin.config import load_settings
    from tocsin.db.engine import make_engine, make_sessionmaker

    settings = load_settings(database_url=database_url)
    await migrate(settings)
    engine = make_engine(settings)
    try:
        async with make_sessionmaker(engine)() as session:
            actor = Actor.system("benchmark")
            await catalog.create_service(session, actor, ServiceCreate(slug="bench", name="Bench"))
            created = await alerts.create_integration(
                session,
                actor,
                IntegrationCreate(
                    service="bench", kind=SourceKind.ALERTMANAGER, rate_limit_per_minute=10**6
                ),
            )
            return created.key
    finally:
        await engine.dispose()


@contextlib.contextmanager
def process(
    argv: list[str], env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    child = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield child
    finally:
        child.terminate()
        try:
            child.wait(10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


async def tocsin_target(target: str, database_url: str, args: argparse.Namespace) -> list[Result]:
    key = await prepare_tocsin(database_url)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOCSIN_")}
    env |= {"TOCSIN_DATABASE_URL": database_url, "TOCSIN_LOG_LEVEL": "warning"}
    argv = [TOCSIN, "serve", "--no-worker", "--host", "127.0.0.1", "--port", str(port)]
    with process(argv, env) as child:
        base = f"http://127.0.0.1:{port}"
        await wait_ready(f"{base}/healthz", child)
        headers = {"Authorization": f"Bearer {key}"}
        return await measure(target, f"{base}/api/v2/alerts", headers, args)


ALERTMANAGER_CONFIG = """\
route:
  receiver: nowhere
  group_wait: 1h
receivers:
  - name: nowhere
"""


async def alertmanager_target(binary: str, workdir: Path, args: argparse.Namespace) -> list[Result]:
    config = workdir / "alertmanager.yml"
    config.write_text(ALERTMANAGER_CONFIG)
    port = free_port()
    argv = [
        binary,
        f"--config.file={config}",
        f"--storage.path={workdir / 'am-data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",
        "--log.level=warn",
    ]
    with process(argv) as child:
        base = f"http://127.0.0.1:{port}"
        await wait_ready(f"{base}/-/ready", child)
        return await measure("Alertmanager (memory)", f"{base}/api/v2/alerts", {}, args)


def version(binary: str) -> str:
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, check=False)
    return (out.stdout or out.stderr).splitlines()[0] if (out.stdout or out.stderr) else "?"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--single", type=int, default=2000, help="one-alert requests")
    parser.add_argument("--batches", type=int, default=100, help="64-alert requests")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--server", default=DEFAULT_SERVER, help="PostgreSQL server URL")
    parser.add_argument("--alertmanager", default="/usr/bin/prometheus-alertmanager")
    args = parser.parse_args()

    results: list[Result] = []
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        if shutil.which(args.alertmanager):
            print(f"alertmanager: {version(args.alertmanager)}", file=sys.stderr)
            results += await alertmanager_target(args.alertmanager, workdir, args)
        else:
            print(f"skipped Alertmanager: {args.alertmanager} not found", file=sys.stderr)
        sqlite_url = f"sqlite+aiosqlite:///{workdir / 'bench.db'}"
        results += await tocsin_target("Tocsin, SQLite (durable)", sqlite_url, args)
        try:
            async with postgres_database(args.server) as pg_url:
                results += await tocsin_target("Tocsin, PostgreSQL (durable)", pg_url, args)
        except psycopg.OperationalError as exc:
            print(f"skipped PostgreSQL: {exc}", file=sys.stderr)

    print(f"date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}")
    print(f"load: concurrency {args.concurrency}, {args.single} single, {args.batches} batches")
    print()
    print("| target | mode | requests | alerts | seconds | alerts/s |")
    print("|---|---|---:|---:|---:|---:|")
    for r in results:
        print(
            f"| {r.target} | {r.mode} | {r.requests} | {r.alerts} | {r.seconds:.2f} | "
            f"{r.rate:,.0f} |"
        )


if __name__ == "__main__":
    asyncio.run(main())
