"""Tocsin's alert fingerprint is Alertmanager's: the same alert has the same identity in both."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tocsin.alerts.fingerprint import EMPTY_FINGERPRINT, label_fingerprint

WIRE = Path(__file__).parent / "fixtures" / "wire"


def _captured_alerts() -> list[dict[str, Any]]:
    bodies = [
        json.loads(line)["body"]
        for line in (WIRE / "alertmanager-0.25-webhook-v4.jsonl").read_text().splitlines()
        if line.strip()
    ]
    bodies += json.loads((WIRE / "alertmanager-0.25-webhook-v4-pd-test.json").read_text())
    return [alert for body in bodies for alert in body["alerts"]]


CAPTURED = _captured_alerts()

label_names = st.text(min_size=1, max_size=12)
label_values = st.text(max_size=12)
label_sets = st.dictionaries(label_names, label_values, max_size=8)


@pytest.mark.parametrize("alert", CAPTURED, ids=[alert["fingerprint"] for alert in CAPTURED])
def test_fingerprint_equals_the_one_alertmanager_computed(alert: dict[str, Any]) -> None:
    assert label_fingerprint(alert["labels"]) == alert["fingerprint"]


def test_every_captured_alert_is_covered() -> None:
    # Four distinct alerts in the webhook log plus the firing/resolved pair of the PD test.
    assert len(CAPTURED) == 6
    assert len({alert["fingerprint"] for alert in CAPTURED}) == 5


def test_empty_label_set_has_alertmanagers_empty_fingerprint() -> None:
    assert label_fingerprint({}) == EMPTY_FINGERPRINT == "cbf29ce484222325"


def test_moving_characters_between_name_and_value_changes_the_fingerprint() -> None:
    assert label_fingerprint({"ab": "c"}) != label_fingerprint({"a": "bc"})
    assert label_fingerprint({"a": "b", "c": "d"}) != label_fingerprint({"a": "bc", "": "d"})
    # An empty value is still a pair; parsers drop such labels before fingerprinting.
    assert label_fingerprint({"a": "b", "c": ""}) != label_fingerprint({"a": "b"})


def test_a_lone_surrogate_from_a_json_escape_does_not_break_hashing() -> None:
    labels = json.loads('{"alertname": "bad \\ud800 text"}')
    assert re.fullmatch(r"[0-9a-f]{16}", label_fingerprint(labels))


@given(label_sets, st.randoms(use_true_random=False))
def test_fingerprint_does_not_depend_on_label_order(labels: dict[str, str], rnd: Any) -> None:
    items = list(labels.items())
    rnd.shuffle(items)
    assert label_fingerprint(dict(items)) == label_fingerprint(labels)


@given(st.lists(label_sets, min_size=2, max_size=40))
def test_distinct_label_sets_get_distinct_fingerprints(sets: list[dict[str, str]]) -> None:
    distinct = {frozenset(labels.items()): label_fingerprint(labels) for labels in sets}
    assert len(set(distinct.values())) == len(distinct)


@given(label_sets)
def test_fingerprint_is_sixteen_lowercase_hex_digits(labels: dict[str, str]) -> None:
    assert re.fullmatch(r"[0-9a-f]{16}", label_fingerprint(labels))


@given(st.lists(st.text(max_size=6), max_size=10))
def test_code_point_order_is_utf8_byte_order(names: list[str]) -> None:
    # Alertmanager (Go) sorts label names by their UTF-8 bytes, Python by code point; the
    # fingerprint relies on both orders being the same.
    assert sorted(names) == sorted(names, key=lambda name: name.encode("utf-8"))


def test_twenty_thousand_instances_of_one_rule_get_twenty_thousand_identities() -> None:
    fingerprints = {
        label_fingerprint(
            {"alertname": "HighLatency", "instance": f"api-{n}:9100", "severity": "warning"}
        )
        for n in range(20_000)
    }
    assert len(fingerprints) == 20_000
