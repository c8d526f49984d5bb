"""Routing rules as configuration as code (`tocsin apply` / export): the `AlertRoutingRule`
kind. The spec is the API's body with the name moved to `metadata.slug`, and writing goes
through the API's own service function, so files and API validate alike."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from tocsin.alerts.routing import service
from tocsin.alerts.routing.schemas import Action, RoutingRuleIn
from tocsin.alerts.schemas import MatcherIn
from tocsin.audit.service import Actor
from tocsin.manifest.handler import KindHandler, Reference


class RoutingRuleSpec(RoutingRuleIn):
    """The `AlertRoutingRule` kind (the slug is `metadata.slug`)."""

    slug: str | None = None  # type: ignore[assignment]


class RoutingRuleHandler(KindHandler):
    kind = "AlertRoutingRule"
    plural = "alert_routing_rules"
    spec_model = RoutingRuleSpec

    def references(self, spec: Any) -> Iterable[Reference]:
        if spec.service:
            yield Reference("Service", spec.service, ("service",))
        if spec.team:
            yield Reference("Team", spec.team, ("team",))
        if spec.action == Action.INCIDENT:
            for key, severity in spec.severity_map.items():
                yield Reference("Severity", severity, ("severity_map", key))
            yield Reference("Severity", spec.default_severity, ("default_severity",))

    def canonical(self, spec: BaseModel) -> dict[str, Any]:
        out = spec.model_dump(mode="json", exclude={"slug"})
        out["matchers"] = [MatcherIn.model_validate(m).model_dump() for m in out["matchers"]]
        return out

    async def existing(self, session: AsyncSession) -> dict[str, BaseModel]:
        return {
            rule.slug: RoutingRuleSpec.model_validate(rule.model_dump(exclude={"id", "slug"}))
            for rule in await service.list_rules(session)
        }

    async def write(
        self, session: AsyncSession, actor: Actor, slug: str, spec: Any, before: Any
    ) -> None:
        body = RoutingRuleIn.model_validate({**spec.model_dump(exclude={"slug"}), "slug": slug})
        await service.put_rule(session, actor, body, commit=False)


HANDLERS: list[KindHandler] = [RoutingRuleHandler()]
