"""Public routes: the status page, its feeds, the Statuspage-compatible JSON API and the
subscription links. No login; every answer but the subscription forms comes from the render
cache with an ETag, and a matching If-None-Match gets 304 without a body."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from tocsin.auth.dependencies import Requires
from tocsin.auth.permissions import Permission
from tocsin.auth.principal import Principal
from tocsin.clock import utcnow
from tocsin.db.session import get_session
from tocsin.errors import Invalid, NotFound
from tocsin.statuspage import fastpath, freshness, public, service
from tocsin.statuspage.models import StatusPage
from tocsin.web.templating import templates

router = APIRouter(tags=["public status page"])

PUBLIC = Depends(Requires(Permission.PUBLIC))
DB = Depends(get_session)
CACHE_CONTROL = "public, max-age=10, stale-while-revalidate=30"
JSON = "application/json; charset=utf-8"


async def _answer(
    request: Request,
    slug: str | None,
    variant: str,
    media_type: str,
    build: Callable[[AsyncSession, public.Snapshot], Awaitable[bytes]],
) -> Response:
    """The cached bytes for the page's current version; the database is read only when this
    node's memo of the version has lapsed, and the page rendered only when it changed."""
    shared = fastpath.tables(request.app)
    memos, cache = shared.memos, shared.cache
    found = freshness.recall(memos, slug)
    hit = None
    if found is not None:
        hit = public.cached(cache, slug, variant, (*found, utcnow().date().isoformat()))
    if hit is None:
        async with request.app.state.sessionmaker() as session:
            seen = freshness.commits()
            found = await public.current(session, slug)
            if found is None:
                raise NotFound("status page", slug or "(default)")
            freshness.remember(memos, slug, found, seen)
            key = (*found, utcnow().date().isoformat())
            hit = public.cached(cache, slug, variant, key)
            if hit is None:
                snapshot = await public.load(session, found[0])
                body = await build(session, snapshot)
                hit = public.store(cache, slug, variant, key, body, media_type, _headers(variant))
    fastpath.learn(request.scope, slug, variant)
    if hit.matches(request.headers.get("if-none-match")):
        return _wire(304, b"", hit.not_modified)
    return _wire(200, hit.body, hit.ok)


def _headers(variant: str) -> dict[str, str]:
    headers = {"Cache-Control": CACHE_CONTROL, "Vary": "Accept-Encoding"}
    if variant.startswith("api:"):
        headers["Access-Control-Allow-Origin"] = "*"
    return headers


def _wire(status: int, body: bytes, headers: public.Headers) -> Response:
    """The stored header list as it is, the one the fast path sends too."""
    response = Response(body, status_code=status)
    response.raw_headers = list(headers)
    return response


def _html_builder(request: Request) -> Callable[..., Awaitable[bytes]]:
    async def build(session: AsyncSession, snapshot: public.Snapshot) -> bytes:
        context = await public.html_context(session, snapshot)
        template = templates.get_template("statuspage/public.html")
        return template.render(request=request, **context).encode()

    return build


def _json_builder(name: str) -> Callable[..., Awaitable[bytes]]:
    async def build(session: AsyncSession, snapshot: public.Snapshot) -> bytes:
        return public.to_json(public.document(snapshot, name))

    return build


async def _rss(session: AsyncSession, snapshot: public.Snapshot) -> bytes:
    return public.rss(snapshot)


async def _atom(session: AsyncSession, snapshot: public.Snapshot) -> bytes:
    return public.atom(snapshot)


RSS = "application/rss+xml; charset=utf-8"
ATOM = "application/atom+xml; charset=utf-8"


# The feeds and subscription routes come before /status/{slug} so their names are not slugs.


@router.get("/status/history.rss", summary="Incident history as RSS (default page)")
@fastpath.serves_cache
async def rss_default(request: Request, _: Principal = PUBLIC) -> Response:
    return await _answer(request, None, "rss", RSS, _rss)


@router.get("/status/history.atom", summary="Incident history as Atom (default page)")
@fastpath.serves_cache
async def atom_default(request: Request, _: Principal = PUBLIC) -> Response:
    return await _answer(request, None, "atom", ATOM, _atom)


@router.get("/status", response_class=HTMLResponse, summary="The public status page")
@fastpath.serves_cache
async def page_default(request: Request, _: Principal = PUBLIC) -> Response:
    return await _answer(request, None, "html", "text/html; charset=utf-8", _html_builder(request))


@router.get("/status/{slug}", response_class=HTMLResponse, summary="A named public status page")
@fastpath.serves_cache
async def page_named(request: Request, slug: str, _: Principal = PUBLIC) -> Response:
    return await _answer(request, slug, "html", "text/html; charset=utf-8", _html_builder(request))


