"""Re-posted alerts merge: the earliest start stays, the latest content wins, and state only
moves the way the senders mean it to."""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tocsin.alerts.formats import alertmanager, opsgenie, pagerduty
from tocsin.alerts.merge import Transition, expire, merge
from tocsin.alerts.normalized import (
    AlertStatus,
    DedupBasis,
    NormalizedAlert,
    SourceKind,
    WireFormat,
)

WIRE = Path(__file__).parent / "fixtures" / "wire"
NOW = datetime(2026, 11, 26, 15, 20, tzinfo=UTC)
FIRING, RESOLVED = json.loads((WIRE / "alertmanager-0.25-webhook-v4-pd-test.json").read_text())
PD_EVENTS = json.loads((WIRE / "alertmanager-0.25-to-pagerduty-events-v2.json").read_text())
(OG_CREATE,) = json.loads((WIRE / "alertmanager-0.25-to-opsgenie-v2-create.json").read_text())


def webhook(body: dict[str, Any], now: datetime = NOW) -> NormalizedAlert:
    (alert,) = alertmanager.parse_webhook(body, now=now)
    return alert


def test_alertmanager_firing_then_resolved() -> None:
    result = merge(webhook(FIRING), webhook(RESOLVED))
    assert result.transition is Transition.RESOLVED
    assert result.alert.status is AlertStatus.RESOLVED
    assert result.alert.ends_at == datetime(2026, 11, 26, 15, 14, 58, tzinfo=UTC)
    assert result.alert.starts_at == webhook(FIRING).starts_at


def test_a_re_send_keeps_the_earliest_start_and_takes_the_latest_annotations() -> None:
    first = webhook(FIRING)
    resend = copy.deepcopy(FIRING)
    resend["alerts"][0]["startsAt"] = "2026-11-26T15:16:00Z"  # a restarted sender's view
    resend["alerts"][0]["annotations"]["summary"] = "checkout down (re-sent)"
    result = merge(first, webhook(resend))
    assert result.transition is Transition.REFRESHED
    assert result.alert.starts_at == first.starts_at
    assert result.alert.summary == "checkout down (re-sent)"
    assert result.alert.annotations["summary"] == "checkout down (re-sent)"


def test_a_delayed_firing_copy_does_not_reopen_a_resolved_alert() -> None:
    resolved = merge(webhook(FIRING), webhook(RESOLVED)).alert
    late = merge(resolved, webhook(FIRING))
    assert late.transition is Transition.UNCHANGED
    assert late.alert == resolved


def test_firing_again_after_the_resolution_is_a_new_occurrence() -> None:
    resolved = merge(webhook(FIRING), webhook(RESOLVED)).alert
    again = copy.deepcopy(FIRING)
    again["alerts"][0]["startsAt"] = "2026-11-26T15:30:00Z"
    result = merge(resolved, webhook(again))
    assert result.transition is Transition.REFIRED
    assert result.alert.status is AlertStatus.FIRING
    assert result.alert.starts_at == datetime(2026, 11, 26, 15, 30, tzinfo=UTC)
    assert result.alert.ends_at is None


def test_pagerduty_trigger_acknowledge_resolve() -> None:
    trigger, resolve = PD_EVENTS
    (opened,) = pagerduty.parse_events_v2(trigger, now=NOW)
    ack_event = {"routing_key": trigger["routing_key"], "event_action": "acknowledge"}
    (ack,) = pagerduty.parse_events_v2(
        {**ack_event, "dedup_key": trigger["dedup_key"]}, now=NOW + timedelta(minutes=1)
    )
    (done,) = pagerduty.parse_events_v2(resolve, now=NOW + timedelta(minutes=2))

    acknowledged = merge(opened, ack)
    assert acknowledged.transition is Transition.ACKNOWLEDGED
    assert acknowledged.alert.acknowledged
    assert acknowledged.alert.summary == opened.summary  # the ack brought no content
    assert merge(acknowledged.alert, ack).transition is Transition.UNCHANGED

    resolved = merge(acknowledged.alert, done)
    assert resolved.transition is Transition.RESOLVED
    assert resolved.alert.ends_at == NOW + timedelta(minutes=2)
    assert resolved.alert.summary == "[FIRING:1] PDTest checkout (c-1 critical)"
    assert resolved.alert.acknowledged  # the occurrence was acknowledged
    assert merge(resolved.alert, ack).transition is Transition.UNCHANGED


def test_opsgenie_create_then_close_by_alias() -> None:
    (created,) = opsgenie.parse_create(OG_CREATE, now=NOW)
    (closed,) = opsgenie.parse_close(
        {}, identifier=OG_CREATE["alias"], identifier_type="alias", now=NOW + timedelta(hours=1)
    )
    result = merge(created, closed)
    assert result.transition is Transition.RESOLVED
    assert result.alert.labels == created.labels
    assert result.alert.ends_at == NOW + timedelta(hours=1)


def test_api_v2_alert_expires_when_the_sender_stops_repeating_it() -> None:
    (alert,) = alertmanager.parse_api_v2([{"labels": {"alertname": "Quiet"}}], now=NOW)
    assert expire(alert, NOW + timedelta(minutes=4)).transition is Transition.UNCHANGED
    result = expire(alert, NOW + timedelta(minutes=9))
    assert result.transition is Transition.RESOLVED
    assert result.alert.ends_at == NOW + timedelta(minutes=5)  # when it expired, not when seen
    assert result.alert.expires_at == NOW + timedelta(minutes=5), "marks it as expired"
    # A repeat before expiry pushes the expiry forward.
    (repeat,) = alertmanager.parse_api_v2(
        [{"labels": {"alertname": "Quiet"}}], now=NOW + timedelta(minutes=4)
    )
    refreshed = merge(alert, repeat).alert
    assert refreshed.starts_at == NOW
    assert expire(refreshed, NOW + timedelta(minutes=6)).transition is Transition.UNCHANGED


