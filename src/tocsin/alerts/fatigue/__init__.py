"""The alert fatigue report: which alert rules and services wake people for nothing, and what
to change about them."""
