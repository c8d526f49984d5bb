"""Per-node admission for the OTLP receiver: exports in flight, this minute's span budget, and
whether this hour's prune is already queued. Kept per process on purpose: it protects the node
that receives the export, and the budget is documented as per node."""

from __future__ import annotations

from tocsin.clock import utcnow


class Gate:
    def __init__(self) -> None:
        self.in_flight = 0
        self.minute = 0
        self.spent = 0
        self.prune_hour = -1

    def budget_left(self, budget: int) -> int | None:
        """Spans this node may still store this minute; None when the budget is off (0)."""
        minute = int(utcnow().timestamp() // 60)
        if minute != self.minute:
            self.minute, self.spent = minute, 0
        return None if budget == 0 else max(0, budget - self.spent)

    def prune_due(self) -> int | None:
        """The current hour when its prune has not been queued from this node yet."""
        hour = int(utcnow().timestamp() // 3600)
        return None if hour == self.prune_hour else hour
