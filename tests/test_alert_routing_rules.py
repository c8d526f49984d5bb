"""The severity mapping of routing rules: pure logic, checked with properties."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tocsin.alerts.routing.severity import incident_severity

words = st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=10)
slugs = st.sampled_from(["sev1", "sev2", "sev3", "sev4"])
tables = st.dictionaries(words, slugs, max_size=6)


@given(tables, st.dictionaries(words, words, max_size=4), st.none() | words, slugs)
def test_the_result_is_always_a_mapped_severity_or_the_default(
    table: dict[str, str], labels: dict[str, str], event: str | None, default: str
) -> None:
    found = incident_severity(labels, event, "severity", table, default)
    assert found.severity in {*table.values(), default}


@given(tables, words, st.none() | words, slugs)
def test_a_mapped_label_wins_over_the_event_severity(
    table: dict[str, str], value: str, event: str | None, default: str
) -> None:
    table = {**table, value: "sev1"}
    found = incident_severity({"severity": value.upper()}, event, "severity", table, default)
    assert found.severity == "sev1"
    assert found.why == f"label severity={value.upper()}"


@given(tables, words, slugs)
def test_the_event_severity_counts_when_the_label_is_missing_or_unmapped(
    table: dict[str, str], event: str, default: str
) -> None:
    table = {k: v for k, v in table.items() if k != "zzzzzzzzzzz"}
    found = incident_severity({"severity": "zzzzzzzzzzz"}, event, "severity", table, default)
    expected = table.get(event, default)
    assert found.severity == expected


def test_the_documented_example() -> None:
    table = {"critical": "sev1", "warning": "sev3"}
    assert (
        incident_severity({"severity": "critical"}, None, "severity", table, "sev4").severity
        == "sev1"
    )
    assert incident_severity({}, "warning", "severity", table, "sev4").severity == "sev3"
    assert (
        incident_severity({"severity": "page"}, None, "severity", table, "sev4").severity == "sev4"
    )
