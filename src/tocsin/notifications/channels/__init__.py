"""The providers a delivery goes through. Each raises `ChannelError`; a permanent one (the
provider refused the address or the request) dead-letters the delivery at once."""

from __future__ import annotations

from dataclasses import dataclass


class ChannelError(Exception):
    def __init__(
        self, message: str, *, permanent: bool = False, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.retry_after = retry_after
        """seconds the provider asked us to wait before trying again, when it said"""


@dataclass(frozen=True)
class Sent:
    provider_id: str | None
    """the provider's id of the message or call, for support cases and reconciliation"""


def is_permanent_http(status: int) -> bool:
    """4xx means the request itself is wrong and will be refused again; 408 and 429 are
    the receiver asking us to come back later."""
    return 400 <= status < 500 and status not in (408, 429)
