"""Status pages as configuration as code (`tocsin apply` / export): the `StatusPage` kind.

A document states a page's layout, which changes seldom and deserves review: its name, its
groups and components (each mapped to a catalog service by slug) in display order, and which
kinds of subscription the public may make. What happens on the page at run time stays out of
files: component states, incidents, maintenances and the subscribers themselves (people sign
up and leave on their own; their addresses are not configuration).

Groups and components have no slug of their own, so a file names them, and apply matches them
to the stored ones by name within the page: renaming one in a file replaces it (a new
component starts `operational` with a fresh uptime history). Given, `groups` and `components`
become exactly what the file says; left out, they are left alone.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa
from pydantic import BaseModel, Field, field_validator, model_validator
from sqlalchemy.ext.asyncio import AsyncSession

from tocsin.audit import service as audit
from tocsin.audit.service import Actor
from tocsin.audit.snapshot import snapshot
from tocsin.catalog.models import Service
from tocsin.clock import utcnow
from tocsin.manifest.handler import KindHandler, Reference
from tocsin.schemas import Input
from tocsin.statuspage import service
from tocsin.statuspage.models import Component, ComponentGroup, ComponentStatusChange, StatusPage
from tocsin.statuspage.schemas import Name, Slug


class ComponentSpec(Input):
    name: Name
    description: str = Field(default="", max_length=2000)
    service: str | None = None
    """slug of the catalog service behind the component"""
    only_show_if_degraded: bool = False


def _unique_names(items: Iterable[Any], what: str) -> None:
    seen: set[str] = set()
    for item in items:
        if item.name in seen:
            raise ValueError(f"two {what} are named {item.name!r}; names must be unique")
        seen.add(item.name)


class GroupSpec(Input):
    name: Name
    description: str = Field(default="", max_length=2000)
    components: list[ComponentSpec] = Field(default_factory=list)


class SubscriptionsSpec(Input):
    email: bool = True
    """the public may subscribe by e-mail (double opt-in)"""
    webhook: bool = True
    """the public may subscribe a webhook"""


class StatusPageSpec(Input):
    """The `StatusPage` kind (the slug is `metadata.slug`)."""

    slug: Slug
    name: Name
    url: str = Field(default="", max_length=2000)
    time_zone: str = Field(default="Etc/UTC", max_length=64)
    default: bool | None = None
    """true: this page is the one at /status (the role moves from the page that had it);
    there is always one default page, so false or nothing leaves the role where it is"""
    subscriptions: SubscriptionsSpec = Field(default_factory=SubscriptionsSpec)
    groups: list[GroupSpec] | None = None
    components: list[ComponentSpec] | None = None
    """components outside any group"""

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (use an IANA name)") from None
        return value

    @field_validator("url")
    @classmethod
    def _web_address(cls, value: str) -> str:
        if value and not value.startswith(("https://", "http://")):
            raise ValueError("must be an http(s) URL")
        return value

    @model_validator(mode="after")
    def _names_unique(self) -> StatusPageSpec:
        # Apply matches groups and components by name, so a name must say which one it is.
        _unique_names(self.groups or [], "groups")
        _unique_names(
            [
                *(c for g in self.groups or [] for c in g.components),
                *(self.components or []),
            ],
            "components",
        )
        return self


class StatusPageHandler(KindHandler):
    kind = "StatusPage"
    plural = "status_pages"
    spec_model = StatusPageSpec

    def references(self, spec: Any) -> Iterable[Reference]:
        for i, group in enumerate(spec.groups or []):
            for j, component in enumerate(group.components):
                if component.service:
                    path = ("groups", i, "components", j, "service")
                    yield Reference("Service", component.service, path)
        for j, component in enumerate(spec.components or []):
            if component.service:
                yield Reference("Service", component.service, ("components", j, "service"))

    def canonical(self, spec: BaseModel) -> dict[str, Any]:
        out = spec.model_dump(mode="json")
        out["default"] = out.get("default") or None
        return out

    def comparable(self, canonical: dict[str, Any], desired: dict[str, Any]) -> dict[str, Any]:
        # What a file leaves out stays as it is, so it is no difference either.
        return {
            k: v
            for k, v in canonical.items()
            if not (k in ("default", "groups", "components") and desired.get(k) is None)
        }

    async def existing(self, session: AsyncSession) -> dict[str, BaseModel]:
        slugs = {
            row.id: row.slug for row in await session.execute(sa.select(Service.id, Service.slug))
        }
        out: dict[str, BaseModel] = {}
        for page in await session.scalars(sa.select(StatusPage).order_by(StatusPage.slug)):
            components = await service.components_of(session, page.id)

            def spec_of(c: Component) -> dict[str, Any]:
                return {
                    "name": c.name,
                    "description": c.description,
                    "service": slugs.get(c.service_id) if c.service_id else None,
                    "only_show_if_degraded": c.only_show_if_degraded,
                }

            groups = [
                {
                    "name": g.name,
                    "description": g.description,
                    "components": [spec_of(c) for c in components if c.group_id == g.id],
                }
                for g in await service.groups_of(session, page.id)
            ]
            data: dict[str, Any] = {
                "slug": page.slug,
                "name": page.name,
                "url": page.url,
                "time_zone": page.time_zone,
                "default": page.is_default or None,
                "subscriptions": {
                    "email": page.email_subscriptions,
                    "webhook": page.webhook_subscriptions,
                },
                "groups": groups,
                "components": [spec_of(c) for c in components if c.group_id is None],
            }
            try:
                out[page.slug] = StatusPageSpec.model_validate(data)
            except ValueError:
                # Made through the API with names a file could not hold (two components
                # alike): compared and exported as stored, matched by name on apply.
                out[page.slug] = StatusPageSpec.model_construct(**data)
        return out

    async def write(
        self, session: AsyncSession, actor: Actor, slug: str, spec: Any, before: Any
    ) -> None:
        page = await session.scalar(sa.select(StatusPage).where(StatusPage.slug == slug))
        if page is None:
            page = StatusPage(slug=slug, version=1, is_default=False)
            session.add(page)
            prior: dict[str, Any] | None = None
        else:
            prior = snapshot(page)
        page.name = spec.name
        page.url = spec.url
        page.time_zone = spec.time_zone
        page.email_subscriptions = spec.subscriptions.email
        page.webhook_subscriptions = spec.subscriptions.webhook
        others = sa.update(StatusPage).where(StatusPage.slug != slug)
        if spec.default or (prior is None and await service.default_page(session) is None):
            if not page.is_default:
                await session.execute(
                    others.where(StatusPage.is_default.is_(True)).values(
                        is_default=False, version=StatusPage.version + 1
                    )
                )
            page.is_default = True
        await session.flush()
        if spec.groups is not None or spec.components is not None:
            await _sync_layout(session, actor, page, spec)
        service.touch(page)
        await session.flush()
        audit.record(
            session,
            actor,
            "create" if prior is None else "update",
            "status_page",
            page.slug,
            before=prior,
            after=snapshot(page),
        )


async def _service_ids(session: AsyncSession, spec: StatusPageSpec) -> dict[str, int]:
    wanted = {
        c.service
        for c in [*(c for g in spec.groups or [] for c in g.components), *(spec.components or [])]
        if c.service
    }
    if not wanted:
        return {}
    rows = await session.execute(
        sa.select(Service.slug, Service.id).where(Service.slug.in_(wanted))
    )
    return {slug: int(id_) for slug, id_ in rows}


async def _sync_layout(
    session: AsyncSession, actor: Actor, page: StatusPage, spec: StatusPageSpec
) -> None:
    """Make the page's groups and components what the file says, matched by name; positions
    follow the file's order. Components keep their state and uptime history."""
    service_ids = await _service_ids(session, spec)
    groups = {g.name: g for g in reversed(await service.groups_of(session, page.id))}
    components = {c.name: c for c in reversed(await service.components_of(session, page.id))}
    keep_groups: set[int] = set()
    keep_components: set[int] = set()
    now = utcnow()

    async def place(item: ComponentSpec, group_id: int | None, position: int) -> None:
        row = components.get(item.name)
        prior = None if row is None else snapshot(row)
        if row is None:
            row = Component(page_id=page.id, name=item.name, status="operational", start_date=now)
            session.add(row)
        row.group_id = group_id
        row.service_id = service_ids.get(item.service) if item.service else None
        row.description = item.description
        row.only_show_if_degraded = item.only_show_if_degraded
        row.position = position
        await session.flush()
        keep_components.add(row.id)
        after = snapshot(row)
        if prior is None:
            session.add(ComponentStatusChange(component_id=row.id, status=row.status, at=now))
            audit.record(session, actor, "create", "status_component", row.id, after=after)
        elif prior != after:
            audit.record(
                session, actor, "update", "status_component", row.id, before=prior, after=after
            )

    position = 0
    if spec.groups is not None:
        for group_position, item in enumerate(spec.groups):
            group = groups.get(item.name)
            prior = None if group is None else snapshot(group)
            if group is None:
                group = ComponentGroup(page_id=page.id, name=item.name)
                session.add(group)
            group.description = item.description
            group.position = group_position
            await session.flush()
            keep_groups.add(group.id)
            after = snapshot(group)
            if prior is None or prior != after:
                audit.record(
                    session,
                    actor,
                    "create" if prior is None else "update",
                    "status_component_group",
                    group.id,
                    before=prior,
                    after=after,
                )
            for component in item.components:
                await place(component, group.id, position)
                position += 1
    if spec.components is not None:
        for component in spec.components:
            await place(component, None, position)
            position += 1
    # What the file no longer lists goes, within what the file manages.
    for row in await service.components_of(session, page.id):
        managed = (spec.groups is not None and row.group_id is not None) or (
            spec.components is not None and row.group_id is None
        )
        if managed and row.id not in keep_components:
            audit.record(session, actor, "delete", "status_component", row.id, before=snapshot(row))
            await session.delete(row)
    if spec.groups is not None:
        for group in await service.groups_of(session, page.id):
            if group.id not in keep_groups:
                audit.record(
                    session,
                    actor,
                    "delete",
                    "status_component_group",
                    group.id,
                    before=snapshot(group),
                )
                await session.delete(group)
    await session.flush()


HANDLERS: list[KindHandler] = [StatusPageHandler()]
