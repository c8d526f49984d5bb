"""What apply and export need to know about one kind of object.

A handler translates between a kind's spec (the file format) and the owning domain's
service functions; it never touches another domain's tables. Apply calls `write` for
every object that is new or changed, then `link` for the same objects, so references among
objects of one kind (service dependencies) can point at objects created in the same apply.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from tocsin.audit.service import Actor
from tocsin.manifest.source import Path


@dataclass(frozen=True)
class Reference:
    kind: str
    """the referenced kind, e.g. Team; or User for people, who are not documents"""
    key: str
    """its slug (or e-mail address, for a User)"""
    path: Path
    """where in the spec the reference is written"""


class KindHandler(ABC):
    kind: ClassVar[str]
    plural: ClassVar[str]
    """how the kind is named in messages, e.g. services[checkout].spec.tier"""
    spec_model: ClassVar[type[BaseModel]]

    def prepare(self, data: dict[str, Any]) -> dict[str, Any]:
        """Expand shorthands in a spec before validation."""
        return data

    def references(self, spec: Any) -> Iterable[Reference]:
        """References written in the spec (paths relative to `spec`)."""
        return ()

    def own_reference(self, slug: str) -> Reference | None:
        """For kinds that belong to another object under the same slug (a severity's policy)."""
        return None

    def order_key(self, spec: Any) -> Any:
        """Apply order among objects of this kind."""
        return getattr(spec, "slug", "")

    def canonical(self, spec: BaseModel) -> dict[str, Any]:
        """The form in which a file's spec and a stored object are compared."""
        return spec.model_dump(mode="json")

    def comparable(self, canonical: dict[str, Any], desired: dict[str, Any]) -> dict[str, Any]:
        """Drop what the file leaves unmanaged, from both sides, before comparing."""
        return canonical

    @abstractmethod
    async def existing(self, session: AsyncSession) -> dict[str, BaseModel]:
        """Every object of this kind in the database, as specs keyed by slug."""

    @abstractmethod
    async def write(
        self,
        session: AsyncSession,
        actor: Actor,
        slug: str,
        spec: Any,
        before: Any | None,
    ) -> None:
        """Create (before is None) or update the object, without committing."""

    async def link(
        self,
        session: AsyncSession,
        actor: Actor,
        slug: str,
        spec: Any,
        before: Any | None,
    ) -> list[str]:
        """Second pass, once every object of the apply exists; returns notes (warnings)."""
        return []
