"""War-room names: always valid where they are used, stable, and unique on a clash."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tocsin.incidents.warrooms import naming

PLATFORMS = [naming.SLACK, naming.WEB, naming.matrix("tocsin.test"), naming.matrix("x" * 230)]
titles = st.text(max_size=400)
rules = st.sampled_from(PLATFORMS)


def test_the_default_convention_reads_like_the_incident() -> None:
    name = naming.render(
        "inc-{yyyymmdd}-{sev}-{slug}",
        declared=date(2026, 3, 9),
        severity="SEV1",
        title="Checkout: café payments DOWN!",
        incident_id=42,
    )
    assert name == "inc-20260309-sev1-checkout-cafe-payments-down"
    assert naming.fit(name, naming.SLACK) == name


def test_a_convention_with_an_unknown_placeholder_is_refused() -> None:
    with pytest.raises(ValueError, match="team"):
        naming.template_fields("inc-{team}")
    assert naming.template_fields("war-{ref}-{sev}") == {"ref", "sev"}


@given(title=titles, severity=st.text(max_size=30), incident_id=st.integers(1, 10**9), r=rules)
def test_any_incident_gets_a_name_its_platform_accepts(
    title: str, severity: str, incident_id: int, r: naming.Rules
) -> None:
    rendered = naming.render(
        "inc-{yyyymmdd}-{sev}-{slug}-{id}",
        declared=date(2026, 1, 1),
        severity=severity,
        title=title,
        incident_id=incident_id,
    )
    name = naming.fit(rendered, r)
    assert r.valid(name)
    assert naming.fit(name, r) == name  # stable: fitting twice changes nothing


@given(name=st.text(max_size=300), r=rules)
def test_fitting_any_text_is_valid_and_deterministic(name: str, r: naming.Rules) -> None:
    assert r.valid(naming.fit(name, r))
    assert naming.fit(name, r) == naming.fit(name, r)


@given(name=st.text(max_size=300), r=rules, clashes=st.integers(0, 30))
def test_a_clash_gets_a_fresh_valid_name(name: str, r: naming.Rules, clashes: int) -> None:
    attempt = naming.candidates(name, r)
    taken = {attempt(n) for n in range(clashes)}
    chosen = naming.choose(name, taken, r)
    assert chosen not in taken
    assert r.valid(chosen)
    assert chosen == naming.choose(name, taken, r)


@given(title=titles)
def test_slack_names_are_lowercase_short_and_plain(title: str) -> None:
    name = naming.fit(title, naming.SLACK)
    assert len(name) <= 80
    assert set(name) <= set("abcdefghijklmnopqrstuvwxyz0123456789-_")
