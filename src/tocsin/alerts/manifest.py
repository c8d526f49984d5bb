"""Correlation rules as configuration as code (`tocsin apply` / export): the
`AlertCorrelationRule` kind. The spec is the API's own body with the name moved to
`metadata.slug`, and writing goes through the same service function as the API, so the file
format and the validation rules cannot drift apart."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from tocsin.alerts.routing.manifest import HANDLERS as ROUTING_HANDLERS
from tocsin.alerts.schemas import CorrelationRuleIn
from tocsin.alerts.service import settings as rules
from tocsin.audit.service import Actor
from tocsin.manifest.handler import KindHandler, Reference


class CorrelationRuleSpec(CorrelationRuleIn):
    """The `AlertCorrelationRule` kind (the slug is `metadata.slug`)."""


class CorrelationRuleHandler(KindHandler):
    kind = "AlertCorrelationRule"
    plural = "alert_correlation_rules"
    spec_model = CorrelationRuleSpec

    def references(self, spec: Any) -> Iterable[Reference]:
        if spec.service:
            yield Reference("Service", spec.service, ("service",))
        if spec.team:
            yield Reference("Team", spec.team, ("team",))

    def canonical(self, spec: BaseModel) -> dict[str, Any]:
        out = spec.model_dump(mode="json")
        out["group_by"] = sorted(set(out["group_by"]))
        return out

    async def existing(self, session: AsyncSession) -> dict[str, BaseModel]:
        return {
            rule.slug: CorrelationRuleSpec.model_validate(rule.model_dump(exclude={"id"}))
            for rule in await rules.list_rules(session)
        }

    async def write(
        self, session: AsyncSession, actor: Actor, slug: str, spec: Any, before: Any
    ) -> None:
        body = CorrelationRuleIn.model_validate({**spec.model_dump(), "slug": slug})
        await rules.put_rule(session, actor, body, commit=False)


HANDLERS: list[KindHandler] = [CorrelationRuleHandler(), *ROUTING_HANDLERS]
