"""sealgate: the seal office of a township, in software. This package is the top: the command line, the schema
of every app's models and its migrations; the ground floor is ``core``."""

from core.version import VERSION

__all__ = ["MIGRATIONS", "VERSION"]

MIGRATIONS = "sealgate:migrations"  # where the schema's Alembic migrations live, handed down to core.migrate
