"""Every wire format Tocsin accepts, checked against what the real tools send.

The Alertmanager captures in tests/fixtures/wire are bodies a real Alertmanager 0.25 sent;
the Grafana, PagerDuty and Opsgenie shapes follow those services' published documentation.
"""

from __future__ import annotations

import copy
import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tocsin.alerts.formats import alertmanager, generic, grafana, opsgenie, pagerduty
from tocsin.alerts.formats.errors import AlertFormatError, ErrorKind
from tocsin.alerts.formats.generic import MISSING, GenericMapping, resolve
from tocsin.alerts.normalized import (
    AlertStatus,
    DedupBasis,
    NormalizedAlert,
    Severity,
    SourceKind,
    WireFormat,
)

WIRE = Path(__file__).parent / "fixtures" / "wire"
NOW = datetime(2026, 11, 26, 15, 20, tzinfo=UTC)


def capture(name: str) -> Any:
    return json.loads((WIRE / name).read_text())


def webhook_log() -> list[dict[str, Any]]:
    lines = (WIRE / "alertmanager-0.25-webhook-v4.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


FIRING, RESOLVED = capture("alertmanager-0.25-webhook-v4-pd-test.json")
PD_TRIGGER, PD_RESOLVE = capture("alertmanager-0.25-to-pagerduty-events-v2.json")
(OG_CREATE,) = capture("alertmanager-0.25-to-opsgenie-v2-create.json")
(OG_CLOSE,) = capture("alertmanager-0.25-to-opsgenie-v2-close.json")
GROUP_KEY_SHA = hashlib.sha256(FIRING["groupKey"].encode()).hexdigest()


def rejected(parse: Any, body: Any, **kwargs: Any) -> AlertFormatError:
    with pytest.raises(AlertFormatError) as caught:
        parse(body, now=NOW, **kwargs)
    return caught.value


# --- Alertmanager webhook -------------------------------------------------------------------


@pytest.mark.parametrize("entry", webhook_log(), ids=lambda entry: entry["body"]["receiver"])
def test_alertmanager_webhook_alerts_keep_alertmanagers_identity(entry: dict[str, Any]) -> None:
    assert entry["user_agent"].startswith("Alertmanager/")
    body = entry["body"]
    alerts = alertmanager.parse_webhook(body, now=NOW)
    assert len(alerts) == len(body["alerts"])
    for alert, sent in zip(alerts, body["alerts"], strict=True):
        assert alert.fingerprint == alert.dedup_key == sent["fingerprint"]
        assert alert.sender_fingerprint == sent["fingerprint"]
        assert alert.dedup_basis is DedupBasis.LABELS
        assert alert.source is SourceKind.ALERTMANAGER
        assert alert.wire_format is WireFormat.ALERTMANAGER_WEBHOOK_V4
        assert alert.labels == sent["labels"]
        assert alert.group_key == body["groupKey"]
        assert alert.group_labels == body["groupLabels"]
        assert alert.status is AlertStatus.FIRING
        assert alert.ends_at is None and alert.expires_at is None
        # The raw pointer leads back to exactly this alert in the stored body.
        assert resolve(body, alert.raw_pointer)[0] == sent


def test_alertmanager_webhook_firing_then_resolved_group() -> None:
    (firing,) = alertmanager.parse_webhook(FIRING, now=NOW)
    (resolved,) = alertmanager.parse_webhook(RESOLVED, now=NOW)
    started = datetime(2026, 11, 26, 15, 14, 55, 420287, tzinfo=UTC)  # ns cut to µs
    assert firing.starts_at == resolved.starts_at == started
    assert firing.status is AlertStatus.FIRING and firing.ends_at is None
    assert resolved.status is AlertStatus.RESOLVED
    assert resolved.ends_at == datetime(2026, 11, 26, 15, 14, 58, tzinfo=UTC)
    assert firing.summary == "checkout down"
    assert firing.severity is Severity.CRITICAL
    assert firing.generator_url == "http://prom.example/graph"
    assert resolved.generator_url is None  # sent as ""
    assert firing.annotations == {"description": "HTTP 503 for 5m", "summary": "checkout down"}


def test_alertmanager_severity_words_map_onto_four_levels() -> None:
    severities = {
        alert.labels["alertname"]: alert.severity
        for entry in webhook_log()
        for alert in alertmanager.parse_webhook(entry["body"], now=NOW)
    }
    assert severities == {
        "HighLatency": Severity.WARNING,
        "DiskFull": Severity.CRITICAL,  # severity="page"
        "ErrorRate": Severity.CRITICAL,
    }


def test_unknown_fields_are_ignored() -> None:
    body = copy.deepcopy(FIRING)
    body["someFutureField"] = {"nested": [1, 2]}
    body["alerts"][0]["anotherNewField"] = "x"
    assert alertmanager.parse_webhook(body, now=NOW) == alertmanager.parse_webhook(FIRING, now=NOW)


def test_webhook_without_labels_is_rejected_naming_the_field() -> None:
    body = copy.deepcopy(FIRING)
    del body["alerts"][0]["labels"]
    error = rejected(alertmanager.parse_webhook, body)
    assert str(error) == "alerts[0].labels: required"
    assert error.field == "alerts[0].labels"
    assert error.errors[0].kind is ErrorKind.REQUIRED
    assert error.problem_errors() == [{"field": "alerts[0].labels", "message": "required"}]


def test_webhook_of_another_version_is_rejected() -> None:
    body = {**FIRING, "version": "1"}
    assert str(rejected(alertmanager.parse_webhook, body)) == 'version: must be "4"'


def test_webhook_errors_name_every_bad_alert() -> None:
    body = copy.deepcopy(webhook_log()[0]["body"])
    body["alerts"][0]["status"] = "burning"
    body["alerts"][1]["labels"] = {"alertname": 3}
    error = rejected(alertmanager.parse_webhook, body)
    assert [e.field for e in error.errors] == ["alerts[0].status", "alerts[1].labels.alertname"]
    assert error.errors[0].message == "must be 'firing' or 'resolved'"
    assert error.errors[1].message == "must be a string"


def test_webhook_resolution_before_start_is_rejected() -> None:
    body = copy.deepcopy(RESOLVED)
    body["alerts"][0]["endsAt"] = "2026-11-26T15:00:00Z"
    assert str(rejected(alertmanager.parse_webhook, body)) == (
        "alerts[0].endsAt: must not be before startsAt"
    )


def test_time_that_is_not_rfc3339_is_rejected() -> None:
    body = copy.deepcopy(FIRING)
    body["alerts"][0]["startsAt"] = "yesterday"
    error = rejected(alertmanager.parse_webhook, body)
    assert error.field == "alerts[0].startsAt"
    assert "RFC 3339" in error.message


# --- Alertmanager API v2 --------------------------------------------------------------------


def postable(alert: dict[str, Any]) -> dict[str, Any]:
    keep = ("labels", "annotations", "startsAt", "endsAt", "generatorURL")
    return {key: alert[key] for key in keep if key in alert}


def test_api_v2_accepts_the_alerts_prometheus_posts() -> None:
    sent = [postable(alert) for alert in webhook_log()[0]["body"]["alerts"]]
    sent[0]["endsAt"] = "2026-11-26T15:24:00Z"  # Prometheus sends a future endsAt
    alerts = alertmanager.parse_api_v2(sent, now=NOW)
    assert [a.fingerprint for a in alerts] == ["4eaa267e857c3db3", "d1c72883aa37b066"]
    assert all(a.wire_format is WireFormat.ALERTMANAGER_API_V2 for a in alerts)
    assert [a.raw_pointer for a in alerts] == ["/0", "/1"]
    assert all(a.status is AlertStatus.FIRING for a in alerts)
    assert alerts[0].expires_at == datetime(2026, 11, 26, 15, 24, tzinfo=UTC)
    # endsAt 0001-01-01 means none: the alert expires after Alertmanager's resolve timeout.
    assert alerts[1].expires_at == NOW + timedelta(minutes=5)


def test_api_v2_alert_without_labels_gets_alertmanagers_exact_answer() -> None:
    for body in ([{"annotations": {"summary": "x"}}], [{"labels": None}]):
        error = rejected(alertmanager.parse_api_v2, body)
        assert str(error) == "[0].labels: required"
        assert alertmanager.api_v2_rejection(error) == (
            422,
            {"code": 602, "message": "0.labels in body is required"},
        )


def test_api_v2_reports_the_first_problem_like_alertmanager() -> None:
    body = [{"labels": {"a": "b"}}, {"annotations": {}}, {"labels": {"x": 1}}]
    error = rejected(alertmanager.parse_api_v2, body)
    assert [e.field for e in error.errors] == ["[1].labels", "[2].labels.x"]
    assert alertmanager.api_v2_rejection(error) == (
        422,
        {"code": 602, "message": "1.labels in body is required"},
    )


def test_api_v2_type_errors_and_semantic_errors() -> None:
    error = rejected(alertmanager.parse_api_v2, {"labels": {"a": "b"}})
    assert alertmanager.api_v2_rejection(error) == (
        422,
        {"code": 601, "message": "alerts in body must be of type array"},
    )
    error = rejected(alertmanager.parse_api_v2, [{"labels": {}}])
    assert str(error) == "[0].labels: at least one label pair required"
    assert alertmanager.api_v2_rejection(error)[0] == 400
    error = rejected(
        alertmanager.parse_api_v2,
        [
            {
                "labels": {"a": "b"},
                "startsAt": "2026-11-26T15:00:00Z",
                "endsAt": "2026-11-26T14:00:00Z",
            }
        ],
    )
    assert str(error) == "[0].endsAt: start time must be before end time"


def test_api_v2_drops_empty_labels_like_alertmanager() -> None:
    sent = postable(FIRING["alerts"][0])
    sent["labels"] = {**sent["labels"], "pod": ""}
    (alert,) = alertmanager.parse_api_v2([sent], now=NOW)
    assert "pod" not in alert.labels
    assert alert.fingerprint == FIRING["alerts"][0]["fingerprint"]
    (only_empty,) = rejected(alertmanager.parse_api_v2, [{"labels": {"a": ""}}]).errors
    assert only_empty.message == "at least one label pair required"


def test_api_v2_timing_follows_alertmanager() -> None:
    labels = {"alertname": "Timing"}
    earlier, later = NOW - timedelta(minutes=3), NOW + timedelta(minutes=3)
    bare, ended, ends_later, start_only = alertmanager.parse_api_v2(
        [
            {"labels": labels},
            {"labels": labels, "endsAt": earlier.isoformat()},
            {"labels": labels, "endsAt": later.isoformat()},
            {"labels": labels, "startsAt": earlier.isoformat()},
        ],
        now=NOW,
        resolve_timeout=timedelta(minutes=10),
    )
    assert (bare.starts_at, bare.status, bare.expires_at) == (
        NOW,
        AlertStatus.FIRING,
        NOW + timedelta(minutes=10),
    )
    # No start but an end in the past: starts and ends then, already resolved.
    assert (ended.starts_at, ended.status, ended.ends_at) == (
        earlier,
        AlertStatus.RESOLVED,
        earlier,
    )
    assert (ends_later.status, ends_later.expires_at) == (AlertStatus.FIRING, later)
    assert (start_only.starts_at, start_only.status) == (earlier, AlertStatus.FIRING)
    # An endsAt exactly now is resolved, as in Alertmanager (not after now).
    (at_now,) = alertmanager.parse_api_v2([{"labels": labels, "endsAt": NOW.isoformat()}], now=NOW)
    assert at_now.status is AlertStatus.RESOLVED


def test_times_with_offsets_become_utc() -> None:
    (alert,) = alertmanager.parse_api_v2(
        [{"labels": {"a": "b"}, "startsAt": "2026-11-26T17:00:00+02:00"}], now=NOW
    )
    assert alert.starts_at == datetime(2026, 11, 26, 15, 0, tzinfo=UTC)
    assert alert.starts_at.tzinfo is UTC
    error = rejected(
        alertmanager.parse_api_v2, [{"labels": {"a": "b"}, "startsAt": "0001-01-01T00:00:00+02:00"}]
    )
    assert error.field == "[0].startsAt"


# --- Grafana --------------------------------------------------------------------------------


def grafana_body() -> dict[str, Any]:
    """A notification in the shape Grafana's webhook contact point documents."""
    return {
        "receiver": "tocsin",
        "status": "firing",
        "orgId": 1,
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": "Memory", "team": "payments", "zone": "eu-2"},
                "annotations": {"summary": "memory at 93% in eu-2", "runbook_url": "https://rb"},
                "startsAt": "2026-11-26T16:10:00.5+01:00",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "https://grafana.example/alerting/grafana/abc/view",
                "fingerprint": "0123456789abcdef",
                "silenceURL": "https://grafana.example/alerting/silence/new?matchers=x",
                "dashboardURL": "https://grafana.example/d/mem",
                "panelURL": "https://grafana.example/d/mem?viewPanel=2",
                "values": {"B": 93.2, "C": 1},
                "valueString": "[ var='B' value=93.2 ]",
            },
            {
                "status": "resolved",
                "labels": {"alertname": "Memory", "team": "payments", "zone": "eu-1"},
                "annotations": {},
                "startsAt": "2026-11-26T15:00:00Z",
                "endsAt": "2026-11-26T15:12:00Z",
                "generatorURL": "",
                "fingerprint": "fedcba9876543210",
                "silenceURL": "",
                "dashboardURL": "",
                "panelURL": "",
                "values": None,
            },
        ],
        "groupLabels": {"alertname": "Memory"},
        "commonLabels": {"alertname": "Memory", "team": "payments"},
        "commonAnnotations": {},
        "externalURL": "https://grafana.example/",
        "version": "1",
        "groupKey": '{}/{}:{alertname="Memory"}',
        "truncatedAlerts": 0,
        "title": "[FIRING:1, RESOLVED:1] Memory (payments)",
        "state": "alerting",
        "message": "**Firing** ...",
    }


