"""What an alert group's page says, in one place for the pipeline and the routing rules."""

from __future__ import annotations

from tocsin.alerts.models import Alert
from tocsin.catalog.models import Service
from tocsin.oncall.service import PageRequest


def page_request(
    service: Service, row: Alert, dedup_key: str, incident_id: int | None, group_id: int | None
) -> PageRequest:
    """The page for the alert that made its group act: titled after the service and the
    alert, so the person woken sees both before opening anything."""
    return PageRequest(
        service_id=service.id,
        title=f"[{service.slug}] {row.summary}"[:200],
        summary=row.summary,
        dedup_key=dedup_key,
        incident_id=incident_id,
        alert_group_id=group_id,
    )
