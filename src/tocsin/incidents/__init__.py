"""Incidents: lifecycle, milestones, response and the figures measured on them."""
