"""On-call: schedules, escalation policies and pages that wake the right person."""