def test_grafana_webhook_keeps_links_and_values() -> None:
    firing, resolved = grafana.parse_webhook(grafana_body(), now=NOW)
    assert firing.source is SourceKind.GRAFANA
    assert firing.wire_format is WireFormat.GRAFANA_WEBHOOK_V1
    assert firing.starts_at == datetime(2026, 11, 26, 15, 10, 0, 500000, tzinfo=UTC)
    assert firing.summary == "memory at 93% in eu-2"
    assert firing.details == {
        "silence_url": "https://grafana.example/alerting/silence/new?matchers=x",
        "dashboard_url": "https://grafana.example/d/mem",
        "panel_url": "https://grafana.example/d/mem?viewPanel=2",
        "values": {"B": 93.2, "C": 1},
        "value_string": "[ var='B' value=93.2 ]",
        "org_id": 1,
    }
    assert resolved.status is AlertStatus.RESOLVED
    assert resolved.ends_at == datetime(2026, 11, 26, 15, 12, tzinfo=UTC)
    assert resolved.details == {"org_id": 1}
    assert resolved.summary == "Memory"  # no annotations: the alert's name


def test_grafana_identity_is_the_fingerprint_of_the_labels_it_sent() -> None:
    firing, _ = grafana.parse_webhook(grafana_body(), now=NOW)
    # Grafana's own fingerprint may cover rule labels it does not send: kept, not trusted.
    assert firing.sender_fingerprint == "0123456789abcdef"
    assert firing.dedup_key == firing.fingerprint != firing.sender_fingerprint
    same_alert = copy.deepcopy(grafana_body())
    same_alert["alerts"][0]["fingerprint"] = "ffffffffffffffff"
    assert grafana.parse_webhook(same_alert, now=NOW)[0].dedup_key == firing.dedup_key


