"""Alert storm over a dependency graph: storm compression and alert-to-page latency.

    .venv/bin/python benchmarks/storm.py [--alerts 10000] [--seconds 60] [--probes 120]
                                         [--db sqlite|postgresql] [--server URL]
                                         [--workers N] [--backlog] [--history N]

The graph is the OpenTelemetry demo's service topology (its traced calls plus the
asynchronous and infrastructure edges of its architecture page), read from
`../shared/data/otel-demo-topology/topology.json`, deployed as three independent cells
(`eu-`, `us-`, `ap-`): 72 services. In each cell one dependency fails (the root): the
product database (`astronomy-db`), the feature-flag service (`flagd`), the cart cache
(`valkey-cart`). The root fires one critical alert on three instances; then `--alerts`
alerts are spread over every service that depends on a root, directly or not, with rule
names and severities of the awesome-prometheus-alerts collection
(`../shared/data/awesome-prometheus-alerts/`) for the kind of service it is. The cells fail
one after another across the window.

Everything is sent as an Alertmanager receiver sends it: webhook notifications (`version`
"4", up to 5 alerts of one rule and service each) to `POST /api/v1/ingest/alertmanager` of a
`tocsin serve` process (uvicorn, with its in-process worker) on a fresh database; one
integration per service. Alongside the storm, `--probes` alerts on an unrelated service, each
of a rule of its own, must each page; they measure latency under the storm's load.
`--workers N` runs `tocsin serve --no-worker` beside N `tocsin worker` processes instead.
`--backlog` measures the decisions alone: the planned webhooks are stored first (through the
API, in this process, no worker running), then one worker decides the whole backlog and the
alerts decided per CPU-second of this process are reported.
`--history N` stores N resolved alerts of the past month (with their history rows) on the
storm's services before the storm, as on a database in use for a while: a read that grows
with every alert ever stored would show as a slower storm.

Measured:

* compression: pages opened for storm services (the probes excluded); recall is the share of
  roots with a page of their own; the goal is recall 100 % and pages <= 2 x roots.
* latency: for each probe, from the moment its webhook was answered (accepted, stored) to the
  end of the run of its `oncall.page` job (the page opened and its notifications queued),
  p50 / p99 / max. The storm's services have a group wait (`--group-wait`, 30 s as in
  Alertmanager, set by each cell's team correlation rule) so an alert that arrives before its
  cause is decided again once the cause is known; the probes have none, so nothing needs to
  be subtracted from their latency. Goal p99 < 1 s.
* the decisions taken for the storm's alerts, and how long the pipeline took to drain.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import hashlib
import itertools
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import yaml
from harness import free_port, postgres_database, wait_ready

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"
DEFAULT_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
TOCSIN = str(Path(sys.executable).with_name("tocsin"))
CELLS = ("eu", "us", "ap")
ROOTS = {"eu": "astronomy-db", "us": "flagd", "ap": "valkey-cart"}
ROOT_RULE = {
    "astronomy-db": "PostgresqlDown",
    "flagd": "BlackboxProbeFailed",
    "valkey-cart": "RedisDown",
}
RULE_FILES = {
    "astronomy-db": "postgresql",
    "valkey-cart": "redis",
    "kafka": "kafka",
    "frontend-proxy": "envoy",
}
APP_RULES = ("blackbox", "golang", "kubernetes")
PROBE = "probe"
BATCH = 5
CONSUMES = "TCP consume"


# --- the graph and the alerts ----------------------------------------------------------------


def topology(path: Path) -> dict[str, set[str]]:
    """service -> the services it depends on."""
    raw = json.loads(path.read_text())
    deps: dict[str, set[str]] = defaultdict(set)
    for name in raw["services"]:
        deps[name]
    for parent, child in raw["sync_trace_edges_parent_to_child"]:
        deps[parent].add(child)
        deps[child]
    for parent, child, how in raw["async_or_infra_edges_from_architecture_doc"]:
        for caller in parent.split("|"):
            if how == CONSUMES:  # a consumer depends on the broker it reads from
                deps[child].add(caller)
                deps[caller]
            else:
                deps[caller].add(child)
                deps[child]
    return dict(deps)


def dependents(deps: dict[str, set[str]], root: str) -> set[str]:
    found: set[str] = set()
    frontier = [root]
    while frontier:
        node = frontier.pop()
        for name, needs in deps.items():
            if node in needs and name not in found:
                found.add(name)
                frontier.append(name)
    return found


@functools.cache
def rules(kind: str) -> list[tuple[str, str]]:
    """(alert name, severity) of every rule of one technology in the collection."""
    out = []
    for file in sorted((DATA / "awesome-prometheus-alerts" / "rules" / kind).glob("*.yml")):
        for group in (yaml.safe_load(file.read_text()) or {}).get("groups", []):
            for rule in group.get("rules", []):
                if "alert" in rule:
                    out.append((rule["alert"], rule.get("labels", {}).get("severity", "warning")))
    return out


def rules_for(service: str) -> list[tuple[str, str]]:
    if service in RULE_FILES:
        return rules(RULE_FILES[service])
    return [r for kind in APP_RULES for r in rules(kind)]


@dataclass
class Send:
    at: float
    """seconds after the start"""
    service: str
    alerts: list[dict[str, Any]]
    probe: str | None = None


def alert(rule: str, severity: str, instance: str, summary: str, now: str) -> dict[str, Any]:
    labels = {"alertname": rule, "severity": severity, "instance": instance, "job": "storm"}
    digest = hashlib.sha256(json.dumps(labels, sort_keys=True).encode()).hexdigest()[:16]
    return {
        "status": "firing",
        "labels": labels,
        "annotations": {"summary": summary},
        "startsAt": now,
        "fingerprint": digest,
    }


def plan(
    deps: dict[str, set[str]], total: int, seconds: float, probes: int, seed: int
) -> tuple[list[Send], dict[str, set[str]]]:
    """Every webhook to send, in time order, and each cell's affected services."""
    rng = random.Random(seed)
    now = datetime.now(UTC).isoformat()
    sends: list[Send] = []
    affected = {cell: {f"{cell}-{s}" for s in dependents(deps, ROOTS[cell])} for cell in CELLS}
    slice_ = seconds / len(CELLS)
    per_cell = [total // len(CELLS) + (1 if i < total % len(CELLS) else 0) for i in range(3)]
    for index, cell in enumerate(CELLS):
        start = index * slice_
        root = f"{cell}-{ROOTS[cell]}"
        rule = ROOT_RULE[ROOTS[cell]]
        sends.append(
            Send(
                start,
                root,
                [
                    alert(rule, "critical", f"{root}-{n}", f"{rule} on {root}", now)
                    for n in range(3)
                ],
            )
        )
        names = sorted(affected[cell])
        pending: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        for n in range(per_cell[index]):
            service = rng.choice(names)
            name, severity = rng.choice(rules_for(service.split("-", 1)[1]))
            pending[(service, name)].append(
                alert(name, severity, f"{service}-pod-{n}", f"{name} on {service}", now)
            )
        batches = [
            (service, group[i : i + BATCH])
            for (service, _), group in pending.items()
            for i in range(0, len(group), BATCH)
        ]
        rng.shuffle(batches)
        step = (slice_ - 0.5) / max(len(batches), 1)
        for i, (service, group) in enumerate(batches):
            sends.append(Send(start + 0.5 + i * step, service, group))
    for n in range(probes):
        name = f"Probe{n:04d}"
        at = (n + 0.5) * seconds / probes
        sends.append(Send(at, PROBE, [alert(name, "critical", "probe-0", name, now)], probe=name))
    sends.sort(key=lambda s: s.at)
    return sends, affected


def webhook(group: list[dict[str, Any]]) -> dict[str, Any]:
    name = group[0]["labels"]["alertname"]
    return {
        "version": "4",
        "status": "firing",
        "receiver": "tocsin",
        "groupKey": f'{{}}:{{alertname="{name}"}}',
        "groupLabels": {"alertname": name},
        "commonLabels": {"alertname": name, "job": "storm"},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.invalid:9093",
        "alerts": group,
    }


# --- the server ------------------------------------------------------------------------------


async def prepare(database_url: str, deps: dict[str, set[str]], group_wait: int) -> dict[str, str]:
    """Schema, the three cells (a team each, whose correlation rule sets the group wait) and
    the probe service (no group wait), one integration per service; service -> key."""
    from tocsin.alerts import service as alerts
    from tocsin.alerts.normalized import SourceKind
    from tocsin.alerts.schemas import CorrelationRuleIn, IntegrationCreate
    from tocsin.alerts.service import settings as pipeline_settings
    from tocsin.audit.service import Actor
    from tocsin.catalog import service as catalog
    from tocsin.catalog.schemas import DependencyIn, ServiceCreate, TeamCreate
    from tocsin.cli import migrate
    from tocsin.config import load_settings
    from tocsin.db.engine import make_engine, make_sessionmaker

    settings = load_settings(database_url=database_url)
    await migrate(settings)
    engine = make_engine(settings)
    keys: dict[str, str] = {}
    actor = Actor.system("benchmark")
    done: set[str] = set()

    def ready() -> list[str]:
        return sorted(s for s in deps if s not in done and deps[s] <= done)

    try:
        async with make_sessionmaker(engine)() as session:
            for cell in CELLS:
                await catalog.create_team(
                    session, actor, TeamCreate(slug=f"cell-{cell}", name=f"Cell {cell}")
                )
                await pipeline_settings.put_rule(
                    session,
                    actor,
                    CorrelationRuleIn(team=f"cell-{cell}", group_wait_seconds=group_wait),
                )
            while len(done) < len(deps):
                batch = ready()
                if not batch:
                    raise RuntimeError("the topology has a cycle")
                for name in batch:
                    for cell in CELLS:
                        await catalog.create_service(
                            session,
                            actor,
                            ServiceCreate(
                                slug=f"{cell}-{name}",
                                name=f"{name} ({cell})",
                                owner_team=f"cell-{cell}",
                                dependencies=[
                                    DependencyIn(service=f"{cell}-{d}") for d in sorted(deps[name])
                                ],
                            ),
                        )
                    done.add(name)
            await catalog.create_service(session, actor, ServiceCreate(slug=PROBE, name="Probe"))
            for slug in [f"{c}-{s}" for c in CELLS for s in deps] + [PROBE]:
                created = await alerts.create_integration(
                    session,
                    actor,
                    IntegrationCreate(
                        service=slug, kind=SourceKind.ALERTMANAGER, rate_limit_per_minute=10**6
                    ),
                )
                keys[slug] = created.key
    finally:
        await engine.dispose()
    return keys


async def store_history(database_url: str, count: int, seed: int) -> None:
    """`count` resolved alerts of the last 30 days on the storm's services, each with its
    created and resolved history rows: a database that has been in use for a while, so that a
    read that grows with every alert ever stored shows in the storm's latency."""
    import sqlalchemy as sa

    from tocsin.alerts.models import Alert, AlertEvent, Integration
    from tocsin.catalog.models import Service
    from tocsin.config import load_settings
    from tocsin.db.engine import make_engine, make_sessionmaker

    rng = random.Random(seed)
    now = datetime.now(UTC)
    engine = make_engine(load_settings(database_url=database_url))
    try:
        async with make_sessionmaker(engine)() as session:
            senders = (
                await session.execute(
                    sa.select(Integration.id, Integration.service_id)
                    .join(Service, Service.id == Integration.service_id)
                    .where(Service.slug != PROBE)
                )
            ).all()
            for first in range(0, count, 5000):
                rows = []
                for n in range(first, min(count, first + 5000)):
                    integration_id, service_id = rng.choice(senders)
                    starts = now - timedelta(days=30 * rng.random())
                    rows.append(
                        {
                            "integration_id": integration_id,
                            "service_id": service_id,
                            "dedup_key": f"{n:016x}",
                            "dedup_basis": "labels",
                            "fingerprint": f"{n:016x}",
                            "source": "alertmanager",
                            "wire_format": "alertmanager-api-v2",
                            "status": "resolved",
                            "labels": {"alertname": f"Old{n % 97}", "instance": f"old-{n}"},
                            "annotations": {"summary": "an alert of the past month"},
                            "details": {},
                            "group_labels": {},
                            "summary": "an alert of the past month",
                            "severity": rng.choice(["warning", "critical"]),
                            "starts_at": starts,
                            "ends_at": starts + timedelta(minutes=rng.randint(1, 120)),
                            "first_received_at": starts,
                            "last_received_at": starts,
                            "decision": "grouped",
                            "decided_at": starts,
                        }
                    )
                ids = (
                    (
                        await session.execute(
                            sa.insert(Alert).returning(Alert.id, sort_by_parameter_order=True), rows
                        )
                    )
                    .scalars()
                    .all()
                )
                await session.execute(
                    sa.insert(AlertEvent),
                    [
                        {"alert_id": i, "kind": kind, "status": status, "at": row[at], "data": {}}
                        for i, row in zip(ids, rows, strict=True)
                        for kind, status, at in (
                            ("created", "firing", "starts_at"),
                            ("resolved", "resolved", "ends_at"),
                        )
                    ],
                )
                await session.commit()
    finally:
        await engine.dispose()


@contextlib.contextmanager
def serve(
    database_url: str, port: int, log: Path, workers: int
) -> Iterator[list[subprocess.Popen[bytes]]]:
    """`tocsin serve` with its in-process worker, or (workers > 0) `tocsin serve --no-worker`
    beside that many `tocsin worker` processes; warnings and errors go to `log`. Yields the
    server first, then the workers."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOCSIN_")}
    env |= {"TOCSIN_DATABASE_URL": database_url, "TOCSIN_LOG_LEVEL": "warning"}
    argv = [TOCSIN, "serve", "--host", "127.0.0.1", "--port", str(port)]
    commands = [argv + (["--no-worker"] if workers else [])] + [[TOCSIN, "worker"]] * workers
    children = []
    with log.open("ab") as out:
        for command in commands:
            children.append(
                subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
            )
    try:
        yield children
    finally:
        for child in children:
            child.terminate()
        for child in children:
            try:
                child.wait(10)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()


@contextlib.asynccontextmanager
async def database(kind: str, server: str, keep: Path | None) -> AsyncIterator[str]:
    if kind == "sqlite" and keep is not None:
        yield f"sqlite+aiosqlite:///{keep}"
        return
    if kind == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            yield f"sqlite+aiosqlite:///{tmp}/storm.db"
        return
    async with postgres_database(server, prefix="tocsin_storm") as url:
        yield url


# --- the run ---------------------------------------------------------------------------------


@dataclass
class Sent:
    accepted: dict[str, datetime] = field(default_factory=dict)
    """probe name -> when its webhook was answered"""
    lag: list[float] = field(default_factory=list)
    """how late each send left against its plan, in seconds"""
    alerts: int = 0
    seconds: float = 0.0


async def blast(base: str, keys: dict[str, str], sends: list[Send], concurrency: int) -> Sent:
    sent = Sent()
    gate = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as client:

        async def one(item: Send) -> None:
            async with gate:
                response = await client.post(
                    "/api/v1/ingest/alertmanager",
                    json=webhook(item.alerts),
                    headers={"Authorization": f"Bearer {keys[item.service]}"},
                )
            if response.status_code != 202 and response.status_code != 200:
                raise RuntimeError(f"{response.status_code}: {response.text[:300]}")
            if item.probe:
                sent.accepted[item.probe] = datetime.now(UTC)
            sent.alerts += len(item.alerts)

        started = time.perf_counter()
        tasks = []
        for item in sends:
            delay = item.at - (time.perf_counter() - started)
            if delay > 0:
                await asyncio.sleep(delay)
            sent.lag.append(max(0.0, -delay))
            tasks.append(asyncio.create_task(one(item)))
        await asyncio.gather(*tasks)
        sent.seconds = time.perf_counter() - started
    return sent


async def drain(database_url: str, limit: float) -> float:
    """Wait until no pipeline or paging job is left, group waits included; seconds waited."""
    import sqlalchemy as sa

    from tocsin.config import load_settings
    from tocsin.db.engine import make_engine, make_sessionmaker
    from tocsin.jobs.models import Job

    engine = make_engine(load_settings(database_url=database_url))
    started = time.perf_counter()
    try:
        while time.perf_counter() - started < limit:
            async with make_sessionmaker(engine)() as session:
                left = await session.scalar(
                    sa.select(sa.func.count())
                    .select_from(Job)
                    .where(
                        Job.kind.in_(["alerts.process", "alerts.reevaluate", "oncall.page"]),
                        Job.status.in_(["queued", "running"]),
                    )
                )
            if not left:
                return time.perf_counter() - started
            await asyncio.sleep(0.5)
    finally:
        await engine.dispose()
    raise RuntimeError(f"jobs still pending after {limit} s")


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(p / 100 * len(ordered)) - 1))]


async def collect(
    database_url: str, sent: Sent, affected: dict[str, set[str]], since: datetime
) -> dict[str, Any]:
    """What the storm's alerts (those received from `since` on) became."""
    import sqlalchemy as sa

    from tocsin.alerts.models import Alert
    from tocsin.catalog.models import Service
    from tocsin.config import load_settings
    from tocsin.db.engine import make_engine, make_sessionmaker
    from tocsin.jobs.models import Job
    from tocsin.oncall.models import OncallPage

    engine = make_engine(load_settings(database_url=database_url))
    try:
        async with make_sessionmaker(engine)() as session:
            slugs = dict((await session.execute(sa.select(Service.id, Service.slug))).all())
            pages = [
                slugs.get(sid or 0, "?")
                for sid in await session.scalars(sa.select(OncallPage.service_id))
            ]
            decisions = Counter(
                d or "undecided"
                for d in await session.scalars(
                    sa.select(Alert.decision)
                    .join(Service, Service.id == Alert.service_id)
                    .where(Service.slug != PROBE, Alert.first_received_at >= since)
                )
            )
            done = {
                str(payload.get("summary")): finished
                for payload, finished in (
                    await session.execute(
                        sa.select(Job.payload, Job.finished_at).where(Job.kind == "oncall.page")
                    )
                ).all()
            }
            probe_ids = {
                alert_id: str(labels.get("alertname"))
                for alert_id, labels in (
                    await session.execute(
                        sa.select(Alert.id, Alert.labels)
                        .join(Service, Service.id == Alert.service_id)
                        .where(Service.slug == PROBE)
                    )
                ).all()
            }
            stages: dict[str, dict[str, datetime | None]] = defaultdict(dict)
            for payload, created, claimed, finished in (
                await session.execute(
                    sa.select(Job.payload, Job.created_at, Job.claimed_at, Job.finished_at).where(
                        Job.kind == "alerts.process"
                    )
                )
            ).all():
                for alert_id in payload.get("alert_ids") or [payload.get("alert_id") or 0]:
                    name = probe_ids.get(int(alert_id))
                    if name is not None and "queued" not in stages[name]:
                        stages[name] |= {"queued": created, "decide": claimed, "decided": finished}
            for payload, created, claimed in (
                await session.execute(
                    sa.select(Job.payload, Job.created_at, Job.claimed_at).where(
                        Job.kind == "oncall.page"
                    )
                )
            ).all():
                stages[str(payload.get("summary"))] |= {"page_queued": created, "page": claimed}
            last = await session.scalar(
                sa.select(sa.func.max(Job.finished_at)).where(Job.kind == "alerts.process")
            )
    finally:
        await engine.dispose()
    storm_pages = [p for p in pages if p != PROBE]
    roots = [f"{cell}-{ROOTS[cell]}" for cell in CELLS]
    latencies = [
        (done[name] - at).total_seconds()
        for name, at in sent.accepted.items()
        if done.get(name) is not None
    ]
    steps: dict[str, list[float]] = defaultdict(list)
    order = ["accepted", "queued", "decide", "decided", "page_queued", "page", "done"]
    for name, at in sent.accepted.items():
        moments = {"accepted": at, **stages.get(name, {}), "done": done.get(name)}
        for before, after in itertools.pairwise(order):
            first, then = moments.get(before), moments.get(after)
            if first is not None and then is not None:
                steps[f"{before} -> {after}"].append((then - first).total_seconds())
    return {
        "steps": steps,
        "storm_pages": Counter(storm_pages),
        "recall": sum(1 for r in roots if r in storm_pages) / len(roots),
        "probe_pages": pages.count(PROBE),
        "decisions": decisions,
        "latencies": latencies,
        "missing_probes": len(sent.accepted) - len(latencies),
        "last_decision": last,
        "affected": sum(len(v) for v in affected.values()),
    }


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a running process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def backlog(kind: str, args: argparse.Namespace) -> None:
    """Store the whole plan, then time one worker deciding it (CPU time of this process)."""
    from tocsin.app import create_app
    from tocsin.config import load_settings
    from tocsin.jobs.registry import load_domain_handlers
    from tocsin.jobs.worker import Worker

    deps = topology(args.topology)
    sends, _ = plan(deps, args.alerts, args.seconds, args.probes, args.seed)
    async with database(kind, args.server, args.keep) as url:
        keys = await prepare(url, deps, args.group_wait)
        settings = load_settings(database_url=url, log_level="warning")
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://storm") as client:
                for item in sends:
                    response = await client.post(
                        "/api/v1/ingest/alertmanager",
                        json=webhook(item.alerts),
                        headers={"Authorization": f"Bearer {keys[item.service]}"},
                    )
                    response.raise_for_status()
            load_domain_handlers()
            worker = Worker(settings, app.state.sessionmaker)
            cpu, wall = time.process_time(), time.perf_counter()
            jobs = 0
            while ran := await worker.run_once():
                jobs += ran
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    alerts = sum(len(item.alerts) for item in sends)
    print(
        f"\n## {kind}, backlog of {alerts} alerts: {jobs} jobs in {wall:.1f} s, "
        f"{cpu:.1f} CPU-s: {alerts / cpu:.0f} alerts decided per CPU-second; "
        f"load average {os.getloadavg()[0]:.1f}"
    )


def machine() -> str:
    cpu = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    ram = "?"
    with contextlib.suppress(OSError):
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        ram = f"{kb / 1024 / 1024:.1f} GiB"
    return f"{os.cpu_count()} CPUs ({cpu}), {ram} RAM, Python {platform.python_version()}"


async def run(kind: str, args: argparse.Namespace) -> None:
    deps = topology(args.topology)
    sends, affected = plan(deps, args.alerts, args.seconds, args.probes, args.seed)
    async with database(kind, args.server, args.keep) as url:
        keys = await prepare(url, deps, args.group_wait)
        if args.history:
            await store_history(url, args.history, args.seed)
        port = free_port()
        with serve(url, port, args.server_log, args.workers) as children:
            child, workers = children[0], children[1:] or children[:1]
            base = f"http://127.0.0.1:{port}"
            await wait_ready(f"{base}/healthz", child, tries=1200)  # slow on a busy machine
            began = datetime.now(UTC)
            sent = await blast(base, keys, sends, args.concurrency)
            waited = await drain(url, args.drain_timeout)
            worker_cpu = sum(cpu_seconds(w.pid) for w in workers)
            found = await collect(url, sent, affected, began)
    storm = sum(found["storm_pages"].values())
    lat = found["latencies"]
    how = f"{args.workers} worker processes" if args.workers else "in-process worker"
    print(
        f"\n## {kind}, {how}: {3 * len(deps)} services, {found['affected']} affected, 3 roots, "
        f"group wait {args.group_wait} s"
    )
    print(
        f"sent {sent.alerts} alerts in {sent.seconds:.1f} s "
        f"({sent.alerts / sent.seconds * 60:,.0f}/min); sender late p99 {pct(sent.lag, 99):.2f} s"
    )
    print(f"pipeline drained {waited:.1f} s after the last answer (group waits included)")
    decided = sum(found["decisions"].values()) + len(sent.accepted)
    where = "worker processes" if args.workers else "server process (ingestion included)"
    print(
        f"CPU of the {where}: {worker_cpu:.1f} s, {decided / worker_cpu:.0f} alerts decided "
        f"per CPU-second; load average at the end {os.getloadavg()[0]:.1f}"
    )
    print(f"storm pages: {storm} ({dict(found['storm_pages'])}); goal <= 6")
    print(f"root recall: {found['recall']:.0%}; goal 100 %")
    print(f"decisions of storm alerts: {dict(found['decisions'])}")
    if lat:
        print(
            f"probe latency accept -> page job done ({len(lat)} probes, "
            f"{found['missing_probes']} without a page): p50 {pct(lat, 50) * 1000:.0f} ms, "
            f"p99 {pct(lat, 99) * 1000:.0f} ms, max {max(lat) * 1000:.0f} ms; goal p99 < 1 s"
        )
        show_steps(found["steps"])


def show_steps(steps: dict[str, list[float]]) -> None:
    """Where a probe's time goes, step by step (medians and p99, in ms); negative values are
    clock differences between the client and the server, which share one machine clock."""
    for step, values in steps.items():
        print(f"  {step}: p50 {pct(values, 50) * 1000:.0f} ms, p99 {pct(values, 99) * 1000:.0f} ms")


async def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--alerts", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--probes", type=int, default=120)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="sqlite")
    parser.add_argument("--server", default=DEFAULT_SERVER, help="PostgreSQL server URL")
    parser.add_argument("--seed", type=int, default=4)
    parser.add_argument("--drain-timeout", type=float, default=900.0)
    parser.add_argument(
        "--topology", type=Path, default=DATA / "otel-demo-topology" / "topology.json"
    )
    parser.add_argument(
        "--group-wait", type=int, default=30, help="seconds, for the storm's services"
    )
    parser.add_argument(
        "--server-log", type=Path, default=Path(tempfile.gettempdir()) / "tocsin-storm.log"
    )
    parser.add_argument(
        "--workers", type=int, default=0, help="separate worker processes (0: in-process)"
    )
    parser.add_argument("--keep", type=Path, help="SQLite: keep the database in this file")
    parser.add_argument(
        "--history", type=int, default=0, help="resolved alerts stored before the storm"
    )
    parser.add_argument(
        "--backlog", action="store_true", help="time the decisions alone (see above)"
    )
    args = parser.parse_args()
    if args.keep is not None:
        args.keep = args.keep.resolve()
        args.keep.unlink(missing_ok=True)
    print(f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {machine()}")
    for kind in ("sqlite", "postgresql") if args.db == "both" else (args.db,):
        await (backlog if args.backlog else run)(kind, args)


if __name__ == "__main__":
    asyncio.run(main())
