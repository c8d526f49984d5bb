"""Alert use cases: the one import the API, pages, command line and handlers build on
(`from tocsin.alerts import service as alerts`)."""

from tocsin.alerts.service.decisions import RECEIVED, record_decision
from tocsin.alerts.service.ingestion import PROCESS_JOB, Stored, ingest
from tocsin.alerts.service.integrations import (
    Sender,
    Who,
    cached_sender,
    create_integration,
    get_integration,
    ingestion_url,
    list_integrations,
    rotate_key,
    sender_for_key,
    update_integration,
)
from tocsin.alerts.service.queries import alert_events, get_alert, list_alerts

__all__ = [
    "PROCESS_JOB",
    "RECEIVED",
    "Sender",
    "Stored",
    "Who",
    "alert_events",
    "cached_sender",
    "create_integration",
    "get_alert",
    "get_integration",
    "ingest",
    "ingestion_url",
    "list_alerts",
    "list_integrations",
    "record_decision",
    "rotate_key",
    "sender_for_key",
    "update_integration",
]
