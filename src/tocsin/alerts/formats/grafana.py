"""Grafana alerting's webhook contact point (`version` "1").

Grafana's unified alerting sends the Alertmanager webhook shape with a few additions: the
organisation (`orgId`), a rendered `title`/`message`, and per alert the links to silence it,
its dashboard and panel, and the query `values` that made it fire. Those additions are kept
in `details`, where a responder looks for "what did the graph say".

Grafana's per-alert `fingerprint` can cover labels it does not send (its rule identifiers),
so it is kept as `sender_fingerprint` while deduplication uses the fingerprint of the labels
Tocsin actually received.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tocsin.alerts.formats.alertmanager import (
    WebhookAlert,
    WebhookMessage,
    check_version,
    webhook_alerts,
)
from tocsin.alerts.formats.wire import Text, validate
from tocsin.alerts.normalized import NormalizedAlert, SourceKind, WireFormat

WEBHOOK_VERSION = "1"


class GrafanaAlert(WebhookAlert):
    silenceURL: Text = ""
    dashboardURL: Text = ""
    panelURL: Text = ""
    imageURL: Text = ""
    values: dict[str, Any] | None = None
    valueString: Text = ""


class GrafanaMessage(WebhookMessage):
    alerts: list[GrafanaAlert]  # type: ignore[assignment]
    orgId: int | None = None
    title: Text = ""
    state: Text = ""
    message: Text = ""


_LINKS = {
    "silenceURL": "silence_url",
    "dashboardURL": "dashboard_url",
    "panelURL": "panel_url",
    "imageURL": "image_url",
}


def _extras(message: GrafanaMessage, index: int) -> dict[str, Any]:
    alert = message.alerts[index]
    details: dict[str, Any] = {
        name: getattr(alert, attr) for attr, name in _LINKS.items() if getattr(alert, attr)
    }
    if alert.values:
        details["values"] = alert.values
    if alert.valueString:
        details["value_string"] = alert.valueString
    if message.orgId is not None:
        details["org_id"] = message.orgId
    return details


def parse_webhook(body: object, *, now: datetime) -> list[NormalizedAlert]:
    """Grafana alerting webhook notification (`version` "1") -> normalized alerts."""
    message = validate(GrafanaMessage, body)
    check_version(message.version, WEBHOOK_VERSION)
    return webhook_alerts(
        message,
        now=now,
        source=SourceKind.GRAFANA,
        wire_format=WireFormat.GRAFANA_WEBHOOK_V1,
        extras=lambda index: _extras(message, index),
    )
