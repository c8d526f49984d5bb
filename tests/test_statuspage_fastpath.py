"""The public status page's fast path: cached answers sent ahead of the framework must be the
very bytes the routes send, follow every change at once, honour If-None-Match and HEAD, and
step aside for anything only the routes can judge (credentials, lapsed versions)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import sqlalchemy as sa
from fastapi import FastAPI
from httpx import AsyncClient, Response
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import REGISTRY
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession

from tests import test_statuspage
from tests.test_statuspage import API, INCIDENTS, SCHEMAS, World, post_update, publish
from tocsin.clock import FrozenClock, utcnow
from tocsin.statuspage import freshness
from tocsin.statuspage import service as statuspage
from tocsin.statuspage.fastpath import _request_headers
from tocsin.statuspage.models import Subscriber
from tocsin.statuspage.public import Rendered

world = test_statuspage.world
"""the status page's world: a page with two components, a group and callers of every role"""

PATHS = [
    *(
        f"{prefix}{tail}"
        for prefix in ("/status", "/status/acme")
        for tail in ("", "/history.rss", "/history.atom")
    ),
    *(f"{prefix}/api/v2/{name}.json" for prefix in ("", "/status/acme") for name in SCHEMAS),
]
"""every public answer that comes from the cache, for the default page and by name"""


SIGNED_OUT = "tocsin_session=expired"
"""a browser's stale session cookie: the routes answer it, as anonymous"""


def fast_answers() -> float:
    return REGISTRY.get_sample_value("tocsin_statuspage_fast_answers_total") or 0.0


def served(path: str) -> float:
    value = REGISTRY.get_sample_value(
        "tocsin_http_requests_total", {"method": "GET", "route": path, "status": "200"}
    )
    return value or 0.0


async def get(client: AsyncClient, path: str, **headers: str) -> tuple[Response, bool]:
    """The answer and whether the fast path sent it."""
    before = fast_answers()
    response = await client.get(path, headers={"X-Request-ID": "same-id", **headers})
    return response, fast_answers() == before + 1


async def live_world(client: AsyncClient, world: World) -> None:
    published = await publish(client, world.communicator, world)
    await post_update(client, world.communicator, published["id"], status="identified")
    start = utcnow() + timedelta(days=1)
    made = await client.post(
        f"{API}/acme/maintenances",
        json={
            "name": "Database upgrade",
            "body": "Short interruptions expected.",
            "scheduled_for": start.isoformat(),
            "scheduled_until": (start + timedelta(hours=1)).isoformat(),
            "components": [world.components["Search"]],
        },
        headers=world.communicator.headers,
    )
    assert made.status_code == 201, made.text


async def test_fast_answers_are_the_routes_answers_byte_for_byte(
    client: AsyncClient, world: World, clock: FrozenClock
) -> None:
    await live_world(client, world)
    secret = await client.post(
        INCIDENTS,
        json={"title": "Secret merger outage", "severity": "sev1", "visibility": "private"},
        headers=world.admin.headers,
    )
    assert secret.status_code == 201, secret.text
    for path in PATHS:
        routed, fast = await get(client, path)
        assert routed.status_code == 200 and not fast, f"{path}: the first answer is rendered"
        again, fast = await get(client, path)
        assert fast, f"{path}: the second comes from the fast path"
        assert again.content == routed.content, path
        assert again.headers.raw == routed.headers.raw, path
        assert "Secret merger" not in again.text

        etag = routed.headers["etag"]
        routed_304, fast = await get(
            client, path, Cookie=SIGNED_OUT, **{"If-None-Match": f'"other", {etag}'}
        )
        assert routed_304.status_code == 304 and not fast, path
        clock.advance(freshness.VERSION_TTL + timedelta(milliseconds=1))
        fast_304, fast = await get(client, path, **{"If-None-Match": etag})
        assert fast_304.status_code == 304 and fast and fast_304.content == b""
        assert fast_304.headers.raw == routed_304.headers.raw, path
        assert "content-length" not in fast_304.headers
        assert fast_304.headers["etag"] == etag, "a lapsed memo is re-read, the answer kept"


async def test_a_change_shows_on_the_very_next_request(
    client: AsyncClient, world: World, clock: FrozenClock
) -> None:
    await live_world(client, world)
    for _ in range(2):
        summary, _fast = await get(client, "/api/v2/summary.json")
    assert _fast
    [incident] = summary.json()["incidents"]

    changed = await client.patch(
        f"{API}/acme/components/{world.components['Search']}",
        json={"status": "major_outage"},
        headers=world.communicator.headers,
    )
    assert changed.status_code == 200
    after, fast = await get(client, "/api/v2/summary.json")
    assert not fast, "this process's own commit retires the memo"
    search = next(c for c in after.json()["components"] if c["name"] == "Search")
    assert search["status"] == "major_outage"

    posted = await post_update(
        client, world.communicator, int(incident["id"]), status="resolved", body="Fixed."
    )
    assert posted.status_code == 201, posted.text
    page, fast = await get(client, "/status")
    assert not fast and "Fixed." in page.text
    summary, fast = await get(client, "/api/v2/summary.json")
    assert not fast and summary.json()["incidents"] == []
    maintenances, _ = await get(client, "/api/v2/scheduled-maintenances/upcoming.json")
    assert [m["name"] for m in maintenances.json()["scheduled_maintenances"]] == [
        "Database upgrade"
    ]


