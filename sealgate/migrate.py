"""Schema migrations with Alembic, driven from code so ``sealgate db upgrade`` and ``serve`` need no ini file."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine


def _config(connection: object | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", "sealgate:migrations")
    cfg.attributes["connection"] = connection
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    with engine.begin() as conn:
        command.upgrade(_config(conn), revision)


def head() -> str | None:
    return ScriptDirectory.from_config(_config()).get_current_head()


def current(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def revision(engine: Engine, message: str) -> None:
    """Write a new migration from the difference between the models and the database (for developers)."""
    with engine.begin() as conn:
        command.revision(_config(conn), message=message, autogenerate=True)
