"""Incident use cases: the one import the API, pages, command line and other domains use
(`from tocsin.incidents import service as incidents`). See `common.py` for the rules they
share: visibility, timeline, audit and events after commit.
"""

from tocsin.incidents.service.checklists import get_checklists, set_item
from tocsin.incidents.service.common import Who, parse_ref, ref_of
from tocsin.incidents.service.figures import get_kpis
from tocsin.incidents.service.incidents import (
    IncidentFilter,
    add_participant_by_email,
    declare,
    get_incident,
    list_incidents,
    update_incident,
)
from tocsin.incidents.service.milestones import MilestoneConflict, set_milestone
from tocsin.incidents.service.roles import assign_role, get_roles
from tocsin.incidents.service.status import change_status
from tocsin.incidents.service.timeline import add_note, get_timeline, star

__all__ = [
    "IncidentFilter",
    "MilestoneConflict",
    "Who",
    "add_note",
    "add_participant_by_email",
    "assign_role",
    "change_status",
    "declare",
    "get_checklists",
    "get_incident",
    "get_kpis",
    "get_roles",
    "get_timeline",
    "list_incidents",
    "parse_ref",
    "ref_of",
    "set_item",
    "set_milestone",
    "star",
    "update_incident",
]