async def test_head_is_get_without_the_body(
    client: AsyncClient, session: AsyncSession, world: World
) -> None:
    await live_world(client, world)
    for path in ("/status", "/status/acme/api/v2/summary.json", "/status/history.atom"):
        cold = await client.head(path)
        assert cold.status_code == 200 and cold.content == b"", path
        full, _ = await get(client, path)
        warm = await client.head(path)
        assert warm.status_code == 200 and warm.content == b""
        for answer in (cold, warm):
            without_id = [h for h in answer.headers.raw if h[0] != b"x-request-id"]
            assert without_id == [h for h in full.headers.raw if h[0] != b"x-request-id"]
        assert int(warm.headers["content-length"]) == len(full.content)
        checked = await client.head(path, headers={"If-None-Match": full.headers["etag"]})
        assert checked.status_code == 304

    assert (await client.head("/status/nope")).status_code == 404
    subscribed = await client.post(
        "/status/subscribe", data={"email": "pat@example.com"}, headers={"Accept": "text/html"}
    )
    assert subscribed.status_code == 202
    row = await session.scalar(sa.select(Subscriber))
    assert row is not None
    link = f"/status/confirm/{statuspage.subscriber_token(row, 'confirm')}"
    refused = await client.head(link)
    assert refused.status_code == 405, "a HEAD never runs a link that changes something"
    await session.refresh(row)
    assert row.confirmed_at is None


async def test_what_only_the_routes_can_judge_goes_to_them(
    client: AsyncClient, world: World, clock: FrozenClock
) -> None:
    for _ in range(2):
        _, fast = await get(client, "/api/v2/status.json")
    assert fast
    bad = await client.get("/api/v2/status.json", headers={"Authorization": "Bearer nonsense"})
    assert bad.status_code == 401, "an unknown token is refused, as on every route"
    _, fast = await get(client, "/api/v2/status.json", Cookie=SIGNED_OUT)
    assert not fast, "a signed-in browser's session is the routes' business"
    _, fast = await get(client, "/api/v2/status.json", Cookie="theme=dark")
    assert fast, "other cookies do not matter"
    missing, fast = await get(client, "/status/nope/api/v2/status.json")
    assert missing.status_code == 404 and not fast
    before = served("/api/v2/status.json")
    _, fast = await get(client, "/api/v2/status.json")
    assert fast and served("/api/v2/status.json") == before + 1, "metrics name the route"


@given(
    etag=st.from_regex(r'"[0-9a-f]{8}"', fullmatch=True),
    others=st.lists(st.from_regex(r'"[0-9a-z]{1,8}"', fullmatch=True), max_size=4),
    spaces=st.sampled_from(["", " ", "  "]),
    named=st.booleans(),
)
def test_if_none_match_names_the_answer_in_any_position(
    etag: str, others: list[str], spaces: str, named: bool
) -> None:
    answer = Rendered((1, 1, "2026-01-05"), b"{}", etag, "application/json")
    listed = [o for o in others if o != etag] + ([etag] if named else [])
    header = ",".join(f"{spaces}{t}{spaces}" for t in sorted(listed)) or None
    assert answer.matches(header) is named
    scope = {"headers": [(b"if-none-match", (header or "").encode()), (b"accept", b"*/*")]}
    passed, found = _request_headers(scope)
    assert not passed and answer.matches(found) is named


@given(
    name=st.sampled_from([b"authorization", b"transfer-encoding", b"content-length", b"cookie"]),
    value=st.sampled_from([b"1", b"x", b"tocsin_session=1", b"a=1; tocsin_sso=2"]),
)
def test_credentials_and_bodies_always_go_to_the_routes(name: bytes, value: bytes) -> None:
    passed, _ = _request_headers({"headers": [(b"host", b"x"), (name, value)]})
    goes = name in (b"authorization", b"transfer-encoding", b"content-length") or (
        b"tocsin_" in value
    )
    assert passed is goes


async def test_requests_that_find_the_memo_lapsed_share_one_read(
    app: FastAPI, client: AsyncClient, world: World, clock: FrozenClock
) -> None:
    for _ in range(2):
        await get(client, "/api/v2/summary.json")
    reads: list[str] = []

    def count(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        if "status_pages.version" in statement:
            reads.append(statement)

    sync_engine = app.state.engine.sync_engine
    event.listen(sync_engine, "before_cursor_execute", count)
    try:
        clock.advance(freshness.VERSION_TTL + timedelta(milliseconds=1))
        before = fast_answers()
        answers = await asyncio.gather(*(client.get("/api/v2/summary.json") for _ in range(20)))
    finally:
        event.remove(sync_engine, "before_cursor_execute", count)
    assert {a.status_code for a in answers} == {200}
    assert fast_answers() == before + 20 and len(reads) == 1
