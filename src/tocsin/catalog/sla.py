"""SLA service credits: what a customer is owed for the availability they actually got.

A credit rule is a ladder of availability bands, the way contracts are written: "below 99.9 %
a 10 % credit, below 99 % 25 %, below 95 % 100 %". Measured availability falls into the lowest
band it is below, and that band's percentage of the monthly fee is owed, never more than the
cap. Money is Decimal throughout: credits end up on invoices.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

HUNDRED = Decimal(100)
CENT = Decimal("0.01")


@dataclass(frozen=True)
class CreditBand:
    below_percent: Decimal
    """the band applies when measured availability is strictly below this"""
    credit_percent: Decimal
    """share of the monthly fee credited"""


@dataclass(frozen=True)
class CreditRule:
    bands: tuple[CreditBand, ...] = ()
    cap_percent: Decimal = HUNDRED
    """no period's credit exceeds this share of the monthly fee"""


@dataclass(frozen=True)
class Credit:
    percent: Decimal
    amount: Decimal | None
    """None when the customer's fee is unknown"""
    band: CreditBand | None
    """the band that applied, None when the SLA was met"""


def rule_problems(rule: CreditRule) -> list[tuple[str, str]]:
    """What is wrong with a rule, as (field, message) pairs; empty when it is sound.

    Bands must step down in availability and never give *less* credit for worse availability,
    or a customer could be owed less for a longer outage.
    """
    problems: list[tuple[str, str]] = []
    if not Decimal(0) <= rule.cap_percent <= HUNDRED:
        problems.append(("cap_percent", "must be between 0 and 100"))
    for i, band in enumerate(rule.bands):
        if not Decimal(0) < band.below_percent <= HUNDRED:
            problems.append((f"bands.{i}.below_percent", "must be above 0 and at most 100"))
        if not Decimal(0) <= band.credit_percent <= HUNDRED:
            problems.append((f"bands.{i}.credit_percent", "must be between 0 and 100"))
        if i == 0:
            continue
        above = rule.bands[i - 1]
        if band.below_percent >= above.below_percent:
            problems.append(
                (
                    f"bands.{i}.below_percent",
                    f"bands must step down in availability: {band.below_percent} is not below "
                    f"{above.below_percent}",
                )
            )
        if band.credit_percent < above.credit_percent:
            problems.append(
                (
                    f"bands.{i}.credit_percent",
                    f"worse availability cannot earn less credit than the band above "
                    f"({above.credit_percent})",
                )
            )
    return problems


def availability_percent(period_minutes: Decimal, downtime_minutes: Decimal) -> Decimal:
    """Availability over a period, clamped to 0..100 (downtime can be over-counted)."""
    if period_minutes <= 0:
        raise ValueError("the measurement period must be longer than zero")
    up = max(Decimal(0), period_minutes - max(Decimal(0), downtime_minutes))
    return min(HUNDRED, up * HUNDRED / period_minutes)


def applicable_band(rule: CreditRule, availability: Decimal) -> CreditBand | None:
    """The band with the largest credit among those the availability falls below."""
    chosen: CreditBand | None = None
    for band in rule.bands:
        if availability < band.below_percent and (
            chosen is None or band.credit_percent > chosen.credit_percent
        ):
            chosen = band
    return chosen


def credit_for(
    rule: CreditRule, availability: Decimal, monthly_fee: Decimal | None = None
) -> Credit:
    band = applicable_band(rule, availability)
    percent = Decimal(0) if band is None else min(band.credit_percent, rule.cap_percent)
    amount = None
    if monthly_fee is not None:
        amount = (monthly_fee * percent / HUNDRED).quantize(CENT, rounding=ROUND_HALF_UP)
    return Credit(percent, amount, band)
