"""The public status page: components, incidents, maintenances, feeds, subscribers."""
