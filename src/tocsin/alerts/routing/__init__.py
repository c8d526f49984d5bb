"""Routing: what an alert group becomes once it has decided to act — a page, an incident,
or a ticket."""
