"""The policy set a new installation starts with: four severities and sensible duties for each.

These are starting points an organisation is expected to tune; they follow common practice
(SEV1 = customer-facing outage with executive attention, SEV4 = minor, business hours).
"""

from __future__ import annotations

from tocsin.policy.schemas import SeverityCreate, SeverityPolicyIn

_BUSINESS_CLOSURE = [
    {"id": "customers-notified", "text": "Affected customers told that service is restored"},
    {"id": "failed-work-reprocessed", "text": "Failed orders and jobs re-processed or refunded"},
    {
        "id": "support-briefed",
        "text": "Support and account managers briefed with the final statement",
    },
]
_TECHNICAL_CLOSURE = [
    {"id": "impact-ended", "text": "Error rates and latency back within objectives"},
    {"id": "fix-verified", "text": "Fix or workaround verified by monitoring or a synthetic check"},
    {"id": "alerts-clear", "text": "Related alerts resolved and silences removed"},
]


def _minutes(detect: int, ack: int, mitigate: int, resolve: int, business: int) -> dict[str, int]:
    return {
        "time_to_detect_minutes": detect,
        "time_to_acknowledge_minutes": ack,
        "time_to_mitigate_minutes": mitigate,
        "time_to_resolve_minutes": resolve,
        "time_to_business_resolve_minutes": business,
    }


DEFAULT_SEVERITIES: list[tuple[SeverityCreate, SeverityPolicyIn]] = [
    (
        SeverityCreate(
            slug="sev1",
            name="SEV1",
            definition=(
                "Critical: a customer-facing service is down or losing data for many customers, "
                "or there is a security or regulatory exposure. All hands, executives informed."
            ),
        ),
        SeverityPolicyIn.model_validate(
            {
                "kpi_targets": _minutes(5, 10, 60, 240, 1440),
                "escalation": {
                    "duration_minutes": 30,
                    "customers_affected": 100,
                    "revenue_per_hour": 10000,
                    "error_rate_percent": 25,
                },
                "postmortem": {"always": True, "due_within_hours": 72},
                "communications": [
                    {
                        "group": "executives",
                        "cadence_minutes": 30,
                        "format": "executive-summary",
                        "channel": "email",
                    },
                    {
                        "group": "support",
                        "cadence_minutes": 30,
                        "format": "business-update",
                        "channel": "chat",
                    },
                    {
                        "group": "customers",
                        "cadence_minutes": 60,
                        "format": "customer-notice",
                        "channel": "status-page",
                    },
                    {
                        "group": "engineering",
                        "cadence_minutes": 15,
                        "format": "technical-update",
                        "channel": "chat",
                    },
                ],
                "executive_notification": {
                    "financial": {"revenue_per_hour": 10000, "total_revenue_impact": 50000},
                    "reputational": {
                        "customers_affected": 100,
                        "public_incident": True,
                        "media_inquiry": True,
                    },
                    "regulatory": {"data_exposure": True, "service_tags": ["pci", "gdpr"]},
                    "notify_within_minutes": 15,
                },
                "technical_resolution": _TECHNICAL_CLOSURE,
                "business_resolution": _BUSINESS_CLOSURE,
            }
        ),
    ),
    (
        SeverityCreate(
            slug="sev2",
            name="SEV2",
            definition=(
                "Major: a customer-facing service is badly degraded or an important feature is "
                "unavailable for some customers; no workaround."
            ),
        ),
        SeverityPolicyIn.model_validate(
            {
                "kpi_targets": _minutes(10, 15, 120, 480, 2880),
                "escalation": {
                    "duration_minutes": 120,
                    "customers_affected": 500,
                    "revenue_per_hour": 10000,
                    "error_rate_percent": 50,
                },
                "postmortem": {"always": True, "due_within_hours": 72},
                "communications": [
                    {
                        "group": "executives",
                        "cadence_minutes": 60,
                        "format": "executive-summary",
                        "channel": "email",
                    },
                    {
                        "group": "support",
                        "cadence_minutes": 60,
                        "format": "business-update",
                        "channel": "chat",
                    },
                    {
                        "group": "customers",
                        "cadence_minutes": 120,
                        "format": "customer-notice",
                        "channel": "status-page",
                    },
                ],
                "executive_notification": {
                    "financial": {"revenue_per_hour": 25000},
                    "reputational": {"customers_affected": 500, "media_inquiry": True},
                    "regulatory": {"data_exposure": True, "service_tags": ["pci", "gdpr"]},
                    "notify_within_minutes": 60,
                },
                "technical_resolution": _TECHNICAL_CLOSURE,
                "business_resolution": _BUSINESS_CLOSURE,
            }
        ),
    ),
    (
        SeverityCreate(
            slug="sev3",
            name="SEV3",
            definition=(
                "Minor: limited impact, a workaround exists, or an internal service is degraded."
            ),
        ),
        SeverityPolicyIn.model_validate(
            {
                "kpi_targets": _minutes(30, 60, 480, 1440, 4320),
                "escalation": {"duration_minutes": 480, "customers_affected": 1000},
                "postmortem": {
                    "always": False,
                    "when": {"duration_minutes": 240, "customers_affected": 100},
                    "due_within_hours": 120,
                },
                "communications": [
                    {
                        "group": "support",
                        "cadence_minutes": 240,
                        "format": "business-update",
                        "channel": "chat",
                    },
                ],
                "executive_notification": {
                    "regulatory": {"data_exposure": True},
                },
                "technical_resolution": _TECHNICAL_CLOSURE[:2],
                "business_resolution": _BUSINESS_CLOSURE[:1],
            }
        ),
    ),
    (
        SeverityCreate(
            slug="sev4",
            name="SEV4",
            definition="Low: cosmetic or no customer impact; handled in business hours.",
        ),
        SeverityPolicyIn.model_validate(
            {
                "kpi_targets": _minutes(240, 480, 2880, 10080, 10080),
                "escalation": {"duration_minutes": 4320},
                "postmortem": {"always": False, "due_within_hours": 168},
                "technical_resolution": _TECHNICAL_CLOSURE[:1],
            }
        ),
    ),
]
