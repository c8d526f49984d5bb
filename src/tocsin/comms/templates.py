"""Rendering one structured update for each audience: pure, no database.

The separation of technical and business content is enforced by what each audience's template
is given, not by what its author remembers to leave out: only responders' templates receive the
technical details. Templates run in Jinja's sandbox, so an edited template can read its context
and nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment


class Audience(StrEnum):
    RESPONDERS = "responders"
    EXECUTIVES = "executives"
    CUSTOMERS = "customers"
    SUPPORT = "support"
    SALES = "sales"
    ACCOUNT_MANAGEMENT = "account_management"


EXTERNAL = frozenset(Audience) - {Audience.RESPONDERS}
"""Audiences outside the response: they see business impact only, and their messages need
approval before they go out."""

TECHNICAL_FIELDS = ("technical_details",)
BUSINESS_FIELDS = ("customers_affected", "customer_experience", "workaround", "next_update")
INCIDENT_FIELDS = ("ref", "title", "severity", "status")

_SHARED = """{{ ref }} — {{ title }} ({{ severity }}, {{ status }})
{% if customers_affected %}Who is affected: {{ customers_affected }}
{% endif %}{% if customer_experience %}What they experience: {{ customer_experience }}
{% endif %}{% if workaround %}Workaround: {{ workaround }}
{% endif %}{% if next_update %}Next update: {{ next_update }}
{% endif %}"""

DEFAULTS: dict[Audience, str] = {
    Audience.RESPONDERS: _SHARED + "Technical details: {{ technical_details }}\n",
    Audience.EXECUTIVES: "Executive summary. " + _SHARED,
    Audience.CUSTOMERS: """We are investigating an issue{% if customer_experience %}: \
{{ customer_experience }}{% endif %}.
{% if workaround %}In the meantime: {{ workaround }}
{% endif %}{% if next_update %}We will update you by {{ next_update }}.
{% endif %}""",
    Audience.SUPPORT: "For support. " + _SHARED,
    Audience.SALES: "For sales. " + _SHARED,
    Audience.ACCOUNT_MANAGEMENT: "For account management. " + _SHARED,
}

_ENV = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)


class RenderError(ValueError):
    """A template that does not compile or refers to something its audience is not given."""


def context_for(audience: Audience, values: Mapping[str, str]) -> dict[str, str]:
    """Exactly the fields the audience may see, as plain strings."""
    allowed: tuple[str, ...] = INCIDENT_FIELDS + BUSINESS_FIELDS
    if audience is Audience.RESPONDERS:
        allowed += TECHNICAL_FIELDS
    return {name: str(values.get(name) or "") for name in allowed}


def render(body: str, audience: Audience, values: Mapping[str, str]) -> str:
    try:
        return _ENV.from_string(body).render(context_for(audience, values))
    except TemplateError as exc:
        raise RenderError(str(exc)) from exc
    except (RecursionError, MemoryError, ValueError, TypeError) as exc:
        raise RenderError(f"the template cannot be rendered: {exc}") from exc


SAMPLE = {
    "ref": "INC-1",
    "title": "Checkout errors",
    "severity": "sev1",
    "status": "investigating",
    "customers_affected": "EU customers",
    "customer_experience": "payments fail",
    "workaround": "retry later",
    "next_update": "10:30 UTC",
    "technical_details": "db primary failed over",
}


def check(body: str, audience: Audience) -> None:
    """Refuse a template before it is saved, by rendering it with sample values."""
    render(body, audience, SAMPLE)
