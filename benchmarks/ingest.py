"""Alert ingestion throughput: Tocsin (SQLite, PostgreSQL) beside Prometheus Alertmanager.

    apt-get install -y wrk prometheus-alertmanager
    .venv/bin/python benchmarks/ingest.py [--seconds 10] [--connections 16] [--processes 1]
                                          [--server URL] [--alertmanager PATH] [--no-floor]

Every target receives the same bodies, from the same load generator, at the same endpoint
shape: Alertmanager's `POST /api/v2/alerts` (Tocsin serves it too, with the integration key
as bearer token). Two modes, each for `--seconds`:

* one alert per request, each a new alert;
* 64-alert batches, each request 64 new alerts.

The load generator is wrk (C, one thread) with a Lua script that builds each body, so the
generator costs little CPU next to the servers. Tocsin runs as `tocsin serve --no-worker` in
its own process(es), on a fresh SQLite file and on a fresh PostgreSQL database (created and
dropped here); each accepted request has been merged and committed (durable) before its
answer. Alertmanager keeps alerts in memory only. Every answer must be 200. Besides alerts
per second (wall clock), the table gives alerts per CPU-second of the server's processes
(user + system time read from /proc), which says more on a shared machine.

A third target, `floor_server.py`, is a yardstick rather than a peer: a bare Python server
(no framework, no validation) that stores each alert durably in SQLite, to tell the cost of
Python and of durability apart from the cost of Tocsin's own layers.

With `--merge`, two more rows per database measure Tocsin's own work behind the HTTP layer,
in this process: the same bodies parsed (`parse_api_v2`) and merged (`write_many`) in groups
as large as the group commit allows (`MAX_GROUP_ALERTS`), one commit per group, for the same
time. Any design that keeps Tocsin's merge rules, one that answers before merging (a journal
written first) included, can sustain no more than this.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import re
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

import psycopg
from harness import free_port, postgres_database, wait_ready

DEFAULT_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
TOCSIN = str(Path(sys.executable).with_name("tocsin"))
BATCH = 64
WARM_SECONDS = 2
TICKS = os.sysconf("SC_CLK_TCK")

LUA = """
local count = 0
function setup(thread)
  thread:set("tag", tostring(math.random(1, 1000000000)))
end
function init(args)
  batch = tonumber(args[1])
  run = args[2]
  token = args[3]
end
function request()
  count = count + 1
  local alerts = {}
  for i = 1, batch do
    alerts[i] = string.format(
      '{"labels":{"alertname":"BenchAlert","job":"bench","instance":"%s-%s-%d-%d",'
      .. '"severity":"warning"},"annotations":{"summary":"bench alert %d/%d"},'
      .. '"startsAt":"%s"}', run, tag, count, i, count, i, START)
  end
  local headers = {["Content-Type"] = "application/json"}
  if token ~= nil and token ~= "" then headers["Authorization"] = "Bearer " .. token end
  return wrk.format("POST", nil, headers, "[" .. table.concat(alerts, ",") .. "]")
