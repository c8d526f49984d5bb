"""What the organisation expects of an incident: severities and, per severity, the targets,
thresholds, communication duties and closure criteria the rest of Tocsin enforces."""