def test_an_expired_alert_fires_again_when_its_sender_is_heard_again() -> None:
    """Prometheus cut off for longer than the resolve timeout, then back: it still sends
    the occurrence's first start, and the alert must fire again (as in Alertmanager)."""
    body = [{"labels": {"alertname": "Quiet"}, "startsAt": NOW.isoformat()}]
    (alert,) = alertmanager.parse_api_v2(body, now=NOW)
    expired = expire(alert, NOW + timedelta(minutes=20)).alert
    (back,) = alertmanager.parse_api_v2(body, now=NOW + timedelta(minutes=30))
    result = merge(expired, back)
    assert result.transition is Transition.REFIRED
    assert result.alert.firing and result.alert.starts_at == NOW
    # Resolved by its sender instead, the same late copy changes nothing.
    (resolved,) = alertmanager.parse_api_v2(
        [{**body[0], "endsAt": (NOW + timedelta(minutes=3)).isoformat()}],
        now=NOW + timedelta(minutes=3),
    )
    told = merge(alert, resolved).alert
    assert merge(told, back).transition is Transition.UNCHANGED


def test_only_posts_of_the_same_alert_merge() -> None:
    (other,) = alertmanager.parse_api_v2([{"labels": {"alertname": "Other"}}], now=NOW)
    with pytest.raises(ValueError, match="same dedup key"):
        merge(webhook(FIRING), other)


# --- Properties ---------------------------------------------------------------------------

BASE = datetime(2026, 1, 1, tzinfo=UTC)
minutes = st.integers(min_value=0, max_value=600).map(lambda m: BASE + timedelta(minutes=m))
small_text = st.text(alphabet="abc", max_size=3)


@st.composite
def posts(draw: st.DrawFn, *, status: AlertStatus | None = None) -> NormalizedAlert:
    """Any post of the alert with key "k": full or content-less, firing or resolved."""
    partial = draw(st.booleans()) if status is None else False
    chosen = status or draw(st.sampled_from(AlertStatus))
    starts_at = draw(minutes)
    ends_at = None
    if chosen is AlertStatus.RESOLVED:
        ends_at = starts_at + timedelta(minutes=draw(st.integers(0, 120)))
    return NormalizedAlert(
        source=SourceKind.GENERIC,
        wire_format=WireFormat.GENERIC_JSON,
        dedup_key="k",
        dedup_basis=DedupBasis.FIELD,
        status=chosen,
        starts_at=starts_at,
        ends_at=ends_at,
        expires_at=draw(st.none() | minutes) if chosen is AlertStatus.FIRING else None,
        labels={} if partial else draw(st.dictionaries(small_text, small_text, max_size=2)),
        annotations={} if partial else {"summary": draw(small_text)},
        acknowledged=draw(st.booleans()) if partial else False,
        partial=partial,
    )


@given(posts(), posts())
def test_merging_the_same_post_twice_changes_nothing_more(
    stored: NormalizedAlert, incoming: NormalizedAlert
) -> None:
    once = merge(stored, incoming).alert
    assert merge(once, incoming).alert == once


@given(posts())
def test_an_alert_merged_with_itself_is_itself(alert: NormalizedAlert) -> None:
    assert merge(alert, alert).alert == alert


@given(posts(status=AlertStatus.FIRING), posts(), minutes)
def test_an_expired_alert_merges_like_any_other_and_fires_on_any_firing_post(
    alert: NormalizedAlert, incoming: NormalizedAlert, expiry: datetime
) -> None:
    expired = expire(replace(alert, expires_at=expiry), expiry).alert
    once = merge(expired, incoming)
    assert merge(once.alert, incoming).alert == once.alert
    if incoming.firing and not incoming.partial:
        assert once.transition is Transition.REFIRED


@st.composite
def one_occurrence(draw: st.DrawFn) -> list[NormalizedAlert]:
    """Posts of one occurrence: firing copies that started before it ended, and its
    resolution, in the order the sender produced them."""
    firing = draw(st.lists(posts(status=AlertStatus.FIRING), min_size=1, max_size=6))
    latest_start = max(post.starts_at for post in firing)
    resolutions = []
    if draw(st.booleans()):
        resolved = draw(posts(status=AlertStatus.RESOLVED))
        ends_at = latest_start + timedelta(minutes=draw(st.integers(0, 60)))
        resolutions = [
            replace(resolved, starts_at=min(resolved.starts_at, ends_at), ends_at=ends_at)
        ]
    return firing + resolutions


@given(one_occurrence(), st.randoms(use_true_random=False))
def test_earliest_start_whatever_order_the_posts_arrive_in(
    occurrence: list[NormalizedAlert], rnd: Any
) -> None:
    shuffled = list(occurrence)
    rnd.shuffle(shuffled)
    alert = shuffled[0]
    for post in shuffled[1:]:
        alert = merge(alert, post).alert
    assert alert.starts_at == min(post.starts_at for post in occurrence)
    # Once its resolution has arrived, late firing copies never re-open the occurrence.
    resolved = any(post.status is AlertStatus.RESOLVED for post in occurrence)
    assert alert.status is (AlertStatus.RESOLVED if resolved else AlertStatus.FIRING)


@given(posts(), posts())
def test_merge_never_loses_the_alerts_identity_or_its_invariants(
    stored: NormalizedAlert, incoming: NormalizedAlert
) -> None:
    merged = merge(stored, incoming).alert
    assert merged.dedup_key == "k"
    assert (merged.ends_at is None) == (merged.status is AlertStatus.FIRING)
    if merged.ends_at is not None:
        assert merged.ends_at >= merged.starts_at