end
"""


@dataclass(frozen=True)
class Result:
    target: str
    mode: str
    requests: int
    alerts: int
    seconds: float
    cpu_seconds: float

    @property
    def rate(self) -> float:
        return self.alerts / self.seconds

    @property
    def per_cpu(self) -> float:
        return self.alerts / self.cpu_seconds if self.cpu_seconds else float("nan")


def cpu_seconds(pid: int) -> float:
    """User + system time of a process and of its live children (server workers)."""
    total = 0.0
    pids = [pid]
    with contextlib.suppress(OSError):
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        pids += [int(child) for child in children]
    for each in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{each}/stat").read_text().rpartition(")")[2].split()
            total += (int(fields[11]) + int(fields[12])) / TICKS
    return total


def wrk(url: str, script: Path, args: argparse.Namespace, *extra: str, seconds: int) -> int:
    """Run wrk; the number of requests answered, all of them 200."""
    argv = ["wrk", "-t1", f"-c{args.connections}", f"-d{seconds}s", "--timeout", "30s"]
    argv += ["-s", str(script), url]
    out = subprocess.run([*argv, "--", *extra], capture_output=True, text=True, check=True)
    if "Non-2xx" in out.stdout or "Socket errors" in out.stdout:
        raise RuntimeError(f"{url}: not every answer was 200\n{out.stdout}")
    found = re.search(r"(\d+) requests in", out.stdout)
    if found is None:
        raise RuntimeError(f"wrk gave no request count:\n{out.stdout}{out.stderr}")
    return int(found.group(1))


async def measure(
    target: str, url: str, token: str, server_pid: int, args: argparse.Namespace
) -> list[Result]:
    script = Path(args.workdir) / "ingest.lua"
    start = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    script.write_text(f'local START = "{start}"\n' + LUA)
    run = uuid.uuid4().hex[:8]
    results = []
    await asyncio.to_thread(wrk, url, script, args, "1", f"warm-{run}", token, seconds=WARM_SECONDS)
    for batch, mode in ((1, "1 alert/request"), (BATCH, f"{BATCH} alerts/request")):
        cpu = cpu_seconds(server_pid)
        started = asyncio.get_running_loop().time()
        requests = await asyncio.to_thread(
            wrk, url, script, args, str(batch), f"{batch}-{run}", token, seconds=args.seconds
        )
        elapsed = asyncio.get_running_loop().time() - started
        used = cpu_seconds(server_pid) - cpu
        results.append(Result(target, mode, requests, requests * batch, elapsed, used))
    return results


# --- targets ---------------------------------------------------------------------------------


def bodies(run: str, batch: int, count: int, start: str) -> list[list[dict[str, object]]]:
    """`count` bodies shaped as the Lua script builds them."""
    return [
        [
            {
                "labels": {
                    "alertname": "BenchAlert",
                    "job": "bench",
                    "instance": f"{run}-{n}-{i}",
                    "severity": "warning",
                },
                "annotations": {"summary": f"bench alert {n}/{i}"},
                "startsAt": start,
            }
            for i in range(1, batch + 1)
        ]
        for n in range(count)
    ]


async def merge_target(target: str, database_url: str, args: argparse.Namespace) -> list[Result]:
    """Parsing and merging alone, no HTTP: the ceiling of anything built on Tocsin's merge."""

    from tocsin.alerts.formats.alertmanager import parse_api_v2
    from tocsin.alerts.service.group_commit import MAX_GROUP_ALERTS
    from tocsin.alerts.service.ingestion import Post, write_many
    from tocsin.alerts.service.integrations import sender_for_key
    from tocsin.clock import utcnow
    from tocsin.config import load_settings
    from tocsin.db.engine import make_engine, make_sessionmaker

    key = await prepare_tocsin(database_url)
    engine = make_engine(load_settings(database_url=database_url))
    sessionmaker = make_sessionmaker(engine)
    start = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    results = []
    try:
        async with sessionmaker() as session:
            sender = await sender_for_key(session, key)
        assert sender is not None
        for batch, mode in ((1, "1 alert/request"), (BATCH, f"{BATCH} alerts/request")):
            per_group = MAX_GROUP_ALERTS // batch
            requests = 0
            cpu, began = time.process_time(), time.perf_counter()
            while time.perf_counter() - began < args.seconds:
                group = bodies(f"merge-{batch}-{requests}", batch, per_group, start)
                now = utcnow()
                posts = [Post(sender, parse_api_v2(body, now=now)) for body in group]
                async with sessionmaker() as session:
                    await write_many(session, posts, now)
                    await session.commit()
                requests += per_group
            elapsed, used = time.perf_counter() - began, time.process_time() - cpu
            results.append(Result(target, mode, requests, requests * batch, elapsed, used))
    finally:
        await engine.dispose()
    return results


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
    if args.processes > 1:
        argv += ["--processes", str(args.processes)]
    with process(argv, env) as child:
        base = f"http://127.0.0.1:{port}"
        await wait_ready(f"{base}/healthz", child)
        return await measure(target, f"{base}/api/v2/alerts", key, child.pid, args)


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
        return await measure("Alertmanager (memory)", f"{base}/api/v2/alerts", "", child.pid, args)


