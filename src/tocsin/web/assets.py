"""Static files: our own CSS/JS from the package, front-end packages from node_modules.

Third-party JavaScript is never copied into the repository: `npm ci` installs the exact
versions of package-lock.json into ./node_modules, and this module serves them from there at
run time. When they are missing, pages still render (server-side) and say how to install them.
"""

from __future__ import annotations

import hashlib
import json
import mimetypes
from functools import lru_cache
from pathlib import Path

from fastapi import APIRouter, Depends
from fastapi.responses import FileResponse, Response

from tocsin.auth.dependencies import Requires
from tocsin.auth.permissions import Permission
from tocsin.errors import NotFound, ProblemError

STATIC_DIR = Path(__file__).parent / "static"
SOURCE_ROOT = Path(__file__).resolve().parents[3]
"""The checkout this package runs from (src layout, editable install)."""

VENDOR_FILES: dict[str, str] = {
    "htmx": "htmx.org/dist/htmx.min.js",
    "alpine": "alpinejs/dist/cdn.min.js",
    "cytoscape": "cytoscape/dist/cytoscape.min.js",
    "chartjs": "chart.js/dist/chart.umd.min.js",
}
"""The front-end files pages load, by short name; each path starts with its npm package."""

_ALLOWED_SUFFIXES = frozenset({".js", ".mjs", ".css", ".map", ".json", ".woff2", ".svg"})
_OWN_CACHE = "public, max-age=300"
_VENDOR_CACHE = "public, max-age=86400"

router = APIRouter(include_in_schema=False)


class AssetsMissing(ProblemError):
    def __init__(self, package: str) -> None:
        super().__init__(
            503,
            "Front-end packages are not installed",
            f"{package} was not found in node_modules: run `npm ci` (or `make setup`) "
            "in the project directory, then reload the page",
        )


def node_modules_dirs() -> list[Path]:
    """Where `npm ci` may have put the packages: the working directory, then the checkout."""
    candidates = [Path.cwd() / "node_modules", SOURCE_ROOT / "node_modules"]
    unique: list[Path] = []
    for path in candidates:
        if path not in unique:
            unique.append(path)
    return unique


def _declared_packages() -> frozenset[str]:
    """Only packages the project depends on are served, never the rest of node_modules."""
    return frozenset(spec.split("/dist/")[0] for spec in VENDOR_FILES.values())


def find_package(package: str) -> Path | None:
    if package not in _declared_packages():
        return None
    for base in node_modules_dirs():
        folder = base / package
        if (folder / "package.json").is_file():
            return folder
    return None


def _inside(base: Path, relative: str) -> Path | None:
    """Resolves `relative` under `base`, refusing anything that climbs out of it."""
    if not relative or "\\" in relative or relative.startswith("/"):
        return None
    target = (base / relative).resolve()
    root = base.resolve()
    if not target.is_relative_to(root) or not target.is_file():
        return None
    if target.suffix not in _ALLOWED_SUFFIXES:
        return None
    return target


def missing_vendor_packages() -> list[str]:
    return sorted(p for p in _declared_packages() if find_package(p) is None)


@lru_cache(maxsize=64)
def _package_version(folder: Path) -> str:
    try:
        return str(json.loads((folder / "package.json").read_text())["version"])
    except (OSError, ValueError, KeyError):
        return "0"


def vendor_url(name: str) -> str:
    """URL of a front-end file by short name, versioned so browsers refetch after an upgrade."""
    spec = VENDOR_FILES[name]
    package, _, _ = spec.partition("/dist/")
    folder = find_package(package)
    version = _package_version(folder) if folder else "missing"
    return f"/static/vendor/{spec}?v={version}"


def _digest(path: Path) -> str:
    stat = path.stat()
    return _digest_cached(path, stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=64)
def _digest_cached(path: Path, mtime_ns: int, size: int) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:10]


def static_url(name: str) -> str:
    path = STATIC_DIR / name
    version = _digest(path) if path.is_file() else "missing"
    return f"/static/{name}?v={version}"


def _file(path: Path, cache: str) -> Response:
    media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    if path.suffix in {".js", ".mjs"}:
        media_type = "text/javascript"
    return FileResponse(
        path,
        media_type=media_type,
        headers={"Cache-Control": cache, "X-Content-Type-Options": "nosniff"},
    )


def _split_vendor_path(path: str) -> tuple[str, str]:
    """`@scope/name/file` or `name/file` → (package, file inside it)."""
    parts = path.split("/")
    count = 2 if parts[0].startswith("@") else 1
    return "/".join(parts[:count]), "/".join(parts[count:])


@router.get("/static/vendor/{path:path}", dependencies=[Depends(Requires(Permission.PUBLIC))])
async def vendor_asset(path: str) -> Response:
    package, inner = _split_vendor_path(path)
    if package not in _declared_packages():
        raise NotFound("front-end package", package)
    folder = find_package(package)
    if folder is None:
        raise AssetsMissing(package)
    target = _inside(folder, inner)
    if target is None:
        raise NotFound("file", path)
    return _file(target, _VENDOR_CACHE)


@router.get("/static/{path:path}", dependencies=[Depends(Requires(Permission.PUBLIC))])
async def own_asset(path: str) -> Response:
    target = _inside(STATIC_DIR, path)
    if target is None:
        raise NotFound("file", path)
    return _file(target, _OWN_CACHE)
