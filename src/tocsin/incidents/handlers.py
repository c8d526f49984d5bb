"""Job handlers of the incident domain: workers import this module at start, so each
sub-package's handlers are imported here."""

from tocsin.incidents.bridge import handlers as bridge_handlers
from tocsin.incidents.escalation import handlers as escalation_handlers
from tocsin.incidents.vendors import handlers as vendor_handlers
from tocsin.incidents.warrooms import handlers as warroom_handlers

__all__ = ["bridge_handlers", "escalation_handlers", "vendor_handlers", "warroom_handlers"]