def test_grafana_and_alertmanager_do_not_accept_each_others_versions() -> None:
    assert str(rejected(grafana.parse_webhook, FIRING)) == 'version: must be "1"'
    assert str(rejected(alertmanager.parse_webhook, grafana_body())) == 'version: must be "4"'


def test_grafana_nulls_where_go_writes_them_are_accepted() -> None:
    body = grafana_body()
    body["commonAnnotations"] = None
    body["alerts"][1]["annotations"] = None
    body["alerts"][1]["generatorURL"] = None
    _, resolved = grafana.parse_webhook(body, now=NOW)
    assert resolved.annotations == {} and resolved.generator_url is None


# --- PagerDuty ------------------------------------------------------------------------------


def test_pagerduty_trigger_from_alertmanager() -> None:
    (alert,) = pagerduty.parse_events_v2(PD_TRIGGER, now=NOW)
    assert alert.source is SourceKind.PAGERDUTY
    assert alert.dedup_basis is DedupBasis.DEDUP_KEY
    # Alertmanager derives the dedup key from the group: both captures agree on it.
    assert alert.dedup_key == PD_TRIGGER["dedup_key"] == GROUP_KEY_SHA
    assert alert.status is AlertStatus.FIRING and not alert.partial
    assert alert.summary == "[FIRING:1] PDTest checkout (c-1 critical)"
    assert alert.severity is Severity.ERROR
    assert alert.labels == {"source": "Alertmanager", "severity": "error"}
    assert alert.starts_at == NOW  # no payload.timestamp: received time
    assert alert.generator_url == "http://vm:19093/#/alerts?receiver=fanout"
    assert alert.details["custom_details"]["num_firing"] == "1"
    assert alert.details["client"] == "Alertmanager"
    assert pagerduty.routing_key(PD_TRIGGER) == "R0123456789abcdef0123456789abcde"


