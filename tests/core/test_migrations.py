"""The migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, MetaData, inspect, select

from core import db, migrate
from sealgate import MIGRATIONS
from sealgate.schema import metadata

T0 = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)


def test_models_and_migrations_agree(engine: Engine) -> None:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, metadata) == []
    assert migrate.current(engine) == migrate.head(MIGRATIONS)


def test_upgrade_on_a_fresh_database_is_idempotent(tmp_path: Path) -> None:
    engine = db.create_db_engine(f"sqlite:///{tmp_path / 'fresh.db'}")
    try:
        migrate.upgrade(engine, MIGRATIONS)
        migrate.upgrade(engine, MIGRATIONS)
        tables = set(inspect(engine).get_table_names())
        assert {t.name for t in metadata.sorted_tables} <= tables
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    finally:
        engine.dispose()


def test_requests_made_before_the_public_record_get_unguessable_ids(unmigrated: Engine) -> None:
    migrate.upgrade(unmigrated, MIGRATIONS, "0007")
    old = MetaData()
    old.reflect(unmigrated, only=["organisations", "users", "catalog_versions", "seal_requests"])
    tables = old.tables
    with unmigrated.begin() as conn:

        def insert(table: str, **values: object) -> int:
            return int(conn.execute(tables[table].insert().values(**values).returning(tables[table].c.id)).scalar_one())

        org = insert("organisations", code="sn", name="水南村", kind="village", created_at=T0)
        user = insert("users", username="fu", display_name="符阿妹", active=True, created_at=T0)
        version = insert("catalog_versions", content="{}", sha256="0" * 64, loaded_at=T0, loaded_by="test", note="t")
        row = {
            "matter_code": "test.residence",
            "catalog_version_id": version,
            "organisation_id": org,
            "applicant_id": user,
            "submitted_by_id": user,
            "seal_kind": "village_official",
            "seal_form": "electronic",
            "copies": 1,
            "place": "",
            "purpose": "办理居住证明",
            "form": {},
            "document_sha256": "1" * 64,
            "document_source": "upload",
            "state": "in_review",
            "level": 1,
            "round": 1,
            "created_at": T0,
            "updated_at": T0,
        }
        conn.execute(tables["seal_requests"].insert(), [{**row, "number": f"2026-00000{i}"} for i in (1, 2)])
    migrate.upgrade(unmigrated, MIGRATIONS)
    requests = metadata.tables["seal_requests"]
    with unmigrated.connect() as conn:
        ids = conn.execute(select(requests.c.public_id)).scalars().all()
    assert len(ids) == len(set(ids)) == 2
    for public_id in ids:
        assert re.fullmatch(r"[A-Za-z0-9_-]{22}|[0-9a-f]{32}", public_id), public_id
    unique = [ix for ix in inspect(unmigrated).get_indexes("seal_requests") if ix["column_names"] == ["public_id"]]
    assert [ix["unique"] for ix in unique] == [True]
