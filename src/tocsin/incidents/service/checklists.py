"""Resolution checklists: the items come from the severity policy, their state per incident.

Items are read from the policy each time, so a policy edit (or a severity change) shows at
once; a state is kept by item id, which the policy promises to keep stable.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from tocsin.auth.permissions import Permission
from tocsin.clock import utcnow
from tocsin.errors import Invalid
from tocsin.incidents.models import Incident, IncidentChecklistState
from tocsin.incidents.schemas import (
    Checklist,
    ChecklistItemOut,
    ChecklistItemSet,
    ChecklistsOut,
    ItemState,
)
from tocsin.incidents.service.common import Who, actor_of, finish, load, note, record, require

_SECTIONS = {Checklist.TECHNICAL: "technical_resolution", Checklist.BUSINESS: "business_resolution"}


async def _policy_items(
    session: AsyncSession, severity: str
) -> dict[Checklist, list[tuple[str, str]]]:
    from tocsin.policy import service as policy

    stored = await policy.get_policy(session, severity)
    return {
        checklist: [(item.id, item.text) for item in getattr(stored, section)]
        for checklist, section in _SECTIONS.items()
    }


async def checklists_of(session: AsyncSession, incident: Incident) -> ChecklistsOut:
    items = await _policy_items(session, incident.severity)
    rows = await session.scalars(
        sa.select(IncidentChecklistState).where(IncidentChecklistState.incident_id == incident.id)
    )
    states = {(r.checklist, r.item_id): r for r in rows}
    out: dict[Checklist, list[ChecklistItemOut]] = {}
    for checklist, entries in items.items():
        out[checklist] = []
        for item_id, text in entries:
            row = states.get((checklist.value, item_id))
            out[checklist].append(
                ChecklistItemOut(
                    checklist=checklist,
                    item=item_id,
                    text=text,
                    state=ItemState(row.state) if row else ItemState.OPEN,
                    reason=row.reason if row else "",
                    by=row.by if row else None,
                    at=row.at if row else None,
                )
            )
    return ChecklistsOut(
        technical=out[Checklist.TECHNICAL],
        business=out[Checklist.BUSINESS],
        technical_complete=not open_items(out[Checklist.TECHNICAL]),
        business_complete=not open_items(out[Checklist.BUSINESS]),
    )


def open_items(items: list[ChecklistItemOut]) -> list[str]:
    return [i.item for i in items if i.state == ItemState.OPEN]


async def get_checklists(session: AsyncSession, who: Who, ref: str) -> ChecklistsOut:
    return await checklists_of(session, await load(session, who, ref))


async def set_item(
    session: AsyncSession, who: Who, ref: str, body: ChecklistItemSet
) -> ChecklistsOut:
    """Mark an item done, waived (a reason is required) or open again."""
    require(who, Permission.INCIDENT_WRITE)
    incident = await load(session, who, ref)
    items = dict((await _policy_items(session, incident.severity))[body.checklist])
    if body.item not in items:
        known = ", ".join(items) or "the checklist is empty"
        raise Invalid(
            "item", f"{body.checklist.value} checklist has no item {body.item!r} ({known})"
        )
    if body.state == ItemState.WAIVED and not body.reason.strip():
        raise Invalid("reason", "waiving a checklist item needs a reason")
    row = await session.scalar(
        sa.select(IncidentChecklistState).where(
            IncidentChecklistState.incident_id == incident.id,
            IncidentChecklistState.checklist == body.checklist.value,
            IncidentChecklistState.item_id == body.item,
        )
    )
    before = None if row is None else {"state": row.state, "reason": row.reason, "by": row.by}
    actor = actor_of(who)
    if row is None:
        row = IncidentChecklistState(
            incident_id=incident.id, checklist=body.checklist.value, item_id=body.item
        )
        session.add(row)
    row.state = body.state.value
    row.reason = body.reason
    row.by = actor.label
    row.at = utcnow()
    after = {"state": row.state, "reason": row.reason, "by": row.by}
    data = {"checklist": body.checklist.value, "item": body.item, **after}
    text = f"{body.checklist.value.capitalize()} checklist: {items[body.item]} — {body.state.value}"
    if body.reason:
        text += f" ({body.reason})"
    note(session, incident, actor, "checklist_item", text, data)
    record(session, actor, "incident.checklist_item_set", incident, before, {**data})
    await finish(session, incident, "incident.checklist_updated", checklist=body.checklist.value)
    return await checklists_of(session, incident)
