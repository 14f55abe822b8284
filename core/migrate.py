"""Schema migrations with Alembic, driven from code so ``sealgate db upgrade`` and ``serve`` need no ini file.

Where the migrations live is the top's business (they import every app's models): callers hand their location
down, as an Alembic ``package:directory`` path.
"""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine


def _config(location: str, connection: object | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", location)
    cfg.attributes["connection"] = connection
    return cfg


def upgrade(engine: Engine, location: str, revision: str = "head") -> None:
    with engine.begin() as conn:
        command.upgrade(_config(location, conn), revision)


def head(location: str) -> str | None:
    return ScriptDirectory.from_config(_config(location)).get_current_head()


def current(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def revision(engine: Engine, location: str, message: str) -> None:
    """Write a new migration from the difference between the models and the database (for developers)."""
    with engine.begin() as conn:
        command.revision(_config(location, conn), message=message, autogenerate=True)
