"""The alert fingerprint Prometheus Alertmanager computes, so both agree on alert identity.

Alertmanager identifies an alert by its label set alone: FNV-1a 64-bit over the labels sorted
by name, each name and each value followed by the byte 0xFF, printed as 16 lowercase hex
digits. Matching it exactly means an alert keeps one identity whether it reaches Tocsin
straight from Prometheus, through an Alertmanager webhook, or from Grafana, and that the
fingerprints operators see in Alertmanager's UI can be searched for here. 0xFF never occurs in
UTF-8, so ("ab", "c") and ("a", "bc") cannot hash the same input.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping

_FNV_OFFSET = 0xCBF29CE484222325
_FNV_PRIME = 0x100000001B3
_MASK = 0xFFFFFFFFFFFFFFFF
_SEPARATOR = 0xFF

EMPTY_FINGERPRINT = f"{_FNV_OFFSET:016x}"
"""Alertmanager's fingerprint of an empty label set: the untouched FNV offset basis."""


def _feed(state: int, data: bytes) -> int:
    for byte in data:
        state = ((state ^ byte) * _FNV_PRIME) & _MASK
    return ((state ^ _SEPARATOR) * _FNV_PRIME) & _MASK


def label_fingerprint(labels: Mapping[str, str]) -> str:
    """Alertmanager-compatible fingerprint of a label set, e.g. "a18717bf4e38d99f"."""
    # Python orders str by code point, Go orders by UTF-8 bytes: the same order.
    return _fingerprint(tuple(sorted(labels.items())))


@functools.lru_cache(maxsize=65_536)
def _fingerprint(labels: tuple[tuple[str, str], ...]) -> str:
    """Remembered: Prometheus sends every firing alert again at each evaluation, and hashing
    byte by byte in Python costs more than everything else done to a re-sent alert."""
    state = _FNV_OFFSET
    for name, value in labels:
        # surrogatepass: a lone surrogate from a JSON escape must not make hashing fail.
        state = _feed(state, name.encode("utf-8", "surrogatepass"))
        state = _feed(state, value.encode("utf-8", "surrogatepass"))
    return f"{state:016x}"
