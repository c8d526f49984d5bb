"""The organisation Tocsin protects: teams, services and their dependencies, customers, vendors."""