def test_pagerduty_resolve_names_the_alert_and_carries_no_content() -> None:
    (alert,) = pagerduty.parse_events_v2(PD_RESOLVE, now=NOW)
    assert alert.dedup_key == GROUP_KEY_SHA
    assert alert.status is AlertStatus.RESOLVED and alert.ends_at == NOW
    assert alert.partial and alert.labels == {} and alert.summary == ""


def test_pagerduty_acknowledge_and_its_key() -> None:
    event = {"routing_key": "k" * 32, "event_action": "acknowledge", "dedup_key": "srv01/HTTP"}
    (alert,) = pagerduty.parse_events_v2(event, now=NOW)
    assert (alert.acknowledged, alert.partial, alert.status) == (True, True, AlertStatus.FIRING)
    del event["dedup_key"]
    error = rejected(pagerduty.parse_events_v2, event)
    assert str(error) == "dedup_key: required for acknowledge events"
    assert pagerduty.rejection(error) == (
        400,
        {
            "status": "invalid event",
            "message": "Event object is invalid",
            "errors": ["dedup_key: required for acknowledge events"],
        },
    )


def test_pagerduty_trigger_without_key_gets_a_new_one_each_time() -> None:
    event = copy.deepcopy(PD_TRIGGER)
    del event["dedup_key"]
    event["payload"]["timestamp"] = "2015-07-17T08:42:58.315+0000"
    keys = iter(["first", "second"])
    (one,) = pagerduty.parse_events_v2(event, now=NOW, new_key=lambda: next(keys))
    (two,) = pagerduty.parse_events_v2(event, now=NOW, new_key=lambda: next(keys))
    assert (one.dedup_key, two.dedup_key) == ("first", "second")
    assert one.dedup_basis is DedupBasis.GENERATED
    assert one.starts_at == datetime(2015, 7, 17, 8, 42, 58, 315000, tzinfo=UTC)
    assert pagerduty.accepted_v2(one.dedup_key) == (
        202,
        {"status": "success", "message": "Event processed", "dedup_key": "first"},
    )


