"""What happens when an alert Tocsin already holds is posted again.

Senders repeat themselves: Prometheus re-sends every firing alert each evaluation cycle,
Alertmanager repeats a group every `repeat_interval`, retries after a timeout deliver the
same body twice, and nothing guarantees order. The rule, applied to the stored alert and
the newer post with the same dedup key:

* the earliest start ever seen is kept: a re-send never makes an alert look younger, and
  posts of one occurrence give the same start in any order;
* content (labels, annotations, summary, severity, links) is the latest post's, unless the
  post is a content-less reference (PagerDuty acknowledge/resolve, Opsgenie close);
* status: firing -> resolved resolves; a firing post that started after the stored
  resolution is a new occurrence and starts afresh; a firing post that started before it is
  a late copy of the old occurrence and changes nothing (a delayed re-send must not re-open
  a resolved alert); resolved -> resolved keeps the latest resolution time, as Alertmanager
  does;
* an alert resolved only because its sender stopped repeating it (`expire`; it keeps its
  `expires_at` as the mark) fires again on the next firing post, whenever that occurrence
  started: the sender never said it ended, it was cut off (Alertmanager does the same);
* an acknowledgement belongs to the occurrence: it survives re-sends and the resolution, and
  a new occurrence starts unacknowledged.

Merging is idempotent: merging the same post twice gives the same alert as merging it once.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from tocsin.alerts.normalized import AlertStatus, NormalizedAlert


class Transition(StrEnum):
    """What the post did to the stored alert, for the alert's decision record."""

    REFRESHED = "refreshed"
    """Still firing (a re-send or an update of the same occurrence)."""
    RESOLVED = "resolved"
    """Was firing, now resolved."""
    REFIRED = "refired"
    """Was resolved, fires again: a new occurrence."""
    ACKNOWLEDGED = "acknowledged"
    """The sender acknowledged a firing alert."""
    UNCHANGED = "unchanged"
    """A repeated resolution, a late copy of a resolved occurrence, or a reference to an
    alert that is already in that state."""


@dataclass(frozen=True, slots=True)
class Merged:
    alert: NormalizedAlert
    transition: Transition


def merge(stored: NormalizedAlert, incoming: NormalizedAlert) -> Merged:
    """Fold `incoming` (the newer post) into `stored`; both must share the dedup key."""
    if stored.dedup_key != incoming.dedup_key:
        raise ValueError("only posts of the same alert (same dedup key) merge")
    if incoming.partial:
        return _apply_reference(stored, incoming)
    starts_at = min(stored.starts_at, incoming.starts_at)
    if stored.status is AlertStatus.RESOLVED:
        if incoming.status is AlertStatus.FIRING:
            if incoming.starts_at > _ended(stored) or stored.expires_at is not None:
                return Merged(incoming, Transition.REFIRED)
            return Merged(replace(stored, starts_at=starts_at), Transition.UNCHANGED)
        ends_at = max(_ended(stored), _ended(incoming))
        return Merged(
            replace(
                incoming, starts_at=starts_at, ends_at=ends_at, acknowledged=stored.acknowledged
            ),
            Transition.UNCHANGED,
        )
    merged = replace(incoming, starts_at=starts_at, acknowledged=stored.acknowledged)
    if incoming.status is AlertStatus.FIRING:
        return Merged(merged, Transition.REFRESHED)
    return Merged(merged, Transition.RESOLVED)


def expire(alert: NormalizedAlert, now: datetime) -> Merged:
    """Resolve a firing alert whose sender stopped repeating it past its `expires_at`
    (Alertmanager's resolve timeout); anything else is returned unchanged. The resolved alert
    keeps its `expires_at`: that marks it as resolved by silence, not by its sender."""
    if alert.status is AlertStatus.FIRING and alert.expires_at and alert.expires_at <= now:
        resolved_at = max(alert.expires_at, alert.starts_at)
        return Merged(
            replace(alert, status=AlertStatus.RESOLVED, ends_at=resolved_at),
            Transition.RESOLVED,
        )
    return Merged(alert, Transition.UNCHANGED)


def _ended(alert: NormalizedAlert) -> datetime:
    # A resolved alert always has ends_at (NormalizedAlert checks it); the fallback only
    # keeps the type checker satisfied.
    return alert.ends_at or alert.starts_at


def _apply_reference(stored: NormalizedAlert, reference: NormalizedAlert) -> Merged:
    """A content-less event: change the state of the stored alert, keep everything else."""
    if stored.status is AlertStatus.RESOLVED:
        return Merged(stored, Transition.UNCHANGED)
    if reference.status is AlertStatus.RESOLVED:
        resolved_at = max(_ended(reference), stored.starts_at)
        return Merged(
            replace(stored, status=AlertStatus.RESOLVED, ends_at=resolved_at, expires_at=None),
            Transition.RESOLVED,
        )
    if reference.acknowledged and not stored.acknowledged:
        return Merged(replace(stored, acknowledged=True), Transition.ACKNOWLEDGED)
    return Merged(stored, Transition.UNCHANGED)
