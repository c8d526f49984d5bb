"""Job handlers of the incident domain: workers import this module at start, so each
sub-package's handlers are imported here."""

from tocsin.incidents.bridge import handlers as bridge_handlers
from tocsin.incidents.vendors import handlers as vendor_handlers

__all__ = ["bridge_handlers", "vendor_handlers"]
