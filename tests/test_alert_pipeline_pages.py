"""The pipeline's pages: a responder silences from the browser (matchers as typed in amtool),
sees what was silenced and why on the alert list and the group page, and expires it."""

from __future__ import annotations

from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.factories import browser_login, make_user
from tests.test_alert_ingest_helpers import count, make_integration, make_service
from tests.test_alert_pipeline_helpers import alert_named, firing, post_alerts, run_pipeline
from tocsin.alerts.models import MaintenanceWindow, Silence
from tocsin.alerts.normalized import SourceKind
from tocsin.auth.permissions import Role
from tocsin.clock import FrozenClock
from tocsin.config import Settings


async def test_silence_from_the_page_and_read_the_decision_on_the_lists(
    client: AsyncClient,
    session: AsyncSession,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    clock: FrozenClock,
) -> None:
    await make_service(session, "checkout")
    key = (await make_integration(session, SourceKind.ALERTMANAGER)).key
    responder = await make_user(session, Role.RESPONDER)
    csrf = await browser_login(client, responder.email)

    refused = await client.post(
        "/silences", data={"csrf_token": csrf, "matchers": "alertname=~(", "hours": "2"}
    )
    assert refused.status_code == 422
    assert "invalid regular expression" in refused.text
    assert await count(sessionmaker, Silence) == 0

    created = await client.post(
        "/silences",
        data={
            "csrf_token": csrf,
            "matchers": 'alertname=~"Disk.*"\nenv!=prod',
            "hours": "2",
            "comment": "disk migration",
        },
        follow_redirects=False,
    )
    assert created.status_code == 303
    page = await client.get("/silences")
    assert 'alertname=~"Disk.*"' in page.text and "disk migration" in page.text

    await post_alerts(client, key, firing("DiskFull", env="staging"), firing("CpuHigh"))
    await run_pipeline(settings, sessionmaker)
    alerts_page = await client.get("/alerts")
    assert "silenced" in alerts_page.text and "disk migration" in alerts_page.text
    assert "paged the on-call of checkout" in alerts_page.text
    groups_page = await client.get("/alert-groups")
    assert "CpuHigh fires" in groups_page.text

    [silence] = (await client.get("/api/v1/silences")).json()
    expired = await client.post(
        f"/silences/{silence['id']}/expire", data={"csrf_token": csrf}, follow_redirects=False
    )
    assert expired.status_code == 303
    await run_pipeline(settings, sessionmaker)
    assert (await alert_named(sessionmaker, "DiskFull")).decision == "paged"


async def test_maintenance_windows_from_the_page(
    client: AsyncClient,
    session: AsyncSession,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: FrozenClock,
) -> None:
    await make_service(session, "checkout")
    responder = await make_user(session, Role.RESPONDER)
    csrf = await browser_login(client, responder.email)
    form = {
        "csrf_token": csrf,
        "service": "checkout",
        "starts_at": "2026-01-05T09:30",
        "duration_minutes": "60",
        "timezone": "Europe/Paris",
        "rrule": "",
        "comment": "network work",
    }
    refused = await client.post("/maintenance-windows", data={**form, "timezone": "Mars/Base"})
    assert refused.status_code == 422
    assert "unknown time zone" in refused.text
    assert await count(sessionmaker, MaintenanceWindow) == 0

    created = await client.post("/maintenance-windows", data=form, follow_redirects=False)
    assert created.status_code == 303
    page = await client.get("/maintenance-windows")
    assert "network work" in page.text and "in effect" in page.text and "once" in page.text

    [window] = (await client.get("/api/v1/maintenance-windows")).json()
    ended = await client.post(
        f"/maintenance-windows/{window['id']}/end",
        data={"csrf_token": csrf},
        follow_redirects=False,
    )
    assert ended.status_code == 303
    assert "ended" in (await client.get("/maintenance-windows")).text
