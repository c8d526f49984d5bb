"""Trace ingestion through the OTLP/HTTP receiver, and failure isolation over a million spans.

    .venv/bin/python benchmarks/traces.py [--database sqlite|postgresql|both]
                                          [--requests 200] [--spans-per-request 512]
                                          [--concurrency 4] [--gzip]
                                          [--stored 1000000] [--queries 5]
                                          [--server URL]

For each database, on a fresh SQLite file or a fresh PostgreSQL database (created and dropped
here), Tocsin runs as `tocsin serve --no-worker` in its own process, and:

* ingestion: `--requests` protobuf exports of `--spans-per-request` spans each (512 is what
  the SDK's BatchSpanProcessor sends at most per export), posted to `POST /v1/traces` by
  `--concurrency` keep-alive HTTP clients, as many SDK processes would; spans/s from the first
  request to the last answer. Every answer must be 200 without partial success, and the stored
  span count is checked afterwards. The span budget is switched off so that every span is
  stored (with the default budget, spans over 600,000 a minute would be dropped, which is
  faster but not what is measured here).
* isolation: the span table is emptied, `--stored` spans (10-span traces through five
  services, spread over the last two hours, 4 % of the last hour's traces failing in an inner
  service and 1 % in another) are bulk-loaded (executemany on SQLite, COPY on PostgreSQL),
  then `GET /api/v1/traces/isolation` (the default window: the last hour) is timed `--queries`
  times, with and without an entry service. The inner service must be ranked first.

The goal: >= 20,000 spans/s ingested; isolation over 1,000,000 stored spans in < 1 s.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gzip
import os
import platform
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
from harness import free_port, libpq, postgres_database, wait_ready

DEFAULT_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
TOCSIN = str(Path(sys.executable).with_name("tocsin"))
INGEST_GOAL = 20_000
ISOLATION_GOAL = 1.0
COLUMNS = (
    "trace_id",
    "span_id",
    "parent_span_id",
    "service",
    "operation",
    "kind",
    "start_us",
    "duration_us",
    "status_code",
    "error_message",
    "http_status",
    "attributes",
)

# One trace of the synthetic system: (service, operation, kind, parent index, duration ms).
TRACE = (
    ("web", "GET /buy", 2, None, 120),
    ("web", "POST", 3, 0, 100),
    ("checkout", "POST /orders", 2, 1, 95),
    ("checkout", "GET", 3, 2, 10),
    ("inventory", "GET /stock", 2, 3, 8),
    ("checkout", "POST", 3, 2, 70),
    ("payments", "POST /charge", 2, 5, 65),
    ("payments", "POST", 3, 6, 50),
    ("gateway", "POST /authorize", 2, 7, 45),
    ("checkout", "render receipt", 1, 2, 5),
)
GATEWAY_FAILS = (8, 7, 6, 5, 2, 1, 0)
"""Span indexes in error when the gateway fails: the failure propagates up to the root."""
INVENTORY_FAILS = (4, 3)
"""When inventory fails, checkout retries elsewhere: only the call and the callee fail."""


def now_us() -> int:
    return time.time_ns() // 1000


# --- ingestion bodies ---------------------------------------------------------------------


def export_bodies(requests: int, per_request: int, compress: bool) -> list[bytes]:
    """Protobuf exports shaped like an instrumented HTTP service's: one resource, one scope,
    server and client spans with the usual HTTP attributes; one in fifty traces failing."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
    from opentelemetry.proto.resource.v1.resource_pb2 import Resource
    from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

    def text(key: str, value: str) -> KeyValue:
        return KeyValue(key=key, value=AnyValue(string_value=value))

    rng = random.Random(7)
    bodies = []
    start_ns = now_us() * 1000
    for r in range(requests):
        service = TRACE[r % len(TRACE)][0]
        spans = []
        for i in range(per_request):
            _, operation, kind, parent, duration_ms = TRACE[i % len(TRACE)]
            failing = rng.random() < 0.02
            begin = start_ns + (r * per_request + i) * 1000
            spans.append(
                Span(
                    trace_id=rng.randbytes(16),
                    span_id=rng.randbytes(8),
                    parent_span_id=rng.randbytes(8) if parent is not None else b"",
                    name=operation,
                    kind=kind,  # type: ignore[arg-type]
                    start_time_unix_nano=begin,
                    end_time_unix_nano=begin + duration_ms * 1_000_000,
                    attributes=[
                        text("http.request.method", operation.split()[0]),
                        text("http.route", operation.split()[-1]),
                        text("url.full", f"http://{service}.internal{operation.split()[-1]}"),
                        text("server.address", f"{service}.internal"),
                        text("network.protocol.version", "1.1"),
                        text("user_agent.original", "python-httpx/0.27"),
                        KeyValue(
                            key="http.response.status_code",
                            value=AnyValue(int_value=500 if failing else 200),
                        ),
                    ],
                    status=Status(code=Status.STATUS_CODE_ERROR, message="upstream failed")
                    if failing
                    else Status(code=Status.STATUS_CODE_UNSET),
                )
            )
        request = ExportTraceServiceRequest(
            resource_spans=[
                ResourceSpans(
                    resource=Resource(
                        attributes=[
                            text("service.name", service),
                            text("telemetry.sdk.language", "python"),
                            text("host.name", "bench"),
                        ]
                    ),
                    scope_spans=[ScopeSpans(spans=spans)],
                )
            ]
        )
        body = request.SerializeToString()
        bodies.append(gzip.compress(body, 6) if compress else body)
    return bodies


