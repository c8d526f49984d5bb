"""The public status page under load: wrk against Tocsin and against nginx serving the same bytes.

    .venv/bin/python benchmarks/status_page.py [--seconds 10] [--connections 50] [--database URL]

Creates a database of its own (a temporary SQLite file unless --database names an empty
PostgreSQL database) with a default page, six components in two groups, an active incident
with three updates and an upcoming maintenance; starts `tocsin serve --no-worker` on a free
loopback port; saves the bytes of `/api/v2/summary.json` and `/status` it answers; serves
those files with nginx (the ceiling: static bytes from memory) on another port; then runs wrk
against the four URLs in turn and prints requests per second and p99 latency for each.

Besides requests per second, each row gives the CPU time the server's processes used during
the run and so its requests per CPU-second: on a machine shared with other work the first
figure drops, the second hardly moves. The load average is printed with the results.
`--processes N` runs `tocsin serve --processes N` (several processes sharing the port).

Needs `wrk` and `nginx` on the PATH (Debian: `apt-get install wrk nginx-light`). The goal is at
least 5,000 requests a second with p99 under 50 ms for Tocsin, as close to nginx as caching
allows.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

from harness import free_port

NGINX_CONF = """
worker_processes 1;
daemon off;
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {root}/tmp;
    proxy_temp_path {root}/tmp;
    fastcgi_temp_path {root}/tmp;
    uwsgi_temp_path {root}/tmp;
    scgi_temp_path {root}/tmp;
    open_file_cache max=100;
    server {{
        listen 127.0.0.1:{port};
        root {root}/www;
        location = /status {{
            default_type "text/html; charset=utf-8";
            try_files /status.html =404;
        }}
        location /api/v2/ {{ default_type "application/json; charset=utf-8"; }}
    }}
}}
"""


async def seed(url: str) -> None:
    from tocsin.audit.service import Actor
    from tocsin.config import load_settings
    from tocsin.db.engine import make_engine, make_sessionmaker
    from tocsin.db.migrate import upgrade
    from tocsin.statuspage import service
    from tocsin.statuspage.schemas import (
        AffectedIn,
        ComponentCreate,
        GroupCreate,
        IncidentCreate,
        MaintenanceCreate,
        PageCreate,
        UpdateCreate,
    )

    engine = make_engine(load_settings(database_url=url, log_level="warning"))
    await upgrade(engine)
    who = Actor.system("benchmark")
    async with make_sessionmaker(engine)() as session:
        await service.create_page(session, who, PageCreate(slug="acme", name="Acme"))
        ids = []
        for group_name, names in (
            ("Shop", ["Storefront", "Checkout", "Payments"]),
            ("Platform", ["Public API", "Webhooks", "Search"]),
        ):
            group = await service.create_group(session, who, "acme", GroupCreate(name=group_name))
            for name in names:
                made = await service.create_component(
                    session, who, "acme", ComponentCreate(name=name, group_id=group.id)
                )
                ids.append(made.id)
        incident = await service.create_incident(
            session,
            who,
            "acme",
            IncidentCreate(
                name="Card payments failing for some customers",
                impact="major",
                body="Some card payments fail at checkout. We are investigating.",
                components=[AffectedIn(component_id=ids[2], status="partial_outage")],
                notify=False,
            ),
        )
        for status, body in (
            ("identified", "A configuration change at our payment provider is the cause."),
            ("monitoring", "A fix is in place; we are watching payments recover."),
        ):
            await service.post_update(
                session,
                who,
                "acme",
                incident.id,
                UpdateCreate(status=status, body=body, notify=False),
            )
        start = datetime.now(UTC) + timedelta(days=1)
        await service.create_maintenance(
            session,
            who,
            "acme",
            MaintenanceCreate(
                name="Database upgrade",
                body="Search may be slow for a few minutes.",
                scheduled_for=start,
                scheduled_until=start + timedelta(hours=1),
                components=[ids[5]],
                notify=False,
            ),
        )
    await engine.dispose()


def wait_for(url: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"{url} did not come up")


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as response:
        return bytes(response.read())


def _ms(value: str, unit: str) -> float:
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def wrk(url: str, seconds: int, connections: int, threads: int) -> tuple[float, float, int]:
    """(requests/s, p99 ms, non-2xx/3xx answers) of one wrk run."""
    out = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", url],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return (
        rps,
        _ms(p99.group(1), p99.group(2)) if p99 else float("nan"),
        int(errors.group(1) if errors else 0),
    )


def _tree(pid: int) -> list[int]:
    """`pid` and all its descendants (uvicorn's and nginx's worker processes)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*/children"):
            todo.extend(int(child) for child in task.read_text().split())
    return found


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process tree so far."""
    ticks = 0
    for member in _tree(pid):
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def measured(url: str, pid: int, args: argparse.Namespace) -> tuple[float, float, int, float]:
    """(requests/s, p99 ms, errors, server CPU seconds) of one wrk run against `url`."""
    before = cpu_seconds(pid)
    rps, p99, errors = wrk(url, args.seconds, args.connections, args.threads)
    return rps, p99, errors, cpu_seconds(pid) - before


def row(
    path: str, size: str, label: str, result: tuple[float, float, int, float], seconds: int
) -> str:
    rps, p99, errors, cpu = result
    per_cpu = rps * seconds / cpu if cpu > 0 else float("nan")
    return (
        f"| `{path}` | {size} | {label} | {rps:,.0f} | {p99:.1f} ms | {cpu:.1f} s | "
        f"{per_cpu:,.0f} | {errors} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--database", default=None)
    parser.add_argument("--processes", type=int, default=1)
    args = parser.parse_args()
    for tool in ("wrk", "nginx"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is not installed (apt-get install wrk nginx-light)")

    with tempfile.TemporaryDirectory(prefix="tocsin-statuspage-") as tmp:
        root = Path(tmp)
        root.chmod(0o755)  # nginx workers run as an unprivileged user and must read www/
        url = args.database or f"sqlite+aiosqlite:///{root / 'tocsin.db'}"
        asyncio.run(seed(url))
        tocsin_port, nginx_port = free_port(), free_port()
        env = {
            **os.environ,
            "TOCSIN_DATABASE_URL": url,
            "TOCSIN_LOG_LEVEL": "warning",
            "TOCSIN_SECRET_KEY": "benchmark-only-secret-key-0123456789abcdef0123",
        }
        tocsin_bin = str(Path(sys.executable).with_name("tocsin"))
        server = subprocess.Popen(
            [
                tocsin_bin,
                "serve",
                "--no-worker",
                "--port",
                str(tocsin_port),
                "--processes",
                str(args.processes),
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        nginx = None
        try:
            base = f"http://127.0.0.1:{tocsin_port}"
            wait_for(f"{base}/healthz")
            www = root / "www"
            (www / "api" / "v2").mkdir(parents=True)
            (root / "tmp").mkdir()
            (www / "api" / "v2" / "summary.json").write_bytes(fetch(f"{base}/api/v2/summary.json"))
            (www / "status.html").write_bytes(fetch(f"{base}/status"))
            conf = root / "nginx.conf"
            conf.write_text(NGINX_CONF.format(root=root, port=nginx_port))
            nginx = subprocess.Popen(
                ["nginx", "-c", str(conf), "-p", str(root)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            static = f"http://127.0.0.1:{nginx_port}"
            wait_for(f"{static}/status")
            sizes = {p: len(fetch(f"{base}{p}")) for p in ("/api/v2/summary.json", "/status")}
            load = os.getloadavg()
            print(
                f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.machine()}, "
                f"{os.cpu_count()} CPUs, Python {platform.python_version()}, "
                f"wrk -t{args.threads} -c{args.connections} -d{args.seconds}s, "
                f"database {url.split(':', 1)[0]}, {args.processes} Tocsin process(es), "
                f"load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}"
            )
            print(
                "| path | bytes | server | requests/s | p99 latency | server CPU "
                "| requests per CPU-second | errors |"
            )
            print("|---|---:|---|---:|---:|---:|---:|---:|")
            servers = (("nginx (static copy)", static, nginx.pid), ("Tocsin", base, server.pid))
            for path in ("/api/v2/summary.json", "/status"):
                for label, origin, pid in servers:
                    result = measured(origin + path, pid, args)
                    print(row(path, f"{sizes[path]:,}", label, result, args.seconds))
            # The framework's own floor: the smallest route Tocsin has, same server.
            result = measured(f"{base}/healthz", server.pid, args)
            print(row("/healthz", "—", "Tocsin (reference)", result, args.seconds))
            load = os.getloadavg()
            print(f"load average afterwards {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
        finally:
            if nginx is not None:
                nginx.terminate()
                nginx.wait(10)
            server.terminate()
            server.wait(10)


if __name__ == "__main__":
    main()