def test_pagerduty_payload_fields_become_labels_and_long_summaries_are_cut() -> None:
    event = {
        "routing_key": "k" * 32,
        "event_action": "trigger",
        "dedup_key": "srv01/mysql",
        "payload": {
            "summary": "DISK at 99% on prod-datapipe03\n" + "x" * 2000,
            "source": "prod-datapipe03.example.com",
            "severity": "critical",
            "component": "mysql",
            "group": "prod-datapipe",
            "class": "disk",
            "custom_details": {"free space": "1%", "load avg": 0.75},
        },
        "links": [{"href": "https://runbooks.example/disk", "text": "Runbook"}],
    }
    (alert,) = pagerduty.parse_events_v2(event, now=NOW)
    assert alert.labels == {
        "source": "prod-datapipe03.example.com",
        "severity": "critical",
        "component": "mysql",
        "group": "prod-datapipe",
        "class": "disk",
    }
    assert alert.summary == "DISK at 99% on prod-datapipe03"
    assert len(alert.annotations["summary"]) == pagerduty.MAX_SUMMARY
    assert alert.details["links"] == [{"href": "https://runbooks.example/disk", "text": "Runbook"}]
    assert alert.details["custom_details"] == {"free space": "1%", "load avg": 0.75}


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda e: e.pop("payload"), "payload: required for trigger events"),
        (lambda e: e["payload"].pop("summary"), "payload.summary: required"),
        (lambda e: e["payload"].update(source="  "), "payload.source: must not be blank"),
        (
            lambda e: e["payload"].update(severity="high"),
            "payload.severity: must be 'critical', 'error', 'warning' or 'info'",
        ),
        (
            lambda e: e.update(event_action="open"),
            "event_action: must be 'trigger', 'acknowledge' or 'resolve'",
        ),
        (lambda e: e.pop("routing_key"), "routing_key: required"),
        (lambda e: e.update(dedup_key="x" * 256), "dedup_key: must be at most 255 characters"),
    ],
)
def test_pagerduty_invalid_events(change: Any, expected: str) -> None:
    event = copy.deepcopy(PD_TRIGGER)
    change(event)
    assert str(rejected(pagerduty.parse_events_v2, event)) == expected


def test_pagerduty_ignores_the_payload_of_a_resolve_like_pagerduty() -> None:
    event = {**PD_RESOLVE, "payload": {"summary": 3}}
    (alert,) = pagerduty.parse_events_v2(event, now=NOW)
    assert alert.status is AlertStatus.RESOLVED


