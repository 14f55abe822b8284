"""A database made by the code of each earlier migration head upgrades to today with its data and its log.

Each fixture of tests/data/upgrades (made by scripts/upgrade_fixtures.py, which says how) holds what the last
commit of main at that head made: the demo, a few seal requests through its API, its log. Today's migrations
must build the very schema that code ran on (an old migration edited after it landed would not), its rows load,
and after the upgrade to today every row is still there with its values, every request reads through today's
workflow in the state the old code left it, the old checkpoints audit under the old log's key, and today's code
decides an old request and logs it on the old log. The upgraded schema is the one a database upgraded from empty
has, to its keys and indexes.

A fixture named ``<head>-<commit>`` was made by a commit whose migrations up to its head differ from today's: while
0007 and 0008 were empty placeholders (df3fff0 to e22cd56), a database was stamped 0008 without what they make
today. Its schema is built by that commit's own migration scripts, which the fixture holds, and the upgrade to today
must repair it (0014).
"""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import json
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import JSON, Connection, Engine, MetaData, Table, func, inspect, select
from sqlalchemy.orm import Session

from core import db, migrate
from core.blobs import FileBlobStore
from core.clock import ManualClock
from core.keystore import Keystore
from core.runtime import Runtime
from core.settings import load_settings
from identity import directory
from identity.auth import principal_of
from identity.models import User
from ledger.audit import Report, audit_database
from ledger.note import parse_vkey
from ledger.service import LogService
from sealgate import MIGRATIONS, migrations
from sealgate.cli.completeness import CHECKS
from workflow import requests, review, views
from workflow.models import SealRequest
from workflow.review import Verdict

FIXTURES = sorted((Path(__file__).parents[1] / "data" / "upgrades").glob("*.json.gz"))
VERSION_TABLE = "alembic_version"
HEAD_FIXTURES = [path for path in FIXTURES if "-" not in path.name]  # the others are of a named commit
NEVER_A_HEAD = {"0007"}  # landed in one commit with 0008


def read(path: Path) -> dict[str, Any]:
    fixture: dict[str, Any] = json.loads(gzip.decompress(path.read_bytes()))
    return fixture


@pytest.fixture(params=FIXTURES, ids=[path.name.removesuffix(".json.gz") for path in FIXTURES])
def old(request: pytest.FixtureRequest) -> dict[str, Any]:
    path: Path = request.param
    return read(path)


def decode(value: Any) -> Any:
    if isinstance(value, dict) and len(value) == 1:
        tag, data = next(iter(value.items()))
        if tag == "$b":
            return base64.b64decode(data)
        if tag == "$t":
            return dt.datetime.fromisoformat(data)
        if tag == "$d":
            return dt.date.fromisoformat(data)
    return value


