"""Escalation paths (S3.2), the post-mortem flag (S1.3) and the missing Incident Commander."""
