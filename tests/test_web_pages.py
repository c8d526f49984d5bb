"""Every page: it renders for a role that may see it, refuses one that may not, and sends
anonymous browsers to the sign-in form."""

from __future__ import annotations

import re

import pytest
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession

from tests.browser.sample import Sample, build
from tests.factories import PASSWORD, browser_login, make_user
from tocsin.auth.models import User
from tocsin.auth.permissions import Role

HTML = {"Accept": "text/html,application/xhtml+xml"}


@pytest.fixture
async def org(session: AsyncSession) -> Sample:
    return await build(session)


async def sign_in(client: AsyncClient, user: User) -> str:
    client.cookies.clear()
    return await browser_login(client, user.email, PASSWORD)


# path, a role that may open it (with what the page must show), a role that may not
PAGES: list[tuple[str, Role, str, Role | None]] = [
    ("/", Role.VIEWER, "Critical services", None),
    ("/services", Role.VIEWER, "Checkout", None),
    ("/services?team=payments&tier=tier-1", Role.STAKEHOLDER, "Payments API", None),
    ("/services/checkout", Role.VIEWER, "Depends on", None),
    ("/services/graph", Role.VIEWER, "dependency-graph", None),
    ("/services/graph?service=checkout&depth=1", Role.COMMUNICATOR, "Checkout", None),
    ("/services/checkout/edit", Role.RESPONDER, "Edit Checkout", Role.VIEWER),
    ("/teams", Role.VIEWER, "Storefront", None),
    ("/teams/storefront", Role.VIEWER, "rui@example.com", None),
    ("/customers", Role.STAKEHOLDER, "Acme Corp", None),
    ("/vendors", Role.VIEWER, "CardCo", None),
    ("/vendors/cardco", Role.VIEWER, "+1 555 0100", None),
    ("/severities", Role.VIEWER, "SEV1", None),
    ("/severities/sev1", Role.STAKEHOLDER, "KPI targets", None),
    ("/severities/sev1/edit", Role.ADMIN, "Save policy", Role.RESPONDER),
    ("/admin/users", Role.RESPONDER, "vic@example.com", Role.VIEWER),
    ("/admin/audit", Role.ADMIN, "catalog.service.create", Role.RESPONDER),
]


def _user(org: Sample, role: Role) -> User | None:
    return {Role.ADMIN: org.admin, Role.RESPONDER: org.responder, Role.VIEWER: org.viewer}.get(role)


async def _as(client: AsyncClient, session: AsyncSession, org: Sample, role: Role) -> None:
    user = _user(org, role) or await make_user(session, role, email=f"{role.value}@example.com")
    await sign_in(client, user)


async def test_anonymous_browsers_are_sent_to_sign_in_from_every_page(
    client: AsyncClient, org: Sample
) -> None:
    for path, *_ in PAGES:
        response = await client.get(path, headers=HTML, follow_redirects=False)
        assert response.status_code == 303, path
        assert response.headers["location"] == "/login?next=" + path.split("?")[0]


async def test_every_page_renders_for_a_role_that_may_open_it(
    client: AsyncClient, session: AsyncSession, org: Sample
) -> None:
    for role in Role:
        pages = [(path, shows) for path, allowed, shows, _ in PAGES if allowed is role]
        if not pages:
            continue
        await _as(client, session, org, role)
        for path, shows in pages:
            page = await client.get(path, headers=HTML)
            assert page.status_code == 200, f"{path} as {role}: {page.text}"
            assert page.headers["content-type"].startswith("text/html")
            assert shows in page.text, f"{path} as {role} does not show {shows!r}"
            assert '<meta name="csrf-token" content="' in page.text
            assert 'aria-label="Main"' in page.text


async def test_pages_refuse_a_role_without_their_permission(
    client: AsyncClient, session: AsyncSession, org: Sample
) -> None:
    for role in Role:
        paths = [path for path, _, _, refused in PAGES if refused is role]
        if not paths:
            continue
        await _as(client, session, org, role)
        for path in paths:
            assert (await client.get(path, headers=HTML)).status_code == 403, (path, role)


async def test_the_navigation_shows_only_what_the_role_may_open(
    client: AsyncClient, org: Sample
) -> None:
    await sign_in(client, org.viewer)
    viewer_page = (await client.get("/")).text
    assert 'href="/services"' in viewer_page
    assert 'href="/severities"' in viewer_page
    assert 'href="/admin/audit"' not in viewer_page
    assert 'href="/admin/users"' not in viewer_page

    await sign_in(client, org.admin)
    admin_page = (await client.get("/services")).text
    assert 'href="/admin/audit"' in admin_page
    current = re.findall(r'<a href="([^"]+)" aria-current="page">', admin_page)
    assert current == ["/services"]


async def test_the_edit_button_is_shown_only_to_who_may_save(
    client: AsyncClient, session: AsyncSession, org: Sample
) -> None:
    await sign_in(client, org.responder)  # leads storefront, which owns checkout, not payments
    assert 'href="/services/checkout/edit"' in (await client.get("/services/checkout")).text
    assert 'href="/services/payments/edit"' not in (await client.get("/services/payments")).text
    assert (await client.get("/services/payments/edit")).status_code == 403
    await sign_in(client, org.viewer)
    assert 'href="/services/checkout/edit"' not in (await client.get("/services/checkout")).text


async def test_unknown_things_are_not_found(client: AsyncClient, org: Sample) -> None:
    await sign_in(client, org.viewer)
    for path in ("/services/nope", "/teams/nope", "/vendors/nope", "/severities/nope"):
        assert (await client.get(path)).status_code == 404, path


async def test_filters_narrow_the_services_list(client: AsyncClient, org: Sample) -> None:
    await sign_in(client, org.viewer)
    by_team = (await client.get("/services", params={"team": "payments"})).text
    assert "Payments API" in by_team and "Ledger" in by_team and "Checkout" not in by_team
    by_tag = (await client.get("/services", params={"tag": "pci"})).text
    assert "Payments API" in by_tag and "Ledger" not in by_tag
    by_tier = (await client.get("/services", params={"tier": "tier-4"})).text
    assert "Recommendations" in by_tier and "Web shop" not in by_tier
    unknown = await client.get("/services", params={"team": "ghosts", "tier": "tier-9"})
    assert unknown.status_code == 200
    assert "There is no team" in unknown.text and "There is no tier" in unknown.text
    assert "Checkout" in unknown.text


async def test_the_service_page_shows_who_is_hurt_when_it_fails(
    client: AsyncClient, org: Sample
) -> None:
    await sign_in(client, org.viewer)
    page = (await client.get("/services/payments")).text
    blast = page[page.index("If it fails") :]
    assert "checkout" in blast and "web" in blast  # fail with it, through hard edges
    assert "Acme Corp" in blast  # uses web, which fails with payments
    assert "cardco" in blast  # backs payments: the vendor to call