def encode(value: Any) -> Any:
    """As the generator writes values: compared in this form, a datetime read back naive is UTC."""
    if isinstance(value, bytes | memoryview):
        return {"$b": base64.b64encode(bytes(value)).decode()}
    if isinstance(value, dt.datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        return {"$t": aware.astimezone(dt.UTC).isoformat()}
    if isinstance(value, dt.date):
        return {"$d": value.isoformat()}
    return value


def schema(engine: Engine, *, types: bool) -> dict[str, Any]:
    """The reflected tables as the generator records them; without ``types`` only what every database reflects
    alike (the fixture was reflected on SQLite)."""
    found = inspect(engine)
    tables: dict[str, Any] = {}
    for name in found.get_table_names():
        tables[name] = {
            c["name"]: {"type": str(c["type"]) if types else None, "nullable": c["nullable"]}
            for c in found.get_columns(name)
        }
    return tables


def old_schema(old: dict[str, Any], *, types: bool) -> dict[str, Any]:
    return {
        name: {
            column["name"]: {"type": column["type"] if types else None, "nullable": column["nullable"]}
            for column in table["columns"]
        }
        for name, table in old["tables"].items()
    }


def old_keys(old: dict[str, Any]) -> dict[str, Any]:
    """Each table's primary key and indexes as the generator records them, where it did (not in the first
    fixtures)."""
    return {
        name: {"primary_key": table["primary_key"], "indexes": table["indexes"]}
        for name, table in old["tables"].items()
        if "primary_key" in table
    }


def keys(engine: Engine, tables: Iterable[str]) -> dict[str, Any]:
    found = inspect(engine)
    return {
        name: {
            "primary_key": found.get_pk_constraint(name)["constrained_columns"],
            "indexes": sorted(
                (
                    {"name": index["name"], "columns": index["column_names"], "unique": bool(index["unique"])}
                    for index in found.get_indexes(name)
                    if not index.get("duplicates_constraint")  # PostgreSQL's index of a unique constraint
                ),
                key=lambda index: str(index["name"]),
            ),
        }
        for name in tables
    }


def layout(engine: Engine) -> dict[str, Any]:
    """Everything reflection tells of each table: columns with types and defaults, keys, indexes, constraints."""
    found = inspect(engine)

    def named(items: Iterable[Any]) -> list[str]:
        return sorted(json.dumps(item, sort_keys=True, default=str) for item in items)

    return {
        name: {
            "columns": [
                (c["name"], str(c["type"]), c["nullable"], str(c.get("default"))) for c in found.get_columns(name)
            ],
            "primary_key": found.get_pk_constraint(name),
            "indexes": named(found.get_indexes(name)),
            "unique": named(found.get_unique_constraints(name)),
            "foreign_keys": named(found.get_foreign_keys(name)),
            "checks": named(found.get_check_constraints(name)),
        }
        for name in sorted(found.get_table_names())
    }


def at_head(engine: Engine, old: dict[str, Any], tmp_path: Path) -> None:
    """The database migrated to the fixture's head as the code that made it migrated it: by today's migrations,
    or, in a fixture of a named commit, by today's with the scripts that commit had in place of theirs (the
    fixture holds those above the earlier head below its own, where they part from today's)."""
    if "migrations" not in old:
        migrate.upgrade(engine, MIGRATIONS, old["head"])
        return
    location = tmp_path / "migrations"
    shutil.copytree(Path(migrations.__file__).parent, location, ignore=shutil.ignore_patterns("__pycache__"))
    for name, script in old["migrations"].items():
        for replaced in (location / "versions").glob(f"{name[:4]}_*.py"):
            replaced.unlink()
        (location / "versions" / name).write_text(script, "utf-8")
    migrate.upgrade(engine, str(location), old["head"])


def load(engine: Engine, old: dict[str, Any]) -> None:
    """The fixture's rows into the database at its head, parents first, sequences moved past explicit ids."""
    reflected = MetaData()
    reflected.reflect(engine)
    with engine.begin() as conn:
        for table in reflected.sorted_tables:
            rows = old["tables"][table.name]["rows"]
            if table.name == VERSION_TABLE or not rows:
                continue
            for column in table.columns:
                if isinstance(column.type, JSON):
                    column.type.none_as_null = True  # a NULL stays NULL, not JSON null
            names = [column["name"] for column in old["tables"][table.name]["columns"]]
            conn.execute(table.insert(), [dict(zip(names, map(decode, row), strict=True)) for row in rows])
            if conn.dialect.name == "postgresql":
                _past_ids(conn, table)


def _past_ids(conn: Connection, table: Table) -> None:
    """PostgreSQL hands out the next id from a sequence that explicit ids did not move."""
    key = list(table.primary_key.columns)
    if len(key) != 1:
        return
    sequence = conn.scalar(select(func.pg_get_serial_sequence(table.name, key[0].name)))
    if sequence is not None:
        conn.execute(select(func.setval(sequence, select(func.max(key[0])).scalar_subquery())))


def kept(engine: Engine, old: dict[str, Any]) -> list[str]:
    """What of the old rows differs today: rows missing or added, or a kept column's value changed."""
    reflected = MetaData()
    reflected.reflect(engine)
    differences: list[str] = []
    with engine.connect() as conn:
        for name, table in old["tables"].items():
            if name == VERSION_TABLE:
                continue
            if name not in reflected.tables:
                differences.append(f"table {name} is gone")
                continue
            today = reflected.tables[name]
            columns = [column["name"] for column in table["columns"]]
            names = [c for c in columns if c in today.columns]
            order = [today.columns[c] for c in names if today.columns[c].primary_key] or [today.columns[names[0]]]
            rows = conn.execute(select(*(today.columns[c] for c in names)).order_by(*order)).all()
            if len(rows) != len(table["rows"]):
                differences.append(f"{name}: {len(table['rows'])} rows before, {len(rows)} after")
                continue
            positions = [columns.index(c) for c in names]
            before = sorted(json.dumps([row[p] for p in positions], sort_keys=True) for row in table["rows"])
            after = sorted(json.dumps([encode(v) for v in row], sort_keys=True) for row in rows)
            changed = [b for b, a in zip(before, after, strict=True) if b != a]
            if changed:
                differences.append(f"{name}: {len(changed)} rows changed, the first: {changed[0]}")
    return differences


def runtime(engine: Engine, keystore: Keystore, tmp_path: Path, now: dt.datetime) -> Runtime:
    settings = load_settings(var_dir=tmp_path / "var")
    return Runtime(
        settings=settings,
        engine=engine,
        sessions=db.session_factory(engine),
        keystore=keystore,
        blobs=FileBlobStore(settings.blob_dir),
        clock=ManualClock(now),
    )


def audit(session: Session, old: dict[str, Any], vkeys: list[str]) -> Report:
    verifiers = [parse_vkey(vkey) for vkey in vkeys]
    return audit_database(session, old["log"]["origin"], verifiers, checks=CHECKS)


def user(session: Session, username: str) -> User:
    return session.scalars(select(User).where(User.username == username)).one()


def test_every_earlier_head_has_its_database() -> None:
    """A migration landing makes the one before it an earlier head: run scripts/upgrade_fixtures.py then."""
    config = Config()
    config.set_main_option("script_location", MIGRATIONS)
    revisions = {script.revision for script in ScriptDirectory.from_config(config).walk_revisions()}
    earlier = revisions - {migrate.head(MIGRATIONS)} - NEVER_A_HEAD
    assert {path.name.removesuffix(".json.gz") for path in HEAD_FIXTURES} == earlier


def test_an_earlier_head_upgrades_with_its_data_and_its_log(
    old: dict[str, Any], unmigrated: Engine, migrated: Engine, keystore: Keystore, tmp_path: Path
) -> None:
    head = old["head"]
    at_head(unmigrated, old, tmp_path)
    types = unmigrated.dialect.name == "sqlite"  # the fixture's types are SQLite's
    assert schema(unmigrated, types=types) == old_schema(old, types=types), f"the migrations differ at {head}"
    recorded = old_keys(old)
    assert keys(unmigrated, recorded) == recorded, f"the migrations' keys differ at {head}"

    load(unmigrated, old)
    migrate.upgrade(unmigrated, MIGRATIONS)
    assert migrate.current(unmigrated) == migrate.head(MIGRATIONS)
    assert layout(unmigrated) == layout(migrated)
    assert kept(unmigrated, old) == []

    now = dt.datetime.now(dt.UTC)
    rt = runtime(unmigrated, keystore, tmp_path, now)
    with rt.sessions() as session:
        states = {}
        for request in session.scalars(select(SealRequest).order_by(SealRequest.id)):
            who = principal_of(session, request.applicant, now)
            shown = views.request_view(session, requests.visible(session, request.id, who, now), who, now)
            assert request.public_id, f"request {request.number} has no public id"
            states[shown["number"]] = shown["state"]
        assert states == old["requests"]

    with rt.sessions() as session:
        before = audit(session, old, [old["log"]["vkey"]]) if old["log"] else None
        carry_on(session, now)
    if before is None:
        return
    assert before.problems == []
    assert before.checkpoints > 0
    assert before.size == len(old["tables"]["ledger_entries"]["rows"]) > 0

    rt.settings.ledger.origin = old["log"]["origin"]
    service = LogService.open(rt)
    service.integrator.run_until_idle()
    with rt.sessions() as session:
        after = audit(session, old, [old["log"]["vkey"], service.vkey])
    assert after.problems == []
    assert after.size > before.size
    assert after.checkpoints > before.checkpoints


def carry_on(session: Session, now: dt.datetime) -> None:
    """Today's code on the old data: a user added (an id after the old ones), and where a request waits at its
    first level, its group leader's approval moves it to the second."""
    newcomer = directory.create_user(
        session,
        username="sn.newcomer",
        display_name="新来的村民",
        password="demo-sn-newcomer",
        home_code="yazhou.shuinan.g1",
        now=now,
        actor="cli:test",
    )
    session.commit()
    assert newcomer.id > max(session.scalars(select(User.id).where(User.id != newcomer.id)))
    waiting = session.scalars(select(SealRequest).where(SealRequest.state == "in_review", SealRequest.level == 1))
    for request in waiting.all()[:1]:
        leader = user(session, "sn.g1.leader")
        actor = review.Actor(leader.id, leader.username)
        review.decide(session, request.id, actor, level=1, verdict=Verdict.APPROVE, comment="", to_level=None, now=now)
        session.commit()
        session.refresh(request)
        assert (request.state, request.level) == ("in_review", 2)
