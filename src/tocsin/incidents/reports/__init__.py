"""Customer reports: intake, matching to incidents, clusters, and impact-start evidence."""
