"""What the public sees: Statuspage-compatible JSON, the HTML page and the feeds, rendered
once per change and served from memory.

Each answer is cached per node under the page's `version` (bumped in the transaction of every
change) and today's date (the uptime bars move at midnight). The version itself is read from
the database at most once a second per node (see `freshness`), so a request usually touches no
database at all. The bytes, their ETag and a 304 come from memory. Nothing about
Tocsin incidents is read here: only what was published on the status page.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from xml.etree import ElementTree as ET

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from tocsin.clock import utcnow
from tocsin.statuspage import rules, service
from tocsin.statuspage.models import (
    Component,
    ComponentGroup,
    StatusIncident,
    StatusIncidentUpdate,
    StatusPage,
)

JSON_DOCUMENTS = (
    "summary",
    "status",
    "components",
    "incidents",
    "incidents/unresolved",
    "scheduled-maintenances",
    "scheduled-maintenances/upcoming",
    "scheduled-maintenances/active",
)


Headers = tuple[tuple[bytes, bytes], ...]


@dataclass(frozen=True)
class Rendered:
    """An answer ready for the wire: the framework's route and the fast path (see `fastpath`)
    send these very header lists, so the two cannot drift apart."""

    key: tuple[int, int, str]
    body: bytes
    etag: str
    media_type: str
    ok: Headers = ()
    """the 200's headers, in the order the framework's `Response` would put them"""
    not_modified: Headers = ()
    """the 304's: the same but for the body's length and type"""

    def matches(self, if_none_match: str | None) -> bool:
        """Whether a request's `If-None-Match` names this answer (so it gets a 304)."""
        return self.etag in [t.strip() for t in (if_none_match or "").split(",")]


Cache = dict[tuple[str, str], Rendered]
"""One per application instance (kept on `app.state`), so each node and each test app has
its own."""


def _iso(at: datetime | None) -> str | None:
    return None if at is None else at.isoformat().replace("+00:00", "Z")


@dataclass
class Snapshot:
    """Everything one page shows, read in one go."""

    page: StatusPage
    groups: list[ComponentGroup]
    components: list[Component]
    incidents: list[StatusIncident]
    updates: dict[int, list[StatusIncidentUpdate]]


async def _snapshot(session: AsyncSession, page: StatusPage) -> Snapshot:
    incidents, updates = await service.incidents_of(session, page.id, limit=50)
    return Snapshot(
        page,
        await service.groups_of(session, page.id),
        await service.components_of(session, page.id),
        incidents,
        updates,
    )


# --- Statuspage API v2 shapes ------------------------------------------------------------


def _page_json(s: Snapshot) -> dict[str, Any]:
    return {
        "id": s.page.slug,
        "name": s.page.name,
        "url": service.public_url(s.page),
        "time_zone": s.page.time_zone,
        "updated_at": _iso(s.page.updated_at),
    }


def _components_json(s: Snapshot) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    members: dict[int, list[str]] = {}
    for c in s.components:
        if c.group_id is not None:
            members.setdefault(c.group_id, []).append(str(c.id))
    for g in s.groups:
        states = [c.status for c in s.components if c.group_id == g.id] or ["operational"]
        worst = max(states, key=rules.severity_rank)
        out.append(
            {
                "id": f"g{g.id}",
                "name": g.name,
                "status": worst,
                "created_at": _iso(g.created_at),
                "updated_at": _iso(g.updated_at),
                "position": g.position,
                "description": g.description or None,
                "showcase": False,
                "start_date": None,
                "group_id": None,
                "page_id": s.page.slug,
                "group": True,
                "only_show_if_degraded": False,
                "components": members.get(g.id, []),
            }
        )
    for c in s.components:
        out.append(
            {
                "id": str(c.id),
                "name": c.name,
                "status": c.status,
                "created_at": _iso(c.created_at),
                "updated_at": _iso(c.updated_at),
                "position": c.position,
                "description": c.description or None,
                "showcase": True,
                "start_date": None if c.start_date is None else c.start_date.date().isoformat(),
                "group_id": None if c.group_id is None else f"g{c.group_id}",
                "page_id": s.page.slug,
                "group": False,
                "only_show_if_degraded": c.only_show_if_degraded,
            }
        )
    return out