@router.get("/status/{slug}/history.rss", summary="Incident history as RSS")
@fastpath.serves_cache
async def rss_named(request: Request, slug: str, _: Principal = PUBLIC) -> Response:
    return await _answer(request, slug, "rss", RSS, _rss)


@router.get("/status/{slug}/history.atom", summary="Incident history as Atom")
@fastpath.serves_cache
async def atom_named(request: Request, slug: str, _: Principal = PUBLIC) -> Response:
    return await _answer(request, slug, "atom", ATOM, _atom)


def _json_routes(prefix: str, named: bool) -> None:
    for name in public.JSON_DOCUMENTS:
        path = f"{prefix}/api/v2/{name}.json"

        def make(document: str) -> Callable[..., Awaitable[Response]]:
            if named:

                async def named_route(
                    request: Request, slug: str, _: Principal = PUBLIC
                ) -> Response:
                    return await _answer(
                        request, slug, f"api:{document}", JSON, _json_builder(document)
                    )

                return named_route

            async def default_route(request: Request, _: Principal = PUBLIC) -> Response:
                return await _answer(
                    request, None, f"api:{document}", JSON, _json_builder(document)
                )

            return default_route

        router.add_api_route(
            path,
            fastpath.serves_cache(make(name)),
            methods=["GET"],
            summary=f"Statuspage API v2: {name}.json",
            tags=["public status page"],
        )


_json_routes("", named=False)
_json_routes("/status/{slug}", named=True)


# --- subscriptions -----------------------------------------------------------------------


def _message(request: Request, title: str, text: str, status: int = 200) -> HTMLResponse:
    html = templates.get_template("statuspage/message.html").render(
        request=request, title=title, text=text, form=None
    )
    return HTMLResponse(html, status_code=status)


async def _subscribe(
    request: Request,
    session: AsyncSession,
    page: StatusPage,
    email: str,
    webhook: str,
    components: list[str],
) -> Response:
    try:
        ids = [int(c) for c in components if c]
    except ValueError:
        raise Invalid("components", "must be component ids") from None
    row = await service.subscribe(
        session, page, email=email or None, webhook=webhook or None, component_ids=ids
    )
    if "application/json" in request.headers.get("accept", ""):
        return Response(
            public.to_json(
                {
                    "mode": row.mode,
                    "confirmed": row.confirmed_at is not None,
                    **({"secret": row.secret} if row.mode == "webhook" else {}),
                }
            ),
            status_code=202,
            media_type=JSON,
        )
    if row.mode == "email":
        return _message(
            request,
            "Check your inbox",
            f"We sent a confirmation link to {row.address}. Updates start once you confirm.",
            202,
        )
    return _message(
        request,
        "Subscribed",
        f"The webhook will receive every update, signed with this secret: {row.secret}",
        202,
    )


@router.post("/status/subscribe", summary="Subscribe to the default page (form or JSON)")
async def subscribe_default(
    request: Request,
    email: str = Form(default="", max_length=320),
    webhook: str = Form(default="", max_length=2000),
    components: list[str] = Form(default_factory=list),
    _: Principal = PUBLIC,
    session: AsyncSession = DB,
) -> Response:
    page = await service.default_page(session)
    if page is None:
        raise NotFound("status page", "(default)")
    return await _subscribe(request, session, page, email, webhook, components)


@router.get("/status/confirm/{token}", summary="Confirm an e-mail subscription (double opt-in)")
async def confirm(
    request: Request, token: str, _: Principal = PUBLIC, session: AsyncSession = DB
) -> Response:
    await service.confirm(session, token)
    return _message(request, "Subscription confirmed", "You will receive status updates by e-mail.")


@router.get("/status/unsubscribe/{token}", summary="The unsubscribe form")
async def unsubscribe_form(request: Request, token: str, _: Principal = PUBLIC) -> Response:
    html = templates.get_template("statuspage/message.html").render(
        request=request,
        title="Unsubscribe",
        text="Stop receiving status updates?",
        form=f"/status/unsubscribe/{token}",
    )
    return HTMLResponse(html)


@router.post("/status/unsubscribe/{token}", summary="Unsubscribe (one click from any message)")
async def unsubscribe(
    request: Request, token: str, _: Principal = PUBLIC, session: AsyncSession = DB
) -> Response:
    await service.unsubscribe(session, token)
    return _message(request, "Unsubscribed", "You will not receive further updates.")


@router.post("/status/{slug}/subscribe", summary="Subscribe to a named page (form or JSON)")
async def subscribe_named(
    request: Request,
    slug: str,
    email: str = Form(default="", max_length=320),
    webhook: str = Form(default="", max_length=2000),
    components: list[str] = Form(default_factory=list),
    _: Principal = PUBLIC,
    session: AsyncSession = DB,
) -> Response:
    page = await service.page_row(session, slug)
    return await _subscribe(request, session, page, email, webhook, components)


fastpath.PUBLIC_ROUTES[:] = router.routes