def test_pagerduty_v1_generic_events() -> None:
    trigger = {
        "service_key": "e93facc04764012d7bfb002500d5d1a6",
        "event_type": "trigger",
        "incident_key": "srv01/HTTP",
        "description": "FAILURE for production/HTTP on machine srv01",
        "client": "Nagios",
        "client_url": "https://monitoring.example",
        "details": {"ping time": "1500ms", "load avg": 0.75},
    }
    (alert,) = pagerduty.parse_events_v1(trigger, now=NOW)
    assert alert.wire_format is WireFormat.PAGERDUTY_EVENTS_V1
    assert (alert.dedup_key, alert.summary) == ("srv01/HTTP", trigger["description"])
    assert alert.labels == {"client": "Nagios"}
    assert alert.details["details"] == {"ping time": "1500ms", "load avg": 0.75}
    assert alert.severity is None  # v1 has none: the routing policy decides
    assert pagerduty.routing_key(trigger) == trigger["service_key"]
    assert pagerduty.accepted_v1("srv01/HTTP")[1]["incident_key"] == "srv01/HTTP"
    resolve = {"service_key": "k", "event_type": "resolve", "incident_key": "srv01/HTTP"}
    (done,) = pagerduty.parse_events_v1(resolve, now=NOW)
    assert done.status is AlertStatus.RESOLVED and done.partial
    assert str(rejected(pagerduty.parse_events_v1, {**trigger, "description": ""})) == (
        "description: required for trigger events"
    )
    assert str(rejected(pagerduty.parse_events_v1, {**resolve, "incident_key": None})) == (
        "incident_key: required for resolve events"
    )


# --- Opsgenie -------------------------------------------------------------------------------


def test_opsgenie_create_from_alertmanager() -> None:
    (alert,) = opsgenie.parse_create(OG_CREATE, now=NOW)
    assert alert.source is SourceKind.OPSGENIE
    assert alert.dedup_basis is DedupBasis.ALIAS
    assert alert.dedup_key == OG_CREATE["alias"] == GROUP_KEY_SHA
    # Alertmanager puts the alert's labels in `details`: the same labels, the same fingerprint.
    assert alert.labels == FIRING["alerts"][0]["labels"]
    assert alert.fingerprint == FIRING["alerts"][0]["fingerprint"]
    assert alert.summary == "[FIRING:1] PDTest checkout (c-1 critical)"
    assert alert.annotations["description"].startswith("HTTP 503 for 5m checkout down\n")
    assert alert.annotations["source"] == "http://vm:19093/#/alerts?receiver=fanout"
    assert alert.annotations["priority"] == "P3"  # Opsgenie's default
    assert alert.severity is Severity.WARNING


def test_opsgenie_close_by_alias_from_alertmanager() -> None:
    (alert,) = opsgenie.parse_close(
        OG_CLOSE, identifier=GROUP_KEY_SHA, identifier_type="alias", now=NOW
    )
    assert (alert.dedup_key, alert.status, alert.partial) == (
        GROUP_KEY_SHA,
        AlertStatus.RESOLVED,
        True,
    )
    (ack,) = opsgenie.parse_acknowledge(None, identifier="a1", identifier_type="alias", now=NOW)
    assert ack.acknowledged and ack.status is AlertStatus.FIRING


def test_opsgenie_close_by_opsgenie_id_is_refused_with_a_hint() -> None:
    for kind in (None, "id", "tiny"):
        with pytest.raises(AlertFormatError) as caught:
            opsgenie.parse_close({}, identifier="x", identifier_type=kind, now=NOW)
        assert caught.value.field == "identifierType"
        assert "identifierType=alias" in caught.value.message


def test_opsgenie_invalid_create_answers_like_opsgenie() -> None:
    error = rejected(opsgenie.parse_create, {**OG_CREATE, "priority": "P9"})
    assert opsgenie.rejection(error, "req-1") == (
        422,
        {
            "message": "Request body is not processable. Please check the errors.",
            "errors": {"priority": "should be one of [ P1, P2, P3, P4, P5 ]"},
            "took": 0.0,
            "requestId": "req-1",
        },
    )
    assert str(rejected(opsgenie.parse_create, {**OG_CREATE, "message": " "})) == (
        "message: can not be empty"
    )
    assert rejected(opsgenie.parse_create, {"alias": "a"}).field == "message"
    assert rejected(opsgenie.parse_create, {**OG_CREATE, "alias": "a" * 513}).field == "alias"
    nested = {**OG_CREATE, "details": {"k": {"deep": 1}}}
    assert rejected(opsgenie.parse_create, nested).field == "details"
    assert opsgenie.accepted("req-2")[0] == 202


