"""API shapes of vendor engagements."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AwareDatetime, StringConstraints

from tocsin.catalog.schemas import EscalationContactOut
from tocsin.schemas import Input, Output

CaseId = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Notes = Annotated[str, StringConstraints(max_length=10000)]


class EngageIn(Input):
    vendor: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    """catalog slug of the vendor"""
    case_id: CaseId | None = None
    contacted_at: AwareDatetime | None = None
    """when the vendor was contacted; now when left out"""
    notes: Notes = ""


class EngagementPatch(Input):
    case_id: CaseId | None = None
    acknowledged: bool = False
    """shortcut: the vendor acknowledged now"""
    acknowledged_at: AwareDatetime | None = None
    resolved: bool = False
    """shortcut: the vendor resolved its side now"""
    resolved_at: AwareDatetime | None = None
    notes: Notes | None = None


class ContactProtocolOut(Output):
    portal_url: str | None
    phone: str | None
    account_id: str | None
    support_email: str | None
    contact_instructions: str
    escalation_contacts: list[EscalationContactOut]


class ResponseOut(Output):
    verdict: str
    """met, running, breached or no_contract"""
    deadline: datetime | None
    seconds_left: int | None
    seconds_taken: int | None


class EngagementOut(Output):
    id: int
    vendor: str
    vendor_name: str
    contact: ContactProtocolOut | None
    """none when the vendor has since left the catalog"""
    severity: str
    response_minutes: int | None
    case_id: str | None
    contacted_at: datetime
    acknowledged_at: datetime | None
    resolved_at: datetime | None
    notes: str
    engaged_by: str
    overdue_at: datetime | None
    response: ResponseOut