async def post_all(url: str, bodies: list[bytes], headers: dict[str, str], clients: int) -> float:
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(limits=limits, timeout=120) as client:

        async def exporter() -> None:
            while not queue.empty():
                body = queue.get_nowait()
                response = await client.post(url, content=body, headers=headers)
                if response.status_code != 200 or response.content:
                    # An empty ExportTraceServiceResponse: no partial success.
                    raise RuntimeError(f"{url}: {response.status_code} {response.content[:200]!r}")

        started = time.perf_counter()
        await asyncio.gather(*(exporter() for _ in range(clients)))
        return time.perf_counter() - started


# --- isolation data -----------------------------------------------------------------------


def stored_rows(total: int) -> Iterator[tuple[Any, ...]]:
    """`total` spans in 10-span traces over the last two hours; failures in the last hour."""
    rng = random.Random(11)
    end = now_us() - 1_000_000
    hour = 3600 * 1_000_000
    traces = total // len(TRACE)
    for n in range(traces):
        trace_id = f"{n + 1:032x}"
        begin = end - 2 * hour + (2 * hour * n) // traces
        current = begin >= end - hour
        roll = rng.random()
        failing: tuple[int, ...] = ()
        if current and roll < 0.04:
            failing = GATEWAY_FAILS
        elif current and roll < 0.05:
            failing = INVENTORY_FAILS
        for i, (service, operation, kind, parent, duration_ms) in enumerate(TRACE):
            error = i in failing
            slow = 3 if error and service == "gateway" else 1
            yield (
                trace_id,
                f"{n * 16 + i + 1:016x}",
                None if parent is None else f"{n * 16 + parent + 1:016x}",
                service,
                operation,
                kind,
                begin + i * 1000,
                duration_ms * 1000 * slow + rng.randrange(1000),
                2 if error else 0,
                f"{service} failed: connection reset" if error else None,
                (502 if i < 8 else 500) if error else (200 if kind in (2, 3) else None),
                None,
            )


def load_sqlite(path: str, total: int) -> None:
    db = sqlite3.connect(path)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("DELETE FROM trace_spans")
        placeholders = ", ".join("?" for _ in COLUMNS)
        db.executemany(
            f"INSERT INTO trace_spans ({', '.join(COLUMNS)}) VALUES ({placeholders})",
            stored_rows(total),
        )
        db.commit()
        db.execute("ANALYZE")
    finally:
        db.close()


def load_postgresql(url: str, total: int) -> None:
    with psycopg.connect(libpq(url)) as conn:
        conn.execute("TRUNCATE trace_spans")
        with conn.cursor() as cursor:
            copy_sql = f"COPY trace_spans ({', '.join(COLUMNS)}) FROM STDIN"
            with cursor.copy(copy_sql) as copy:
                for row in stored_rows(total):
                    copy.write_row(row)
        conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE trace_spans")


# --- a Tocsin under test ------------------------------------------------------------------


async def prepare(database_url: str) -> tuple[str, str]:
    """Schema, a responder with an export-only token and a read token."""
    from tocsin.audit.service import Actor
    from tocsin.auth import service as auth
    from tocsin.auth.permissions import Permission, Role
    from tocsin.cli import migrate
    from tocsin.config import load_settings
    from tocsin.db.engine import make_engine, make_sessionmaker

    settings = load_settings(database_url=database_url)
    await migrate(settings)
    engine = make_engine(settings)
    try:
        async with make_sessionmaker(engine)() as session:
            actor = Actor.system("benchmark")
            user = await auth.create_user(
                session, actor, email="bench@example.com", role=Role.RESPONDER
            )
            write = await auth.create_token(
                session,
                actor,
                user=user,
                name="otlp",
                scopes=frozenset({Permission.TRACES_WRITE}),
            )
            read = await auth.create_token(
                session, actor, user=user, name="read", scopes=frozenset({Permission.TRACES_READ})
            )
            return write.secret, read.secret
    finally:
        await engine.dispose()


