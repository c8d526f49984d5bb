"""Which executive-notification thresholds an incident has crossed, and why: pure, so every
rule can be checked exhaustively. Times and facts come in as arguments."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from tocsin.policy.schemas import ExecutiveNotification


@dataclass(frozen=True)
class Facts:
    opened_at: datetime
    now: datetime
    revenue_per_hour: float | None = None
    customers_affected: int | None = None
    incident_type: str = ""
    data_exposure: bool = False
    media_inquiry: bool = False
    public_incident: bool = False
    service_tags: frozenset[str] = field(default_factory=frozenset)
    customers: frozenset[str] = field(default_factory=frozenset)
    """slugs of the customers named as affected"""


@dataclass(frozen=True)
class Crossing:
    threshold: str
    """stable id, e.g. financial.revenue_per_hour: one brief per executive per id"""
    why: str


def crossed(policy: ExecutiveNotification, facts: Facts) -> list[Crossing]:
    out: list[Crossing] = []
    fin, rep, reg = policy.financial, policy.reputational, policy.regulatory
    rph = facts.revenue_per_hour
    if fin.revenue_per_hour is not None and rph is not None and rph >= fin.revenue_per_hour:
        out.append(
            Crossing(
                "financial.revenue_per_hour",
                f"revenue impact {rph:,.0f}/h reaches the threshold of "
                f"{fin.revenue_per_hour:,.0f}/h",
            )
        )
    if fin.total_revenue_impact is not None and rph:
        hours = max(facts.now - facts.opened_at, timedelta(0)) / timedelta(hours=1)
        total = rph * hours
        if total >= fin.total_revenue_impact:
            out.append(
                Crossing(
                    "financial.total_revenue_impact",
                    f"{rph:,.0f}/h for {hours:.1f} h is {total:,.0f}, reaching the threshold of "
                    f"{fin.total_revenue_impact:,.0f}",
                )
            )
    affected = facts.customers_affected
    limit = rep.customers_affected
    if limit is not None and affected is not None and affected >= limit:
        out.append(
            Crossing(
                "reputational.customers_affected",
                f"{affected} customers affected (threshold {limit})",
            )
        )
    if rep.media_inquiry and facts.media_inquiry:
        out.append(Crossing("reputational.media_inquiry", "the press has asked about it"))
    if rep.public_incident and facts.public_incident:
        out.append(Crossing("reputational.public_incident", "it is on the public status page"))
    key = sorted(facts.customers & set(rep.key_customers))
    if key:
        out.append(
            Crossing("reputational.key_customers", f"key customers affected: {', '.join(key)}")
        )
    if reg.data_exposure and facts.data_exposure:
        out.append(Crossing("regulatory.data_exposure", "data may have been exposed"))
    if facts.incident_type and facts.incident_type in reg.incident_types:
        out.append(
            Crossing("regulatory.incident_type", f"a {facts.incident_type} incident is regulatory")
        )
    tags = sorted(facts.service_tags & set(reg.service_tags))
    if tags:
        out.append(
            Crossing("regulatory.service_tags", f"affected services are tagged {', '.join(tags)}")
        )
    regulated = sorted(facts.customers & set(reg.regulated_customers))
    if regulated:
        out.append(
            Crossing(
                "regulatory.regulated_customers",
                f"regulated customers affected: {', '.join(regulated)}",
            )
        )
    return out


def total_impact_due(policy: ExecutiveNotification, facts: Facts) -> datetime | None:
    """When the running revenue impact will reach the fixed amount (for the timer)."""
    amount, rph = policy.financial.total_revenue_impact, facts.revenue_per_hour
    if amount is None or not rph:
        return None
    try:
        return facts.opened_at + timedelta(hours=amount / rph)
    except OverflowError:  # centuries away: never, for a timer's purposes
        return None