def test_opsgenie_create_with_tags_entity_and_priority() -> None:
    body = {
        "message": "Disk almost full",
        "alias": "disk-db-1",
        "tags": ["db", "disk"],
        "entity": "db-1",
        "priority": "P1",
        "details": {"service": "db", "free": 3, "critical": True},
    }
    (alert,) = opsgenie.parse_create(body, now=NOW)
    assert alert.labels == {"service": "db", "free": "3", "critical": "true", "entity": "db-1"}
    assert alert.annotations["tags"] == "db,disk"
    assert alert.severity is Severity.CRITICAL
    # Without an alias every create is a new alert, as in Opsgenie.
    (one,) = opsgenie.parse_create({"message": "m"}, now=NOW, new_key=lambda: "generated")
    assert (one.dedup_key, one.dedup_basis) == ("generated", DedupBasis.GENERATED)


# --- Generic JSON ---------------------------------------------------------------------------


def test_generic_default_mapping() -> None:
    body = {"title": "Disk full", "status": "firing", "labels": {"host": "db-1"}, "x": 1}
    (alert,) = generic.parse(body, now=NOW)
    assert alert.source is SourceKind.GENERIC
    assert (alert.summary, alert.labels, alert.status) == (
        "Disk full",
        {"host": "db-1"},
        AlertStatus.FIRING,
    )
    assert alert.dedup_key == alert.fingerprint
    assert alert.starts_at == NOW
    (bare,) = generic.parse({"title": "Backup failed"}, now=NOW)
    assert bare.labels == {"alertname": "Backup failed"}  # so repeats still deduplicate
    many = generic.parse([{"title": "a"}, {"title": "b", "status": "resolved"}], now=NOW)
    assert [(a.raw_pointer, a.status) for a in many] == [
        ("/0", AlertStatus.FIRING),
        ("/1", AlertStatus.RESOLVED),
    ]
    assert many[1].ends_at == NOW


def test_generic_custom_mapping_with_pointers() -> None:
    mapping = GenericMapping(
        alerts="/data/events",
        dedup_key="/id",
        status="/state",
        resolved_values=("OK",),
        firing_values=("ALARM",),
        summary="/check/name",
        labels=None,
        label_fields={"host": "/check/host", "team": "/meta/owner~1team"},
        annotations=None,
        annotation_fields={"runbook": "/links/0"},
        severity="/level",
        starts_at="/since",
        ends_at="/until",
        generator_url="/links/1",
    )
    body = {
        "data": {
            "events": [
                {
                    "id": 4711,
                    "state": "ALARM",
                    "check": {"name": "HTTP check", "host": "web-1"},
                    "meta": {"owner/team": "web"},
                    "links": ["https://rb/http", "https://mon/4711"],
                    "level": "major",
                    "since": 1_764_169_200,
                },
                {
                    "id": "4712",
                    "state": "ok",
                    "check": {"name": "Ping", "host": "web-2"},
                    "since": "2026-11-26T15:00:00Z",
                    "until": "2026-11-26T15:05:00Z",
                },
            ]
        }
    }
    alarm, ok = generic.parse(body, now=NOW, mapping=mapping)
    assert (alarm.dedup_key, alarm.dedup_basis) == ("4711", DedupBasis.FIELD)
    assert alarm.labels == {"host": "web-1", "team": "web"}
    assert alarm.annotations == {"runbook": "https://rb/http", "summary": "HTTP check"}
    assert alarm.generator_url == "https://mon/4711"
    assert alarm.severity is Severity.ERROR
    assert alarm.starts_at == datetime.fromtimestamp(1_764_169_200, UTC)
    assert alarm.raw_pointer == "/data/events/0"
    assert (ok.status, ok.ends_at) == (
        AlertStatus.RESOLVED,
        datetime(2026, 11, 26, 15, 5, tzinfo=UTC),
    )


def test_generic_errors_name_the_place_in_the_body() -> None:
    mapping = GenericMapping(alerts="/items")
    error = rejected(
        generic.parse, {"items": [{"title": "a", "status": "exploded"}]}, mapping=mapping
    )
    assert error.field == "items[0].status"
    assert error.message.startswith("must be one of firing, triggered")
    assert str(rejected(generic.parse, {}, mapping=mapping)) == "items: required"
    assert str(rejected(generic.parse, {"items": {}}, mapping=mapping)) == "items: must be an array"
    assert str(rejected(generic.parse, {"labels": {"a": [1]}})) == "labels.a: must be a string"
    assert str(rejected(generic.parse, {"status": "firing"})) == "title: required (or labels)"
    assert str(rejected(generic.parse, [1])) == "[0]: must be an object"
    error = rejected(generic.parse, {"title": "t", "starts_at": "soon"})
    assert (error.field, error.message) == ("starts_at", "must be an RFC 3339 date-time")


