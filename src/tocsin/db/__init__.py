"""Database access: the engine, the declarative base, dialect helpers and migrations."""
