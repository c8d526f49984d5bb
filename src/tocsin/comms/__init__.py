"""Stakeholder communications: structured updates rendered per audience, approvals, cadence,
executive briefs, media inquiries, the one approved statement, and the tamper-evident log."""