def test_generic_mapping_must_use_json_pointers() -> None:
    with pytest.raises(ValueError, match="not a JSON pointer"):
        GenericMapping(summary="title")
    with pytest.raises(ValueError, match="not a JSON pointer"):
        GenericMapping(label_fields={"host": "host"})
    with pytest.raises(ValueError):
        GenericMapping.model_validate({"summry": "/t"})  # a typo in configuration is an error


def test_json_pointer_resolution() -> None:
    doc = {"a/b": {"m~n": [10, 20]}, "": 1}
    assert resolve(doc, "/a~1b/m~0n/1") == (20, ("a/b", "m~n", 1))
    assert resolve(doc, "/") == (1, ("",))
    assert resolve(doc, "") == (doc, ())
    assert resolve(doc, "/a~1b/m~0n/7")[0] is MISSING
    assert resolve(doc, "/a~1b/x/y") == (MISSING, ("a/b", "x", "y"))


# --- Every parser, arbitrary input ----------------------------------------------------------

PARSERS: dict[str, Any] = {
    "alertmanager-webhook": lambda body: alertmanager.parse_webhook(body, now=NOW),
    "alertmanager-api-v2": lambda body: alertmanager.parse_api_v2(body, now=NOW),
    "grafana": lambda body: grafana.parse_webhook(body, now=NOW),
    "pagerduty-v2": lambda body: pagerduty.parse_events_v2(body, now=NOW),
    "pagerduty-v1": lambda body: pagerduty.parse_events_v1(body, now=NOW),
    "opsgenie-create": lambda body: opsgenie.parse_create(body, now=NOW),
    "opsgenie-close": lambda body: opsgenie.parse_close(
        body, identifier="a", identifier_type="alias", now=NOW
    ),
    "generic": lambda body: generic.parse(body, now=NOW),
    "generic-mapped": lambda body: generic.parse(
        body, now=NOW, mapping=GenericMapping(alerts="/alerts", dedup_key="/fingerprint")
    ),
}

FIELD_NAMES = [
    "alerts", "labels", "annotations", "status", "startsAt", "endsAt", "version", "groupKey",
    "fingerprint", "generatorURL", "orgId", "values", "routing_key", "event_action",
    "dedup_key", "payload", "summary", "source", "severity", "timestamp", "class", "links",
    "images", "service_key", "event_type", "incident_key", "description", "details",
    "message", "alias", "priority", "tags", "title", "starts_at", "ends_at",
]  # fmt: skip
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=8)
    | st.sampled_from(
        ["firing", "resolved", "trigger", "resolve", "acknowledge", "4", "1", "P1", "critical",
         "0001-01-01T00:00:00Z", "0001-01-01T00:00:00+02:00", "9999-12-31T23:59:59-05:00",
         "2026-11-26T15:14:55.42028706Z", "1e999"]
    )
)  # fmt: skip
keys = st.sampled_from(FIELD_NAMES) | st.text(max_size=4)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=6),
    max_leaves=25,
)
REAL_BODIES = [FIRING, RESOLVED, PD_TRIGGER, PD_RESOLVE, OG_CREATE, grafana_body()]


@st.composite
def mutated_captures(draw: st.DrawFn) -> Any:
    """A real body with one subtree replaced: close to valid, so parsers get far."""
    body = copy.deepcopy(draw(st.sampled_from(REAL_BODIES)))
    node = body
    while isinstance(node, dict | list) and node and draw(st.booleans()):
        key = draw(st.sampled_from(list(node) if isinstance(node, dict) else range(len(node))))
        if not isinstance(node[key], dict | list) or draw(st.booleans()):
            node[key] = draw(json_values)
            break
        node = node[key]
    return body


def _only_typed_errors(body: Any) -> None:
    for name, parse in PARSERS.items():
        try:
            alerts = parse(body)
        except AlertFormatError as error:
            assert error.errors and all(e.message for e in error.errors), name
            alertmanager.api_v2_rejection(error)
            pagerduty.rejection(error)
            opsgenie.rejection(error, "r")
            continue
        assert all(isinstance(alert, NormalizedAlert) for alert in alerts), name


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(json_values)
def test_parsers_raise_only_the_typed_error_on_arbitrary_json(body: Any) -> None:
    _only_typed_errors(body)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_captures())
def test_parsers_raise_only_the_typed_error_on_damaged_real_bodies(body: Any) -> None:
    _only_typed_errors(body)
