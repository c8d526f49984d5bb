"""Synthetic checks as configuration as code: the `SyntheticCheck` kind (`checks` in
messages). The spec is the API's create body with the slug moved to `metadata.slug`, and
writes go through the same service functions as the API, so both validate alike.

Stored definitions keep only the fields their kind uses, so file and database are compared
after the same normalisation (`service.validate_spec`); a file that spells out a default is
not reported as a change.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from tocsin.audit.service import Actor
from tocsin.checks import service
from tocsin.checks.schemas import CheckCreate, CheckOut, CheckUpdate, SpecIn
from tocsin.errors import Invalid, ProblemError
from tocsin.manifest.handler import KindHandler, Reference
from tocsin.schemas import Input


class SyntheticCheckSpec(Input):
    """The `SyntheticCheck` kind: CheckCreate without the slug."""

    name: str
    service: str
    kind: str
    spec: SpecIn
    interval_seconds: int = 60
    jitter_seconds: int = 10
    timeout_seconds: float = 10.0
    failure_threshold: int = 3
    locations: list[str] = []
    enabled: bool = True


def spec_in(kind: str, stored: dict[str, Any]) -> SpecIn:
    """A stored definition back in the file's shape."""
    if kind == "dns":
        return SpecIn(
            record_name=stored["name"],
            record_type=stored.get("record_type", "A"),
            nameserver=stored.get("nameserver"),
            port=stored.get("port"),
            expect=stored.get("expect", []),
        )
    return SpecIn.model_validate(stored)


def _spec_of(out: CheckOut) -> SyntheticCheckSpec:
    return SyntheticCheckSpec(
        name=out.name,
        service=out.service,
        kind=out.kind,
        spec=spec_in(out.kind, out.spec),
        interval_seconds=out.interval_seconds,
        jitter_seconds=out.jitter_seconds,
        timeout_seconds=out.timeout_seconds,
        failure_threshold=out.failure_threshold,
        locations=out.locations,
        enabled=out.enabled,
    )


class SyntheticCheckHandler(KindHandler):
    kind = "SyntheticCheck"
    plural = "checks"
    spec_model = SyntheticCheckSpec

    def references(self, spec: Any) -> Iterable[Reference]:
        yield Reference("Service", spec.service, ("service",))

    def canonical(self, spec: BaseModel) -> dict[str, Any]:
        out = spec.model_dump(mode="json", by_alias=True)
        if isinstance(spec, SyntheticCheckSpec):
            # A spec that does not validate is compared as written; the write reports it.
            with contextlib.suppress(ProblemError):
                out["spec"] = service.validate_spec(spec.kind, spec.spec)
        out["locations"] = sorted(set(out["locations"]))
        return out

    async def existing(self, session: AsyncSession) -> dict[str, BaseModel]:
        return {c.slug: _spec_of(c) for c in await service.list_checks(session)}

    async def write(
        self, session: AsyncSession, actor: Actor, slug: str, spec: Any, before: Any
    ) -> None:
        data = spec.model_dump(mode="json", by_alias=True)
        if before is None:
            body = CheckCreate.model_validate({**data, "slug": slug})
            await service.create_check(session, actor, body, commit=False)
            return
        for fixed in ("kind", "service"):
            if data[fixed] != getattr(before, fixed):
                raise Invalid(fixed, "cannot change; delete the check and create a new one")
        changes = {k: v for k, v in data.items() if k not in {"kind", "service"}}
        await service.update_check(
            session, actor, slug, CheckUpdate.model_validate(changes), commit=False
        )


HANDLERS: list[KindHandler] = [SyntheticCheckHandler()]