async def floor_target(
    workdir: Path, args: argparse.Namespace, *, journal: bool = False
) -> list[Result]:
    """The bare Python yardstick (`floor_server.py`): what any Python design could reach;
    with `journal`, what one could that answers before merging."""
    port = free_port()
    server = str(Path(__file__).with_name("floor_server.py"))
    argv = [sys.executable, server, str(port), str(workdir / "floor.db")]
    target = "bare Python floor, SQLite"
    if journal:
        argv = [*argv[:-1], str(workdir / "floor.journal"), "--journal"]
        target = "bare Python floor, journal only (no merge)"
    with process(argv) as child:
        base = f"http://127.0.0.1:{port}"
        await wait_listening(port, child)
        return await measure(target, f"{base}/api/v2/alerts", "", child.pid, args)


async def wait_listening(port: int, child: subprocess.Popen[bytes]) -> None:
    for _ in range(200):
        if child.poll() is not None:
            raise RuntimeError("the floor server exited")
        with contextlib.suppress(OSError):
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        await asyncio.sleep(0.05)
    raise RuntimeError("the floor server did not listen")


def version(binary: str) -> str:
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, check=False)
    return (out.stdout or out.stderr).splitlines()[0] if (out.stdout or out.stderr) else "?"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=10, help="length of each mode")
    parser.add_argument("--connections", type=int, default=16, help="keep-alive connections")
    parser.add_argument("--processes", type=int, default=1, help="Tocsin server processes")
    parser.add_argument("--server", default=DEFAULT_SERVER, help="PostgreSQL server URL")
    parser.add_argument("--alertmanager", default="/usr/bin/prometheus-alertmanager")
    parser.add_argument(
        "--no-floor", dest="floor", action="store_false", help="skip the bare Python yardstick"
    )
    parser.add_argument(
        "--merge", action="store_true", help="also measure parsing and merging alone (no HTTP)"
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed: apt-get install -y wrk")

    results: list[Result] = []
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        args.workdir = tmp
        if shutil.which(args.alertmanager):
            print(f"alertmanager: {version(args.alertmanager)}", file=sys.stderr)
            results += await alertmanager_target(args.alertmanager, workdir, args)
        else:
            print(f"skipped Alertmanager: {args.alertmanager} not found", file=sys.stderr)
        if args.floor:
            results += await floor_target(workdir, args)
            if args.merge:
                results += await floor_target(workdir, args, journal=True)
        sqlite_url = f"sqlite+aiosqlite:///{workdir / 'bench.db'}"
        results += await tocsin_target("Tocsin, SQLite (durable)", sqlite_url, args)
        if args.merge:
            merge_url = f"sqlite+aiosqlite:///{workdir / 'merge.db'}"
            results += await merge_target("Tocsin, SQLite: parse + merge alone", merge_url, args)
        try:
            async with postgres_database(args.server) as pg_url:
                results += await tocsin_target("Tocsin, PostgreSQL (durable)", pg_url, args)
            if args.merge:
                async with postgres_database(args.server) as pg_url:
                    results += await merge_target(
                        "Tocsin, PostgreSQL: parse + merge alone", pg_url, args
                    )
        except psycopg.OperationalError as exc:
            print(f"skipped PostgreSQL: {exc}", file=sys.stderr)

    print(f"date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}")
    print(f"load average: {os.getloadavg()[0]:.1f} (1 min, at the end)")
    print(
        f"load: wrk, {args.connections} connections, {args.seconds} s per mode, "
        f"Tocsin processes: {args.processes}"
    )
    print()
    print("| target | mode | requests | alerts | seconds | alerts/s | alerts/CPU-s |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for r in results:
        print(
            f"| {r.target} | {r.mode} | {r.requests} | {r.alerts} | {r.seconds:.2f} | "
            f"{r.rate:,.0f} | {r.per_cpu:,.0f} |"
        )


if __name__ == "__main__":
    asyncio.run(main())