def _incident_json(s: Snapshot, row: StatusIncident) -> dict[str, Any]:
    by_id = {c.id: c for c in s.components}
    updates = s.updates.get(row.id, [])
    data: dict[str, Any] = {
        "id": str(row.id),
        "name": row.name,
        "status": row.status,
        "created_at": _iso(row.created_at),
        "updated_at": _iso(updates[0].at if updates else row.updated_at),
        "monitoring_at": _iso(row.monitoring_at),
        "resolved_at": _iso(row.resolved_at),
        "impact": row.impact,
        "shortlink": f"{service.public_url(s.page)}#incident-{row.id}",
        "started_at": _iso(row.started_at),
        "page_id": s.page.slug,
        "incident_updates": [
            {
                "id": str(u.id),
                "status": u.status,
                "body": u.body,
                "incident_id": str(row.id),
                "created_at": _iso(u.at),
                "updated_at": _iso(u.at),
                "display_at": _iso(u.at),
                "affected_components": list(u.affected_components) or None,
                "deliver_notifications": True,
                "custom_tweet": None,
                "tweet_id": None,
            }
            for u in updates
        ],
        "components": [
            {
                "id": str(c.id),
                "name": c.name,
                "status": c.status,
                "created_at": _iso(c.created_at),
                "updated_at": _iso(c.updated_at),
                "position": c.position,
                "description": c.description or None,
                "showcase": True,
                "start_date": None if c.start_date is None else c.start_date.date().isoformat(),
                "group_id": None if c.group_id is None else f"g{c.group_id}",
                "page_id": s.page.slug,
                "group": False,
                "only_show_if_degraded": c.only_show_if_degraded,
            }
            for c in (by_id.get(int(i)) for i in row.component_ids)
            if c is not None
        ],
    }
    if row.kind == "maintenance":
        data["scheduled_for"] = _iso(row.scheduled_for)
        data["scheduled_until"] = _iso(row.scheduled_until)
    return data


def _incidents(s: Snapshot, kind: str, statuses: frozenset[str] | None = None) -> list[Any]:
    return [
        _incident_json(s, r)
        for r in s.incidents
        if r.kind == kind and (statuses is None or r.status in statuses)
    ]


def _status_json(s: Snapshot) -> dict[str, str]:
    open_impacts = [
        r.impact for r in s.incidents if r.kind == "incident" and r.status in rules.UNRESOLVED
    ]
    maintenance = any(
        r.kind == "maintenance" and r.status in rules.ACTIVE_MAINTENANCE for r in s.incidents
    )
    level, description = rules.indicator(
        [c.status for c in s.components], open_impacts, maintenance
    )
    return {"indicator": level, "description": description}


UPCOMING = frozenset({"scheduled"})
ACTIVE = frozenset({"in_progress", "verifying"})
UNRESOLVED = frozenset(rules.UNRESOLVED)


def document(s: Snapshot, name: str) -> dict[str, Any]:
    page = _page_json(s)
    if name == "summary":
        return {
            "page": page,
            "components": _components_json(s),
            "incidents": _incidents(s, "incident", UNRESOLVED),
            "scheduled_maintenances": _incidents(s, "maintenance", UPCOMING | ACTIVE),
            "status": _status_json(s),
        }
    if name == "status":
        return {"page": page, "status": _status_json(s)}
    if name == "components":
        return {"page": page, "components": _components_json(s)}
    if name == "incidents":
        return {"page": page, "incidents": _incidents(s, "incident")}
    if name == "incidents/unresolved":
        return {"page": page, "incidents": _incidents(s, "incident", UNRESOLVED)}
    maintenances = {
        "scheduled-maintenances": None,
        "scheduled-maintenances/upcoming": UPCOMING,
        "scheduled-maintenances/active": ACTIVE,
    }
    return {
        "page": page,
        "scheduled_maintenances": _incidents(s, "maintenance", maintenances[name]),
    }


# --- feeds -------------------------------------------------------------------------------


def _entry_text(s: Snapshot, row: StatusIncident) -> str:
    return "\n".join(
        f"<p><small>{u.at:%b %d, %H:%M} UTC</small><br><strong>"
        f"{rules.LABELS.get(u.status, u.status)}</strong> - {_escape(u.body)}</p>"
        for u in s.updates.get(row.id, [])
    )


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def rss(s: Snapshot) -> bytes:
    root = ET.Element("rss", version="2.0")
    channel = ET.SubElement(root, "channel")
    ET.SubElement(channel, "title").text = f"{s.page.name} Status - Incident History"
    ET.SubElement(channel, "link").text = service.public_url(s.page)
    ET.SubElement(channel, "description").text = f"Statuspage updates for {s.page.name}"
    for row in s.incidents:
        item = ET.SubElement(channel, "item")
        ET.SubElement(item, "title").text = row.name
        ET.SubElement(item, "description").text = _entry_text(s, row)
        updates = s.updates.get(row.id, [])
        at = updates[0].at if updates else row.started_at
        ET.SubElement(item, "pubDate").text = at.strftime("%a, %d %b %Y %H:%M:%S +0000")
        ET.SubElement(item, "link").text = f"{service.public_url(s.page)}#incident-{row.id}"
        ET.SubElement(item, "guid", isPermaLink="false").text = f"{s.page.slug}-incident-{row.id}"
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="utf-8")


ATOM = "http://www.w3.org/2005/Atom"


