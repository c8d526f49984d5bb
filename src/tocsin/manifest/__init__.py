"""Configuration as code: the catalog and policies as YAML files that apply in one transaction."""
