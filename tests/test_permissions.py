"""The permission guarantees, checked over every route the application serves.

Nothing here names a domain's routes: the routes are read from the application itself and the
expected outcome of each request from `ROLE_PERMISSIONS` and the permission the route
declares, so a route added tomorrow is covered (and one without a declaration fails) without
touching this file.
"""

from __future__ import annotations

import asyncio
import os
import re
import traceback
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, APIWebSocketRoute, iter_route_contexts
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.routing import BaseRoute, Host, Mount
from starlette.staticfiles import StaticFiles

from tests.factories import browser_login, make_caller, make_user
from tocsin.audit.service import Actor
from tocsin.auth import service as auth
from tocsin.auth.dependencies import Requires
from tocsin.auth.permissions import ROLE_PERMISSIONS, TOKEN_SCOPES, Permission, Role
from tocsin.config import load_settings

DOCS = Path(__file__).resolve().parent.parent / "docs" / "permissions.md"

FRAMEWORK_ROUTES: dict[str, str] = {
    "/openapi.json": "public: it describes the API's shape, never its data",
    "/docs": "public: the interactive API reference, built from /openapi.json",
    "/docs/oauth2-redirect": "public: a helper page of the interactive reference",
    "/redoc": "public: the read-only API reference, built from /openapi.json",
}
"""FastAPI's own routes cannot carry a `Requires`; each one is a decision written down here
(and in docs/permissions.md), and the test below fails if one appears or disappears."""

_INGESTION = "alert ingestion: the sender proves itself with an integration key, not a user"

