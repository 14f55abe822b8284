"""What every command shares: the settings file named on the command line, and short-lived database access.

A command that reaches its state runs with a private umask until it ends: what it writes after opening (audit
state, sealing files, the log's keys) is as private as what opening makes (``core.private``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import typer
from sqlalchemy.orm import Session

from core import db
from core.private import private_files
from core.runtime import open_database
from core.settings import Settings, load_settings
from sealgate import MIGRATIONS


@dataclass
class CliState:
    config: Path | None
    _settings: Settings | None = field(default=None, init=False)
    _private: bool = field(default=False, init=False)

    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings(self.config)
        return self._settings

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session on the migrated database, committed by the caller."""
        engine = open_database(self.settings(), migrations=MIGRATIONS)
        try:
            with db.session_factory(engine)() as session:
                yield session
        finally:
            engine.dispose()


def state(ctx: typer.Context) -> CliState:
    root = ctx.find_root()
    obj = root.obj
    assert isinstance(obj, CliState)
    if not obj._private:
        root.with_resource(private_files())
        obj._private = True
    return obj
