"""Catalog tables: who owns what, what depends on what, who pays for it, who backs it.

Structured values that are always read and written whole (tags, runbook links, SLA terms,
escalation contacts) are JSON validated by the pydantic shapes in schemas.py; relationships
that are queried from both ends (dependencies, customers' services, vendors' services) are
tables.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, ORMExecuteState, Session, mapped_column

from tocsin.db.base import Base, IdMixin, JSONType, TimestampMixin


class Team(IdMixin, TimestampMixin, Base):
    __tablename__ = "teams"

    slug: Mapped[str] = mapped_column(sa.String(100), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    description: Mapped[str] = mapped_column(sa.Text, default="")
    email: Mapped[str | None] = mapped_column(sa.String(320))
    chat_channel: Mapped[str | None] = mapped_column(sa.String(200))


class Service(IdMixin, TimestampMixin, Base):
    __tablename__ = "services"

    slug: Mapped[str] = mapped_column(sa.String(100), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    description: Mapped[str] = mapped_column(sa.Text, default="")
    owner_team_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("teams.id", ondelete="RESTRICT"), index=True
    )
    tier: Mapped[str] = mapped_column(sa.String(16), default="tier-3")
    tags: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    runbooks: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    """[{title, url}]"""


class ServiceDependency(IdMixin, Base):
    """`service` depends on `depends_on`; the edge belongs to the dependent service."""

    __tablename__ = "service_dependencies"
    __table_args__ = (
        sa.UniqueConstraint("service_id", "depends_on_id"),
        sa.CheckConstraint("service_id <> depends_on_id", name="no_self_dependency"),
    )

    service_id: Mapped[int] = mapped_column(sa.ForeignKey("services.id", ondelete="CASCADE"))
    depends_on_id: Mapped[int] = mapped_column(
        sa.ForeignKey("services.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(sa.String(8), default="hard")
    note: Mapped[str] = mapped_column(sa.Text, default="")


class BusinessUnit(IdMixin, TimestampMixin, Base):
    __tablename__ = "business_units"

    slug: Mapped[str] = mapped_column(sa.String(100), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    description: Mapped[str] = mapped_column(sa.Text, default="")
    contact_email: Mapped[str | None] = mapped_column(sa.String(320))


class CustomerTier(IdMixin, TimestampMixin, Base):
    """A class of customer with one SLA; optionally specific to one business unit."""

    __tablename__ = "customer_tiers"

    slug: Mapped[str] = mapped_column(sa.String(100), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    description: Mapped[str] = mapped_column(sa.Text, default="")
    business_unit_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("business_units.id", ondelete="RESTRICT"), index=True
    )
    sla: Mapped[dict[str, Any]]
    """availability target, response/resolution minutes per severity, credit rule"""


class Customer(IdMixin, TimestampMixin, Base):
    __tablename__ = "customers"

    slug: Mapped[str] = mapped_column(sa.String(100), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    description: Mapped[str] = mapped_column(sa.Text, default="")
    tier_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("customer_tiers.id", ondelete="RESTRICT"), index=True
    )
    business_unit_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("business_units.id", ondelete="RESTRICT"), index=True
    )
    contact_email: Mapped[str | None] = mapped_column(sa.String(320))
    monthly_fee: Mapped[Decimal | None] = mapped_column(sa.Numeric(14, 2))
    currency: Mapped[str] = mapped_column(sa.String(3), default="USD")


class CustomerService(Base):
    __tablename__ = "customer_services"

    customer_id: Mapped[int] = mapped_column(
        sa.ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True
    )
    service_id: Mapped[int] = mapped_column(
        sa.ForeignKey("services.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class Vendor(IdMixin, TimestampMixin, Base):
    """A third party in the response, with the contact protocol agreed before any incident."""

    __tablename__ = "vendors"

    slug: Mapped[str] = mapped_column(sa.String(100), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    description: Mapped[str] = mapped_column(sa.Text, default="")
    portal_url: Mapped[str | None] = mapped_column(sa.String(2000))
    phone: Mapped[str | None] = mapped_column(sa.String(50))
    account_id: Mapped[str | None] = mapped_column(sa.String(200))
    support_email: Mapped[str | None] = mapped_column(sa.String(320))
    contact_instructions: Mapped[str] = mapped_column(sa.Text, default="")
    escalation_contacts: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    """[{name, role, email, phone}] in the order to call them"""
    response_minutes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    """contractual response time per severity slug"""


class VendorService(Base):
    __tablename__ = "vendor_services"

    vendor_id: Mapped[int] = mapped_column(
        sa.ForeignKey("vendors.id", ondelete="CASCADE"), primary_key=True
    )
    service_id: Mapped[int] = mapped_column(
        sa.ForeignKey("services.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class GraphVersion(Base):
    """A single row whose token changes in every transaction that writes services or their
    dependencies, committed with that write: a process may keep the dependency graph it read
    for as long as the stored token is the one it read first (`tocsin.catalog.graph_cache`)."""

    __tablename__ = "catalog_graph_version"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    token: Mapped[str] = mapped_column(sa.String(32))


GRAPH_VERSION_ROW = 1
GRAPH_TABLES = frozenset({Service.__tablename__, ServiceDependency.__tablename__})


def _stamp(session: Session) -> None:
    """Give the catalog a new token inside the current transaction."""
    values = {"id": GRAPH_VERSION_ROW, "token": uuid.uuid4().hex}
    if session.get_bind().dialect.name == "postgresql":
        stmt: Any = postgresql.insert(GraphVersion).values(values)
    else:
        stmt = sqlite.insert(GraphVersion).values(values)
    stmt = stmt.on_conflict_do_update(index_elements=["id"], set_={"token": values["token"]})
    session.connection().execute(stmt)


@event.listens_for(Session, "after_flush")
def _after_flush(session: Session, _context: Any) -> None:
    touched = (*session.new, *session.dirty, *session.deleted)
    if any(isinstance(obj, Service | ServiceDependency) for obj in touched):
        _stamp(session)


@event.listens_for(Session, "do_orm_execute")
def _on_statement(state: ORMExecuteState) -> Any:
    """Bulk INSERT, UPDATE and DELETE statements bypass the flush."""
    if not (state.is_insert or state.is_update or state.is_delete):
        return None
    table = getattr(state.statement, "table", None)
    if getattr(table, "name", None) not in GRAPH_TABLES:
        return None
    result = state.invoke_statement()
    _stamp(state.session)
    return result