SELF_AUTHENTICATED: dict[str, str] = {
    "POST /api/v1/ingest/{key}/{kind}": _INGESTION,
    "POST /api/v1/ingest/{kind}": _INGESTION,
    "POST /api/v2/alerts": _INGESTION + " (Alertmanager API v2, key as bearer token)",
    "POST /v2/enqueue": _INGESTION + " (PagerDuty Events API v2, key as routing_key)",
    "POST /generic/2010-04-15/create_event.json": _INGESTION
    + " (PagerDuty Events API v1, key as service_key)",
    "POST /v2/alerts": _INGESTION + " (Opsgenie, key as GenieKey)",
    "POST /v2/alerts/{identifier}/close": _INGESTION + " (Opsgenie, key as GenieKey)",
    "POST /v2/alerts/{identifier}/acknowledge": _INGESTION + " (Opsgenie, key as GenieKey)",
    "POST /api/v1/heartbeat/{key}": _INGESTION + " (heartbeat ping)",
    "POST /api/v1/heartbeat": _INGESTION + " (heartbeat ping, key as bearer token)",
    "POST /api/v1/chat/slack/events": "Slack's Events API: Slack proves itself with the request "
    "signature of the app's signing secret, not a user",
}
"""`METHOD path` of PUBLIC routes that check credentials of their own (such as ingestion keys)
and so may refuse a caller without them, with the reason."""

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    """The path template, e.g. /api/v1/users/{user_id}"""
    permissions: frozenset[Permission]
    dummy_path: str

    @property
    def key(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def is_public(self) -> bool:
        return self.permissions == {Permission.PUBLIC}

    def allows(self, role: Role) -> bool:
        return all(p in ROLE_PERMISSIONS[role] for p in self.permissions)


@dataclass
class Inventory:
    endpoints: list[Endpoint] = field(default_factory=list)
    framework: list[str] = field(default_factory=list)
    static_mounts: list[str] = field(default_factory=list)
    undeclared: list[str] = field(default_factory=list)


def declared_permissions(dependant: Dependant) -> set[Permission]:
    """Every `Requires` anywhere in the dependency tree (route, router or sub-dependency)."""
    found = {dependant.call.permission} if isinstance(dependant.call, Requires) else set()
    for sub in dependant.dependencies:
        found |= declared_permissions(sub)
    return found


def _dummy_value(annotation: Any, convertor: str) -> str:
    """A value that parses but names nothing: the route runs its lookup and finds nothing."""
    if annotation is int or convertor == "int":
        return "987654321"
    if annotation is float or convertor == "float":
        return "987654321.5"
    if annotation is uuid.UUID or convertor == "uuid":
        return str(uuid.UUID(int=0))
    return "no-such-thing"


def _fill(path: str, dependant: Dependant) -> str:
    annotations = {p.name: p.field_info.annotation for p in dependant.path_params}

    def value(match: re.Match[str]) -> str:
        name, _, convertor = match.group(1).partition(":")
        return _dummy_value(annotations.get(name), convertor)

    return re.sub(r"{([^}]+)}", value, path)


def _walk(routes: list[BaseRoute], prefix: str, inventory: Inventory) -> None:
    for context in iter_route_contexts(routes):
        route = context.original_route
        if isinstance(route, APIRoute | APIWebSocketRoute):
            path = prefix + str(context.path_format)
            permissions = frozenset(declared_permissions(context.dependant))
            methods = sorted(context.methods or {"WEBSOCKET"})
            for method in methods:
                if not permissions:
                    inventory.undeclared.append(f"{method} {path}")
                    continue
                dummy = _fill(path, context.dependant)
                inventory.endpoints.append(Endpoint(method, path, permissions, dummy))
        elif isinstance(route, Mount | Host):
            mount_path = prefix + str(getattr(context, "path", ""))
            if isinstance(route.app, StaticFiles):
                inventory.static_mounts.append(mount_path)
            elif route.routes:
                _walk(list(route.routes), mount_path, inventory)
            else:
                inventory.undeclared.append(f"mount {mount_path} ({type(route.app).__name__})")
        else:
            path = prefix + str(getattr(context, "path", repr(route)))
            if path in FRAMEWORK_ROUTES:
                inventory.framework.append(path)
            else:
                inventory.undeclared.append(f"{type(route).__name__} {path}")


def inventory_of(app: FastAPI) -> Inventory:
    inventory = Inventory()
    _walk(list(app.routes), "", inventory)
    return inventory


@pytest.fixture(scope="module")
def routes() -> Inventory:
    """The routes of a fully configured application (single sign-on on, so its routes count)."""
    from tocsin.app import create_app

    settings = load_settings(
        database_url="sqlite+aiosqlite:///:memory:",
        oidc_issuer="https://idp.example.test",
        oidc_client_id="tocsin",
    )
    return inventory_of(create_app(settings))


# --- (a) every route declares a permission -------------------------------------------------


def test_every_route_declares_a_permission(routes: Inventory) -> None:
    assert routes.endpoints, "no routes found: the walk over the application is broken"
    assert not routes.undeclared, (
        "these routes have no Depends(Requires(Permission.X)) (public ones use "
        "Permission.PUBLIC): " + ", ".join(routes.undeclared)
    )


def test_framework_routes_are_explicit_decisions(routes: Inventory) -> None:
    assert sorted(routes.framework) == sorted(FRAMEWORK_ROUTES)


async def test_the_api_description_is_public(client: AsyncClient) -> None:
    for path in FRAMEWORK_ROUTES:
        response = await client.get(path)
        assert response.status_code == 200, path
    spec = (await client.get("/openapi.json")).json()
    assert "/api/v1/me" in spec["paths"]


def test_the_walk_sees_router_and_mounted_dependencies() -> None:
    """The walk itself: a permission on an included router, and routes of a mounted app."""
    from fastapi import APIRouter, Depends

    outer = FastAPI()
    guarded = APIRouter(dependencies=[Depends(Requires(Permission.AUDIT_READ))])

    @guarded.get("/guarded/{item_id}")
    async def guarded_route(item_id: int) -> None: ...

    @guarded.get("/open")
    async def forgotten() -> None: ...

    inner = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    @inner.get("/naked")
    async def naked() -> None: ...

    outer.include_router(guarded, prefix="/x")
    outer.mount("/sub", inner)
    inventory = inventory_of(outer)
    keys = {e.key: e for e in inventory.endpoints}
    assert keys["GET /x/guarded/{item_id}"].permissions == {Permission.AUDIT_READ}
    assert keys["GET /x/guarded/{item_id}"].dummy_path == "/x/guarded/987654321"
    assert keys["GET /x/open"].permissions == {Permission.AUDIT_READ}
    assert inventory.undeclared == ["GET /sub/naked"]


# --- (b) the role-by-route matrix ----------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    status: int
    location: str = ""
    error: str = ""


async def probe(app: FastAPI, method: str, path: str, headers: dict[str, str]) -> Outcome:
    """Sends one request and returns as soon as the response starts.

    httpx's ASGI transport waits for the whole body, which never comes from an event stream;
    here the client hangs up once the status is known.
    """
    started: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
    hang_up = asyncio.Event()
    body_sent = False

    async def receive() -> dict[str, Any]:
        nonlocal body_sent
        if not body_sent:
            body_sent = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await hang_up.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start" and not started.done():
            found = dict(message.get("headers") or [])
            location = found.get(b"location", b"").decode()
            started.set_result(Outcome(message["status"], location))

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver")]
        + [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "server": ("testserver", 80),
        "client": ("127.0.0.1", 50000),
    }
    task = asyncio.create_task(app(scope, receive, send))  # type: ignore[arg-type]
    await asyncio.wait({task, started}, return_when=asyncio.FIRST_COMPLETED)
    hang_up.set()
    error = ""
    try:
        async with asyncio.timeout(5):
            await task
    except TimeoutError:
        pass  # a stream that ignores the hang-up; its status is all that matters here
    except Exception:
        error = traceback.format_exc(limit=-3)
    if not started.done():
        return Outcome(500, error=error or "no response")
    outcome = started.result()
    return Outcome(outcome.status, outcome.location, error)


REFUSED = frozenset({401, 403})


def judge(endpoint: Endpoint, caller: str, outcome: Outcome, expect_allowed: bool) -> str | None:
    """A line for the failure report, or None when the outcome is what the matrix says."""
    where = f"{endpoint.key} as {caller} (needs {', '.join(sorted(endpoint.permissions))})"
    if outcome.status >= 500:
        return f"{where}: server error {outcome.status}\n{outcome.error}"
    if expect_allowed:
        if outcome.status in REFUSED and endpoint.key not in SELF_AUTHENTICATED:
            return (
                f"{where}: refused with {outcome.status} although the role has the permission "
                "(a route that needs more than it declares should declare a narrower permission)"
            )
        return None
    if caller == "anonymous":
        if outcome.status == 401:
            return None
        if outcome.status == 303 and outcome.location.startswith("/login?next="):
            return None
        return f"{where}: got {outcome.status}, expected 401 (or a redirect to /login)"
    if outcome.status != 403:
        return f"{where}: got {outcome.status}, expected 403"
    return None


CALLERS = ["anonymous", *[r.value for r in Role]]


@pytest.mark.parametrize("caller", CALLERS)
async def test_role_by_route_matrix(
    caller: str, app: FastAPI, session: AsyncSession, routes: Inventory
) -> None:
    headers: dict[str, str] = {}
    role: Role | None = None
    if caller != "anonymous":
        role = Role(caller)
        headers = (await make_caller(session, role)).headers
    failures = []
    for endpoint in routes.endpoints:
        if endpoint.method == "WEBSOCKET":
            continue
        allowed = endpoint.is_public if role is None else endpoint.allows(role)
        sent = dict(headers)
        if role is None and endpoint.method == "GET":
            sent["accept"] = "text/html,application/xhtml+xml"
        outcome = await probe(app, endpoint.method, endpoint.dummy_path, sent)
        problem = judge(endpoint, caller, outcome, allowed)
        if problem:
            failures.append(problem)
    assert not failures, "\n".join(failures)


async def test_token_scopes_narrow_every_route(
    app: FastAPI, session: AsyncSession, routes: Inventory
) -> None:
    """An admin token scoped to what a route needs may call it; one scope fewer may not."""
    admin = await make_user(session, Role.ADMIN)
    tokens: dict[frozenset[Permission], str] = {}

    async def token(scopes: frozenset[Permission]) -> str:
        if scopes not in tokens:
            issued = await auth.create_token(
                session, Actor.system("test"), user=admin, name="scoped", scopes=scopes
            )
            tokens[scopes] = issued.secret
        return tokens[scopes]

    failures = []
    for endpoint in routes.endpoints:
        needed = frozenset(endpoint.permissions & TOKEN_SCOPES)
        if endpoint.method == "WEBSOCKET" or not needed:
            continue
        for scopes, expect in ((needed, True), (TOKEN_SCOPES - {min(needed)}, False)):
            headers = {"authorization": f"Bearer {await token(frozenset(scopes))}"}
            outcome = await probe(app, endpoint.method, endpoint.dummy_path, headers)
            label = f"admin token scoped to {', '.join(sorted(scopes))}"
            if problem := judge(endpoint, label, outcome, expect):
                failures.append(problem)
    assert not failures, "\n".join(failures)


async def test_every_cookie_authenticated_write_needs_the_csrf_token(
    app: FastAPI, client: AsyncClient, session: AsyncSession, routes: Inventory
) -> None:
    admin = await make_user(session, Role.ADMIN)
    await browser_login(client, admin.email)
    cookie = f"tocsin_session={client.cookies['tocsin_session']}"
    failures = []
    for endpoint in routes.endpoints:
        if endpoint.method not in UNSAFE_METHODS or endpoint.is_public:
            continue
        outcome = await probe(app, endpoint.method, endpoint.dummy_path, {"cookie": cookie})
        if outcome.status != 403:
            failures.append(f"{endpoint.key}: a cookie write without CSRF got {outcome.status}")
    assert not failures, "\n".join(failures)


# --- docs/permissions.md keeps the matrix the code enforces ------------------------------


def permission_table() -> str:
    roles = list(Role)
    head = "| Permission | " + " | ".join(r.value for r in roles) + " |"
    rule = "| --- | " + " | ".join(":---:" for _ in roles) + " |"
    rows = [
        f"| `{p.value}` | "
        + " | ".join("yes" if p in ROLE_PERMISSIONS[r] else "—" for r in roles)
        + " |"
        for p in Permission
    ]
    return "\n".join([head, rule, *rows])


BEGIN, END = "<!-- permission-table:begin -->", "<!-- permission-table:end -->"


def test_the_documented_matrix_is_the_enforced_one() -> None:
    text = DOCS.read_text()
    assert BEGIN in text and END in text, f"{DOCS} lost its table markers"
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    expected = permission_table()
    if os.environ.get("TOCSIN_UPDATE_DOCS") == "1":
        DOCS.write_text(text[:start] + "\n" + expected + "\n" + text[end:])
        return
    assert text[start:end].strip() == expected, (
        "docs/permissions.md is out of date; rerun this test with TOCSIN_UPDATE_DOCS=1 to "
        "rewrite its table, then describe the new permissions in the text"
    )


def test_every_permission_is_described_in_the_docs() -> None:
    text = DOCS.read_text()
    table_end = text.index(END)
    prose = text[table_end:]
    missing = [p.value for p in Permission if f"`{p.value}`" not in prose]
    assert not missing, f"docs/permissions.md does not describe: {', '.join(missing)}"
