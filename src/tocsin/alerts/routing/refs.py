"""How routing names its tickets and where it points people to a group's alerts."""

from __future__ import annotations

from tocsin.config import get_settings

TICKET_PREFIX = "T-"


def ticket_ref(ticket_id: int) -> str:
    return f"{TICKET_PREFIX}{ticket_id}"


def group_url(group_id: int) -> str:
    """Also the link a routed incident carries: how a retried decision finds it again."""
    return f"{get_settings().base_url.rstrip('/')}/alert-groups#group-{group_id}"
