"""Static files: our own from the package, front-end packages from node_modules, nothing else."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from httpx import AsyncClient

from tocsin.web import assets


async def test_htmx_is_served_from_node_modules(client: AsyncClient) -> None:
    folder = assets.find_package("htmx.org")
    assert folder is not None, "run npm ci: node_modules/htmx.org is missing"
    response = await client.get("/static/vendor/htmx.org/dist/htmx.min.js")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/javascript")
    assert response.content == (folder / "dist" / "htmx.min.js").read_bytes()
    assert "max-age" in response.headers["cache-control"]


async def test_every_script_and_stylesheet_a_page_links_to_is_served(client: AsyncClient) -> None:
    page = (await client.get("/login")).text
    urls = re.findall(r'(?:src|href)="(/static/[^"]+)"', page)
    assert any("htmx" in u for u in urls) and any("alpine" in u for u in urls)
    assert any(u.startswith("/static/app.css") for u in urls)
    for url in urls:
        response = await client.get(url)
        assert response.status_code == 200, url
        assert "?v=" in url and "missing" not in url  # versioned, so upgrades are refetched


@pytest.mark.parametrize(
    "path",
    [
        "/static/vendor/left-pad/index.js",  # not a dependency of the project
        "/static/vendor/htmx.org/package.json/../../../pyproject.toml",
        "/static/vendor/htmx.org/%2e%2e/%2e%2e/package.json",
        "/static/vendor/htmx.org/README.md",  # only asset types, never docs or sources
        "/static/..%2f..%2fconfig.py",
        "/static/nope.js",
    ],
)
async def test_nothing_outside_the_asset_folders_is_served(client: AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 404


def test_a_path_that_climbs_out_of_its_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "inside").mkdir()
    (tmp_path / "inside" / "ok.js").write_text("1")
    (tmp_path / "secret.js").write_text("2")
    base = tmp_path / "inside"
    assert assets._inside(base, "ok.js") == (base / "ok.js").resolve()
    assert assets._inside(base, "../secret.js") is None
    assert assets._inside(base, "/etc/passwd") is None
    assert assets._inside(base, "") is None


async def test_missing_front_end_packages_are_explained(
    client: AsyncClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A checkout where `npm ci` has not run: pages still work and say what to do."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(assets, "SOURCE_ROOT", tmp_path)
    script = await client.get("/static/vendor/htmx.org/dist/htmx.min.js")
    assert script.status_code == 503
    assert "npm ci" in script.json()["detail"]
    page = await client.get("/login")
    assert page.status_code == 200
    assert "Front-end packages are not installed" in page.text
    assert (await client.get("/static/app.css")).status_code == 200