def atom(s: Snapshot) -> bytes:
    ET.register_namespace("", ATOM)
    root = ET.Element(f"{{{ATOM}}}feed")
    url = service.public_url(s.page)
    ET.SubElement(root, f"{{{ATOM}}}id").text = f"tag:tocsin,2026:{s.page.slug}:history"
    ET.SubElement(root, f"{{{ATOM}}}title").text = f"{s.page.name} Status - Incident History"
    ET.SubElement(root, f"{{{ATOM}}}link", rel="alternate", type="text/html", href=url)
    ET.SubElement(root, f"{{{ATOM}}}updated").text = _iso(s.page.updated_at)
    for row in s.incidents:
        entry = ET.SubElement(root, f"{{{ATOM}}}entry")
        updates = s.updates.get(row.id, [])
        at = updates[0].at if updates else row.started_at
        ET.SubElement(entry, f"{{{ATOM}}}id").text = f"tag:tocsin,2026:{s.page.slug}:{row.id}"
        ET.SubElement(entry, f"{{{ATOM}}}published").text = _iso(row.started_at)
        ET.SubElement(entry, f"{{{ATOM}}}updated").text = _iso(at)
        ET.SubElement(
            entry,
            f"{{{ATOM}}}link",
            rel="alternate",
            type="text/html",
            href=f"{url}#incident-{row.id}",
        )
        ET.SubElement(entry, f"{{{ATOM}}}title").text = row.name
        ET.SubElement(entry, f"{{{ATOM}}}content", type="html").text = _entry_text(s, row)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="utf-8")


# --- HTML context ------------------------------------------------------------------------


async def html_context(session: AsyncSession, s: Snapshot) -> dict[str, Any]:
    now = utcnow()
    history = await service.component_history(session, [c.id for c in s.components])
    rows: list[dict[str, Any]] = []
    for c in s.components:
        if c.only_show_if_degraded and c.status == "operational":
            continue
        days = rules.daily_uptime(history.get(c.id, []), now)
        rows.append({"component": c, "days": days, "uptime": rules.overall_uptime(days)})
    grouped: list[dict[str, Any]] = []
    for g in s.groups:
        members = [r for r in rows if r["component"].group_id == g.id]
        if members:
            grouped.append({"name": g.name, "rows": members})
    loose = [r for r in rows if r["component"].group_id is None]
    if loose:
        grouped.insert(0, {"name": None, "rows": loose})
    status = _status_json(s)
    return {
        "page": s.page,
        "public_url": service.public_url(s.page),
        "base_path": "/status" if s.page.is_default else f"/status/{s.page.slug}",
        "status": status,
        "sections": grouped,
        "active": [r for r in s.incidents if r.kind == "incident" and r.status in UNRESOLVED],
        "maintenances": [
            r for r in s.incidents if r.kind == "maintenance" and r.status in UPCOMING | ACTIVE
        ],
        "past": [r for r in s.incidents if r.kind == "incident" and r.status not in UNRESOLVED][
            :10
        ],
        "updates": s.updates,
        "components": {c.id: c for c in s.components},
        "labels": rules.LABELS,
        "rendered_at": now,
    }


# --- the cache ---------------------------------------------------------------------------


async def current(session: AsyncSession, slug: str | None) -> tuple[int, int] | None:
    """(page id, version) of the page: the one read a cached answer costs."""
    query = sa.select(StatusPage.id, StatusPage.version)
    query = (
        query.where(StatusPage.is_default.is_(True))
        if slug is None
        else query.where(StatusPage.slug == slug)
    )
    row = (await session.execute(query)).first()
    return None if row is None else (int(row[0]), int(row[1]))


def cached(
    cache: Cache, slug: str | None, variant: str, key: tuple[int, int, str]
) -> Rendered | None:
    hit = cache.get((slug or "", variant))
    return hit if hit is not None and hit.key == key else None


def store(
    cache: Cache,
    slug: str | None,
    variant: str,
    key: tuple[int, int, str],
    body: bytes,
    media_type: str,
    headers: dict[str, str] | None = None,
) -> Rendered:
    """Keeps the answer with its ETag and its wire headers: `headers` first (as given), then
    for the 200 its length and type."""
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    common = tuple(
        (name.lower().encode("latin-1"), value.encode("latin-1"))
        for name, value in {"ETag": etag, **(headers or {})}.items()
    )
    ok = (
        *common,
        (b"content-length", str(len(body)).encode()),
        (b"content-type", media_type.encode("latin-1")),
    )
    rendered = Rendered(key, body, etag, media_type, ok, common)
    cache[(slug or "", variant)] = rendered
    return rendered


async def load(session: AsyncSession, page_id: int) -> Snapshot:
    page = await session.get(StatusPage, page_id)
    assert page is not None
    return await _snapshot(session, page)


def to_json(data: dict[str, Any]) -> bytes:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()
