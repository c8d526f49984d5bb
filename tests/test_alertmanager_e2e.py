"""The real Prometheus Alertmanager notifies a real Tocsin server, firing then resolved.

Alertmanager (Debian's `prometheus-alertmanager`) runs as a child process with a webhook
receiver pointing at Tocsin's ingestion URL; the test posts alerts to Alertmanager's API as
Prometheus would, and waits (polling with a deadline) until Tocsin holds them with the
fingerprints Alertmanager computed, then until they are resolved.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.browser.server import running_server
from tests.net import free_port
from tests.test_alert_ingest_helpers import make_integration, make_service, stored_alerts
from tocsin.alerts.models import Alert
from tocsin.alerts.normalized import SourceKind
from tocsin.config import Settings

ALERTMANAGER = os.environ.get("TOCSIN_ALERTMANAGER", "/usr/bin/prometheus-alertmanager")
DEADLINE = 30.0
T = TypeVar("T")


@pytest.fixture(scope="module")
def alertmanager_binary() -> str:
    if shutil.which(ALERTMANAGER):
        return ALERTMANAGER
    reason = f"{ALERTMANAGER} is not installed (make alertmanager installs it)"
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


async def eventually(probe: Callable[[], Awaitable[T | None]], what: str) -> T:
    """Poll `probe` until it returns something, or fail after the deadline saying what."""
    loop = asyncio.get_running_loop()
    give_up = loop.time() + DEADLINE
    while True:
        found = await probe()
        if found is not None:
            return found
        if loop.time() > give_up:
            pytest.fail(f"gave up after {DEADLINE:.0f} s waiting for {what}")
        await asyncio.sleep(0.1)


CONFIG = """\
route:
  receiver: tocsin
  group_by: ['alertname']
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: tocsin
    webhook_configs:
      - url: {url}
        send_resolved: true
"""


@contextlib.asynccontextmanager
async def running_alertmanager(binary: str, webhook_url: str, workdir: Path) -> AsyncIterator[str]:
    config = workdir / "alertmanager.yml"
    config.write_text(CONFIG.format(url=webhook_url))
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        binary,
        f"--config.file={config}",
        f"--storage.path={workdir / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",
        "--log.level=warn",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient() as client:

            async def ready() -> bool | None:
                if process.returncode is not None:
                    assert process.stderr is not None
                    pytest.fail(f"alertmanager exited: {(await process.stderr.read()).decode()}")
                with contextlib.suppress(httpx.TransportError):
                    if (await client.get(f"{base}/-/ready")).status_code == 200:
                        return True
                return None

            await eventually(ready, "alertmanager to be ready")
        yield base
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                async with asyncio.timeout(10):
                    await process.wait()
            except TimeoutError:
                process.kill()
                await process.wait()


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


async def test_alertmanager_notifies_tocsin_firing_then_resolved(
    alertmanager_binary: str,
    settings: Settings,
    session: AsyncSession,
    sessionmaker: async_sessionmaker[AsyncSession],
    tmp_path: Path,
) -> None:
    await make_service(session)
    integration = await make_integration(session, SourceKind.ALERTMANAGER)
    labels = [
        {"alertname": "CheckoutErrors", "instance": "c-1", "severity": "critical"},
        {"alertname": "CheckoutErrors", "instance": "c-2", "severity": "critical"},
    ]
    started = datetime.now(UTC) - timedelta(minutes=1)
    async with running_server(settings) as tocsin_url:
        webhook = f"{tocsin_url}/api/v1/ingest/{integration.key}/alertmanager"
        async with (
            running_alertmanager(alertmanager_binary, webhook, tmp_path) as am,
            httpx.AsyncClient() as client,
        ):
            firing = [
                {
                    "labels": pairs,
                    "annotations": {"summary": f"errors on {pairs['instance']}"},
                    "startsAt": rfc3339(started),
                }
                for pairs in labels
            ]
            posted = await client.post(f"{am}/api/v2/alerts", json=firing)
            assert posted.status_code == 200, posted.text
            fingerprints = {
                a["fingerprint"] for a in (await client.get(f"{am}/api/v2/alerts")).json()
            }
            assert len(fingerprints) == 2

            async def all_with(status: str) -> list[Alert] | None:
                rows = await stored_alerts(sessionmaker)
                if {r.fingerprint for r in rows} == fingerprints and all(
                    r.status == status for r in rows
                ):
                    return rows
                return None

            rows = await eventually(lambda: all_with("firing"), "Tocsin to hold both alerts firing")
            assert all(r.starts_at == started for r in rows), "Prometheus' start is kept"
            assert all(r.sender_fingerprint == r.fingerprint for r in rows)

            ended = rfc3339(datetime.now(UTC) - timedelta(seconds=1))
            resolved = [{**alert, "endsAt": ended} for alert in firing]
            assert (await client.post(f"{am}/api/v2/alerts", json=resolved)).status_code == 200
            rows = await eventually(lambda: all_with("resolved"), "Tocsin to see both resolved")
            assert all(r.ends_at is not None for r in rows)


async def test_prometheus_style_posts_straight_to_tocsin(
    settings: Settings,
    session: AsyncSession,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    """What Prometheus sends when Tocsin is configured as its Alertmanager (bearer key)."""
    await make_service(session)
    integration = await make_integration(session, SourceKind.ALERTMANAGER)
    headers = {"Authorization": f"Bearer {integration.key}", "User-Agent": "Prometheus/2.45.0"}
    now = datetime.now(UTC)
    alert = {
        "labels": {"alertname": "Up", "job": "node"},
        "annotations": {"summary": "node down"},
        "startsAt": rfc3339(now - timedelta(minutes=2)),
        "endsAt": rfc3339(now + timedelta(minutes=4)),
        "generatorURL": "http://prometheus.example.test/graph",
    }
    async with running_server(settings) as tocsin_url, httpx.AsyncClient() as client:
        response = await client.post(f"{tocsin_url}/api/v2/alerts", json=[alert], headers=headers)
        assert response.status_code == 200
        [row] = await stored_alerts(sessionmaker)
        assert row.status == "firing" and row.expires_at is not None
        ended = {**alert, "endsAt": rfc3339(now - timedelta(seconds=1))}
        response = await client.post(f"{tocsin_url}/api/v2/alerts", json=[ended], headers=headers)
        assert response.status_code == 200
        [row] = await stored_alerts(sessionmaker)
        assert row.status == "resolved"
