"""Schedules and escalation policies as configuration as code (`tocsin apply` / export).

Files name people by e-mail and schedules, teams and services by slug, where the REST API
takes ids; the handlers translate, then call the same service functions as the API, so the
validation rules are the API's. A policy's `services` list is the set of services paged
through it; given, it attaches them (a service leaves a policy only by joining another).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from tocsin.audit.service import Actor
from tocsin.auth.models import User
from tocsin.catalog.models import Team
from tocsin.errors import Invalid
from tocsin.manifest.handler import KindHandler, Reference
from tocsin.oncall import service
from tocsin.oncall.models import OncallSchedule
from tocsin.oncall.schemas import (
    EscalationPolicySpec,
    LayerIn,
    PolicyIn,
    ScheduleIn,
    ScheduleSpec,
)

_TARGET_KINDS = {"user": "User", "schedule": "Schedule", "team": "Team"}


async def _emails(session: AsyncSession) -> dict[int, str]:
    return {row.id: row.email for row in await session.execute(sa.select(User.id, User.email))}


async def _user_id(session: AsyncSession, email: str, field: str) -> int:
    found = await session.scalar(
        sa.select(User.id).where(sa.func.lower(User.email) == email.lower())
    )
    if found is None:
        raise Invalid(field, f"no user with e-mail {email}")
    return int(found)


class ScheduleHandler(KindHandler):
    kind = "Schedule"
    plural = "schedules"
    spec_model = ScheduleSpec

    def references(self, spec: Any) -> Iterable[Reference]:
        if spec.team:
            yield Reference("Team", spec.team, ("team",))
        for i, layer in enumerate(spec.layers):
            for j, email in enumerate(layer.members):
                yield Reference("User", email, ("layers", i, "members", j))

    def canonical(self, spec: BaseModel) -> dict[str, Any]:
        out = spec.model_dump(mode="json")
        for layer in out["layers"]:
            layer["members"] = [m.lower() for m in layer["members"]]
            if layer["rotation"] != "custom":
                layer["turn_minutes"] = None
        return out

    async def existing(self, session: AsyncSession) -> dict[str, BaseModel]:
        emails = await _emails(session)
        out: dict[str, BaseModel] = {}
        for s in await service.list_schedules(session):
            layers = []
            for layer in s.layers:
                rotation = {1440: "daily", 10080: "weekly"}.get(layer.turn_minutes, "custom")
                layers.append(
                    {
                        "name": layer.name,
                        "time_zone": layer.time_zone,
                        "rotation": rotation,
                        "turn_minutes": layer.turn_minutes if rotation == "custom" else None,
                        "start_date": layer.start_date,
                        "handoff_time": layer.handoff_time,
                        "members": [emails.get(m, f"user-{m}@unknown") for m in layer.members],
                        "restrictions": layer.restrictions,
                    }
                )
            out[s.slug] = ScheduleSpec.model_validate(
                {
                    "slug": s.slug,
                    "name": s.name,
                    "description": s.description,
                    "team": s.team,
                    "layers": layers,
                }
            )
        return out

    async def write(
        self, session: AsyncSession, actor: Actor, slug: str, spec: Any, before: Any
    ) -> None:
        layers = []
        for i, layer in enumerate(spec.layers):
            ids = [
                await _user_id(session, email, f"layers.{i}.members.{j}")
                for j, email in enumerate(layer.members)
            ]
            layers.append(LayerIn.model_validate({**layer.model_dump(), "members": ids}))
        body = ScheduleIn(
            slug=spec.slug,
            name=spec.name,
            description=spec.description,
            team=spec.team,
            layers=layers,
        )
        await service.save_schedule(
            session, actor, body, None if before is None else slug, commit=False
        )


class EscalationPolicyHandler(KindHandler):
    kind = "EscalationPolicy"
    plural = "escalation_policies"
    spec_model = EscalationPolicySpec

    def references(self, spec: Any) -> Iterable[Reference]:
        if spec.team:
            yield Reference("Team", spec.team, ("team",))
        for i, level in enumerate(spec.levels):
            for j, target in enumerate(level.targets):
                yield Reference(
                    _TARGET_KINDS[target.type], target.ref, ("levels", i, "targets", j, "ref")
                )
        for i, slug in enumerate(spec.services):
            yield Reference("Service", slug, ("services", i))

    def canonical(self, spec: BaseModel) -> dict[str, Any]:
        out = spec.model_dump(mode="json")
        out["services"] = sorted(out["services"])
        for level in out["levels"]:
            for target in level["targets"]:
                if target["type"] == "user":
                    target["ref"] = target["ref"].lower()
        return out

    async def existing(self, session: AsyncSession) -> dict[str, BaseModel]:
        emails = await _emails(session)
        schedules = {
            row.id: row.slug
            for row in await session.execute(sa.select(OncallSchedule.id, OncallSchedule.slug))
        }
        teams = {row.id: row.slug for row in await session.execute(sa.select(Team.id, Team.slug))}
        names: dict[str, dict[int, str]] = {"user": emails, "schedule": schedules, "team": teams}
        out: dict[str, BaseModel] = {}
        for p in await service.list_policies(session):
            levels = [
                {
                    "timeout_minutes": level.timeout_minutes,
                    "targets": [
                        {"type": t.type, "ref": names[t.type].get(t.id, f"{t.type}-{t.id}")}
                        for t in level.targets
                    ],
                }
                for level in p.levels
            ]
            out[p.slug] = EscalationPolicySpec.model_validate(
                {
                    "slug": p.slug,
                    "name": p.name,
                    "description": p.description,
                    "team": p.team,
                    "repeat": p.repeat,
                    "levels": levels,
                    "services": p.services,
                }
            )
        return out

    async def write(
        self, session: AsyncSession, actor: Actor, slug: str, spec: Any, before: Any
    ) -> None:
        levels = []
        for i, level in enumerate(spec.levels):
            targets = []
            for j, target in enumerate(level.targets):
                field = f"levels.{i}.targets.{j}.ref"
                if target.type == "user":
                    target_id = await _user_id(session, target.ref, field)
                else:
                    model: Any = OncallSchedule if target.type == "schedule" else Team
                    found = await session.scalar(
                        sa.select(model.id).where(model.slug == target.ref)
                    )
                    if found is None:
                        raise Invalid(field, f"there is no {target.type} {target.ref}")
                    target_id = int(found)
                targets.append({"type": target.type, "id": target_id})
            levels.append({"timeout_minutes": level.timeout_minutes, "targets": targets})
        body = PolicyIn.model_validate(
            {
                "slug": spec.slug,
                "name": spec.name,
                "description": spec.description,
                "team": spec.team,
                "repeat": spec.repeat,
                "levels": levels,
            }
        )
        await service.save_policy(
            session, actor, body, None if before is None else slug, commit=False
        )

    async def link(
        self, session: AsyncSession, actor: Actor, slug: str, spec: Any, before: Any
    ) -> list[str]:
        for service_slug in spec.services:
            await service.attach_service(session, actor, service_slug, slug, commit=False)
        return []


HANDLERS: list[KindHandler] = [ScheduleHandler(), EscalationPolicyHandler()]
