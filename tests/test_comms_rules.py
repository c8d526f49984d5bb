"""Pure rules of communications: the hash chain catches any single change or removal, and
technical details never reach an audience other than responders, whatever the template says."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tocsin.comms.chain import GENESIS, entry_hash, first_break
from tocsin.comms.executive_rules import Facts, crossed, total_impact_due
from tocsin.comms.templates import (
    BUSINESS_FIELDS,
    DEFAULTS,
    EXTERNAL,
    Audience,
    RenderError,
    render,
)
from tocsin.policy.schemas import ExecutiveNotification

texts = st.text(max_size=40)


def build_chain(texts_: list[str]) -> list[dict[str, Any]]:
    chain: list[dict[str, Any]] = []
    prev = GENESIS
    start = datetime(2026, 1, 5, 9, tzinfo=UTC)
    for n, text in enumerate(texts_, start=1):
        entry: dict[str, Any] = {
            "seq": n,
            "at": start + timedelta(seconds=n, microseconds=n),
            "incident_id": n % 3 or None,
            "kind": "message",
            "channel": "email",
            "audience": "customers",
            "recipients": "all@example.test",
            "text": text,
            "actor_type": "user",
            "actor_id": 1,
            "actor_label": "a@example.test",
            "prev_hash": prev,
        }
        entry["hash"] = prev = entry_hash(entry)
        chain.append(entry)
    return chain


@given(st.lists(texts, min_size=1, max_size=8))
def test_an_untouched_chain_verifies(entries: list[str]) -> None:
    chain = build_chain(entries)
    assert first_break(chain, expected_last_seq=len(chain)) is None


@given(st.lists(texts, min_size=1, max_size=8), st.data())
def test_any_changed_field_is_found_at_its_entry(entries: list[str], data: st.DataObject) -> None:
    chain = build_chain(entries)
    victim = data.draw(st.integers(0, len(chain) - 1))
    field = data.draw(st.sampled_from(["text", "recipients", "actor_label", "channel", "at"]))
    original = chain[victim][field]
    altered = data.draw(st.datetimes(timezones=st.just(UTC)) if field == "at" else texts)
    if altered == original:
        return
    chain[victim][field] = altered
    broken = first_break(chain, expected_last_seq=len(chain))
    assert broken is not None and broken.seq == victim + 1


@given(st.lists(texts, min_size=1, max_size=8), st.data())
def test_any_removed_entry_is_found(entries: list[str], data: st.DataObject) -> None:
    chain = build_chain(entries)
    victim = data.draw(st.integers(0, len(chain) - 1))
    del chain[victim]
    broken = first_break(chain, expected_last_seq=len(entries))
    assert broken is not None and broken.seq == victim + 1
    assert "removed" in broken.reason


# --- technical details stay with responders ---------------------------------------------------

SECRET = st.text(alphabet="QZJX", min_size=6, max_size=20).map(lambda s: "TECH" + s)
"""Technical content carries letters the business fields below never contain."""
BUSINESS = st.text(alphabet="abcdefghij klmnop.,", max_size=30)

HOSTILE = [
    "{{ technical_details }}",
    "{{ technical_details | default('x') }}",
    "{% for k, v in self._TemplateReference__context.items() %}{{ v }}{% endfor %}",
    "{{ self._TemplateReference__context }}",
    "{% for name in ['technical_details'] %}{{ name }}={{ context[name] }}{% endfor %}",
    "{{ lookup('technical_details') }}",
    "{{ ''.__class__.__mro__ }}",
    "{% set x = namespace() %}{{ x }} {{ customers_affected }}",
    "{{ range.__globals__ }}",
]


@given(
    secret=SECRET,
    business=st.fixed_dictionaries({name: BUSINESS for name in BUSINESS_FIELDS}),
    audience=st.sampled_from(sorted(EXTERNAL)),
    body=st.sampled_from([*HOSTILE, *DEFAULTS.values()]),
)
def test_technical_details_never_reach_other_audiences(
    secret: str, business: dict[str, str], audience: Audience, body: str
) -> None:
    values = {
        "ref": "INC-1",
        "title": "Checkout",
        "severity": "sev1",
        "status": "investigating",
        **business,
        "technical_details": secret,
    }
    try:
        text = render(body, audience, values)
    except RenderError:
        return  # refused outright: nothing was rendered
    assert secret not in text
    assert "TECH" not in text


@given(secret=SECRET)
def test_responders_do_get_the_technical_details(secret: str) -> None:
    values = {"technical_details": secret, "ref": "INC-1"}
    assert secret in render(DEFAULTS[Audience.RESPONDERS], Audience.RESPONDERS, values)


def test_a_template_cannot_reach_outside_the_sandbox() -> None:
    with pytest.raises(RenderError):
        render("{{ ''.__class__.__mro__[1].__subclasses__() }}", Audience.RESPONDERS, {})


# --- executive thresholds --------------------------------------------------------------------


OPENED = datetime(2026, 1, 5, 9, tzinfo=UTC)


def ids(policy: ExecutiveNotification, facts: Facts) -> set[str]:
    return {c.threshold for c in crossed(policy, facts)}


@given(
    rph=st.floats(min_value=1, max_value=1e7),
    amount=st.floats(min_value=1, max_value=1e9),
    minutes=st.integers(0, 60 * 24 * 30),
    later=st.integers(0, 60 * 24),
)
def test_the_running_revenue_impact_crosses_once_and_stays_crossed(
    rph: float, amount: float, minutes: int, later: int
) -> None:
    policy = ExecutiveNotification.model_validate({"financial": {"total_revenue_impact": amount}})
    at = OPENED + timedelta(minutes=minutes)
    facts = Facts(opened_at=OPENED, now=at, revenue_per_hour=rph)
    hit = "financial.total_revenue_impact" in ids(policy, facts)
    assert hit == (rph * minutes / 60 >= amount)
    if hit:
        after = Facts(opened_at=OPENED, now=at + timedelta(minutes=later), revenue_per_hour=rph)
        assert "financial.total_revenue_impact" in ids(policy, after)
    due = total_impact_due(policy, facts)
    if due is None:
        assert not hit
    elif abs((at - due).total_seconds()) > 1:  # away from float rounding at the boundary
        assert hit == (at >= due)


@given(
    rph=st.none() | st.floats(min_value=0, max_value=1e9),
    customers=st.none() | st.integers(0, 10**9),
    kind=st.sampled_from(["outage", "data", "security"]),
    tags=st.frozensets(st.sampled_from(["pci", "gdpr", "web"])),
    media=st.booleans(),
)
def test_a_threshold_left_out_never_triggers(
    rph: float | None, customers: int | None, kind: str, tags: frozenset[str], media: bool
) -> None:
    facts = Facts(
        opened_at=OPENED,
        now=OPENED + timedelta(hours=5),
        revenue_per_hour=rph,
        customers_affected=customers,
        incident_type=kind,
        data_exposure=kind == "data",
        media_inquiry=media,
        service_tags=tags,
        customers=frozenset({"acme"}),
    )
    assert crossed(ExecutiveNotification(), facts) == []


def test_each_kind_of_threshold_says_why() -> None:
    policy = ExecutiveNotification.model_validate(
        {
            "financial": {"revenue_per_hour": 1000},
            "reputational": {"customers_affected": 10, "key_customers": ["acme"]},
            "regulatory": {
                "data_exposure": True,
                "service_tags": ["pci"],
                "incident_types": ["security"],
                "regulated_customers": ["bank"],
            },
        }
    )
    facts = Facts(
        opened_at=OPENED,
        now=OPENED,
        revenue_per_hour=1000,
        customers_affected=10,
        incident_type="security",
        service_tags=frozenset({"pci", "web"}),
        customers=frozenset({"acme", "bank"}),
        data_exposure=True,
    )
    why = {c.threshold: c.why for c in crossed(policy, facts)}
    assert why == {
        "financial.revenue_per_hour": "revenue impact 1,000/h reaches the threshold of 1,000/h",
        "reputational.customers_affected": "10 customers affected (threshold 10)",
        "reputational.key_customers": "key customers affected: acme",
        "regulatory.data_exposure": "data may have been exposed",
        "regulatory.incident_type": "a security incident is regulatory",
        "regulatory.service_tags": "affected services are tagged pci",
        "regulatory.regulated_customers": "regulated customers affected: bank",
    }
