"""The demo built once per test process and copied into each test's empty database.

Building it takes seconds (a CA, forty accounts with Argon2 passwords, seal certificates made in the token);
copying its rows back takes milliseconds. The copy is exact: the same ids, hashes, certificates and log, and the
keys it names stay in the process's token, which outlives every test. Every test starts on the clock's same
instant, so a copy is what building it again would give.
"""

from __future__ import annotations

import copy
from typing import Any

from sqlalchemy import Connection, Integer, func, select, text

from ca import hierarchy
from core.runtime import Runtime
from sealgate.cli import demo
from sealgate.schema import metadata

Rows = dict[str, list[dict[str, Any]]]
_built: dict[tuple[str, bool], tuple[Rows, dict[str, Any]]] = {}


def load(runtime: Runtime, *, seals: bool = False) -> dict[str, Any]:
    """The demo on an initialised CA in the test's empty database, and what ``demo.load`` returned; with
    ``seals``, loaded with the service's settings and keystore: the bureau's endpoint and the electronic seals."""
    key = (runtime.settings.database_url, seals)
    if key not in _built:
        _built[key] = _build(runtime, seals)
    rows, data = _built[key]
    with runtime.engine.begin() as conn:
        _restore(conn, rows)
    return copy.deepcopy(data)


def _build(runtime: Runtime, seals: bool) -> tuple[Rows, dict[str, Any]]:
    with runtime.sessions() as session:
        hierarchy.initialise(session, runtime.keystore, runtime.settings, runtime.clock.now(), "test")
        session.commit()
        if seals:
            data = demo.load(session, runtime.clock.now(), settings=runtime.settings, keystore=runtime.keystore)
        else:
            data = demo.load(session, runtime.clock.now())
    with runtime.engine.connect() as conn:
        rows = {table.name: [dict(row) for row in conn.execute(select(table)).mappings()] for table in _tables()}
    # The rows are copied into a database emptied after the test that built them, as into every other.
    with runtime.engine.begin() as conn:
        for table in reversed(_tables()):
            conn.execute(table.delete())
    return rows, copy.deepcopy(data)


def _restore(conn: Connection, rows: Rows) -> None:
    for table in _tables():
        if rows[table.name]:
            conn.execute(table.insert(), rows[table.name])
        if conn.dialect.name == "postgresql":
            for column in table.primary_key.columns:
                if isinstance(column.type, Integer) and column.autoincrement in (True, "auto"):
                    highest = conn.scalar(select(func.max(column)))
                    if highest is not None:
                        conn.execute(
                            text("SELECT setval(pg_get_serial_sequence(:table, :column), :value)"),
                            {"table": table.name, "column": column.name, "value": highest},
                        )


def _tables() -> list[Any]:
    return list(metadata.sorted_tables)
