"""How JSON columns are written.

Every alert carries four JSON columns (labels, annotations, details, group labels) and every
state change a history row with one more, so serialising them was about a tenth of storing a
batch of alerts with the standard library's encoder. orjson does the same work several times
faster. Two differences matter and are handled here: it refuses integers beyond 64 bits,
which a sender's JSON may hold and which must be stored exactly, so such a value falls back to
the standard encoder; and it writes non-ASCII characters as UTF-8 rather than `\\u` escapes,
which every reader decodes to the same text.

Reading stays with the standard decoder: orjson reads integers beyond 64 bits as floats,
which would change what a sender posted.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

_OPTIONS = orjson.OPT_NON_STR_KEYS
"""dict keys that are not strings become strings, as the standard encoder makes them"""


def dumps(value: Any) -> str:
    """The JSON text of a column value."""
    try:
        return orjson.dumps(value, option=_OPTIONS).decode()
    except TypeError:  # an integer beyond 64 bits, or a value neither encoder takes
        return json.dumps(value)
