"""Customer report API shapes: intake bodies, reports as read back, clusters and proposals."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import StringConstraints

from tocsin.incidents.schemas import Reason, Slug, Title
from tocsin.schemas import Input, Output

ExternalId = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Name = Annotated[str, StringConstraints(max_length=300)]
Description = Annotated[str, StringConstraints(max_length=20_000)]


class ReportIn(Input):
    external_id: ExternalId
    """the support desk's id for it; sending the same id again stores nothing new"""
    service: Slug
    reported_at: datetime
    customer: Slug | None = None
    """a catalog customer slug, when known"""
    customer_name: Name = ""
    description: Description = ""


class ReportOut(Output):
    id: int
    source: str
    external_id: str
    customer: str | None
    customer_name: str
    service: str
    reported_at: datetime
    description: str
    incident: str | None = None
    """the linked incident's reference; hidden when the caller may not see that incident"""
    linked_by: str = ""


class IntakeOut(Output):
    stored: int
    duplicates: int
    reports: list[ReportOut]


class LinkIn(Input):
    incident: Annotated[str, StringConstraints(min_length=1, max_length=30)]
    """INC-42"""


class ClusterOut(Output):
    service: str
    count: int
    first_at: datetime
    last_at: datetime
    reports: list[ReportOut]


class ClusterDeclare(Input):
    title: Title | None = None
    severity: Slug
    visibility: Annotated[str, StringConstraints(pattern="^(public|private)$")] = "public"


class EvidenceOut(Output):
    source: str
    at: datetime
    description: str
    credible: bool
    reason: str
    url: str | None


class ProposalOut(Output):
    incident: str
    current: datetime | None
    """the impact_started milestone as set now"""
    proposed: datetime | None
    chosen: EvidenceOut | None
    evidence: list[EvidenceOut]


class ProposalAccept(Input):
    reason: Reason = ""
    """required when impact start is already set: the correction is recorded with it"""