@contextlib.contextmanager
def tocsin_server(database_url: str, port: int) -> Iterator[subprocess.Popen[bytes]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOCSIN_")}
    env |= {
        "TOCSIN_DATABASE_URL": database_url,
        "TOCSIN_LOG_LEVEL": "warning",
        "TOCSIN_TRACES_BUDGET_SPANS_PER_MINUTE": "0",
    }
    argv = [TOCSIN, "serve", "--no-worker", "--host", "127.0.0.1", "--port", str(port)]
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


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux), which a busy machine does not
    inflate the way it inflates wall-clock time."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def count_spans(database_url: str) -> int:
    if database_url.startswith("sqlite"):
        with contextlib.closing(sqlite3.connect(database_url.split("///", 1)[1])) as db:
            return int(db.execute("SELECT count(*) FROM trace_spans").fetchone()[0])
    with psycopg.connect(libpq(database_url)) as conn:
        row = conn.execute("SELECT count(*) FROM trace_spans").fetchone()
        return int(row[0]) if row else 0


async def timed_isolation(
    base: str, token: str, queries: int, params: dict[str, str]
) -> tuple[list[float], dict[str, Any]]:
    headers = {"Authorization": f"Bearer {token}"}
    times = []
    body: dict[str, Any] = {}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=120) as client:
        for _ in range(queries + 1):
            started = time.perf_counter()
            response = await client.get("/api/v1/traces/isolation", params=params)
            elapsed = time.perf_counter() - started
            if response.status_code != 200:
                raise RuntimeError(f"isolation: {response.status_code} {response.text[:300]}")
            body = response.json()
            times.append(elapsed)
    return times[1:], body  # the first query warms the server's caches and connections


async def run(label: str, database_url: str, args: argparse.Namespace) -> list[str]:
    write, read = await prepare(database_url)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    rows: list[str] = []
    bodies = export_bodies(args.requests, args.spans_per_request, args.gzip)
    warm = export_bodies(8, args.spans_per_request, args.gzip)
    headers = {"Authorization": f"Bearer {write}", "Content-Type": "application/x-protobuf"}
    if args.gzip:
        headers["Content-Encoding"] = "gzip"
    with tocsin_server(database_url, port) as child:
        await wait_ready(f"{base}/healthz", child, tries=600)
        await post_all(f"{base}/v1/traces", warm, headers, args.concurrency)
        cpu_before = cpu_seconds(child.pid)
        seconds = await post_all(f"{base}/v1/traces", bodies, headers, args.concurrency)
        cpu = cpu_seconds(child.pid) - cpu_before
        spans = args.requests * args.spans_per_request
        stored = count_spans(database_url) - 8 * args.spans_per_request
        if stored != spans:
            raise RuntimeError(f"{label}: sent {spans} spans, {stored} stored")
        rate = spans / seconds
        encoding = "protobuf+gzip" if args.gzip else "protobuf"
        rows.append(
            f"| {label} | ingest {encoding}, {args.spans_per_request}/request, "
            f"{args.concurrency} clients | {spans:,} spans | {seconds:.2f} s | "
            f"{rate:,.0f} spans/s ({spans / cpu:,.0f} per server CPU-second) | "
            f"{'met' if rate >= INGEST_GOAL else 'missed'} |"
        )
        print(rows[-1], flush=True)

        started = time.perf_counter()
        if database_url.startswith("sqlite"):
            load_sqlite(database_url.split("///", 1)[1], args.stored)
        else:
            load_postgresql(database_url, args.stored)
        loaded = time.perf_counter() - started
        print(f"  ({label}: {args.stored:,} spans bulk-loaded in {loaded:.1f} s)", flush=True)
        for params in ({}, {"entry": "web"}):
            times, body = await timed_isolation(base, read, args.queries, params)
            top = body["origins"][0] if body["origins"] else {}
            if top.get("service") != "gateway":
                raise RuntimeError(f"{label}: isolation ranked {top.get('service')} first")
            worst = max(times)
            what = "isolation, last hour" + (f", entry {params['entry']}" if params else "")
            rows.append(
                f"| {label} | {what} | {args.stored:,} stored, "
                f"{body['error_spans']:,} error spans in window | "
                f"median {statistics.median(times):.3f} s, max {worst:.3f} s | "
                f"{len(times)} queries | {'met' if worst < ISOLATION_GOAL else 'missed'} |"
            )
            print(rows[-1], flush=True)
    return rows


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--spans-per-request", type=int, default=512)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument(
        "--gzip", action="store_true", help="gzip the exports, as the Collector does"
    )
    parser.add_argument("--stored", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=5)
    parser.add_argument("--server", default=DEFAULT_SERVER, help="PostgreSQL server URL")
    args = parser.parse_args()
    print(
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.machine()}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    print("| database | what | size | time | figure | goal |")
    print("|---|---|---|---|---|---|")
    rows: list[str] = []
    if args.database in {"sqlite", "both"}:
        with tempfile.TemporaryDirectory() as folder:
            rows += await run("SQLite", f"sqlite+aiosqlite:///{folder}/bench.db", args)
    if args.database in {"postgresql", "both"}:
        async with postgres_database(args.server) as url:
            rows += await run("PostgreSQL", url, args)
    print()
    print("\n".join(rows))
    if any(row.endswith("missed |") for row in rows):
        sys.exit(1)


if __name__ == "__main__":
    asyncio.run(main())
