"""Migration 0013: a log written while appends linked its chains keeps its queue, and the heads become the tree's."""

from __future__ import annotations

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, inspect, text

from core import migrate
from ledger.entry import Event, encode
from ledger.merkle import leaf_hash
from sealgate import MIGRATIONS
from tests.conftest import T0


def _downgrade(engine: Engine, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", MIGRATIONS)
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, revision)


@pytest.mark.db
def test_the_queue_is_kept_and_the_heads_are_those_of_the_tree(unmigrated: Engine) -> None:
    migrate.upgrade(unmigrated, MIGRATIONS, "0012")
    a1, a2, a3 = (Event("test.old", "a:1", "system", {"n": n}, T0) for n in range(3))
    b1 = Event("test.old", "b:1", "system", {}, T0)
    body1 = encode(a1, None)
    body2 = encode(a2, leaf_hash(body1))
    queued = encode(a3, leaf_hash(body2))
    only_queued = encode(b1, None)
    with unmigrated.begin() as conn:
        for idx, (event, body) in enumerate(((a1, body1), (a2, body2))):
            conn.execute(
                text("INSERT INTO ledger_entries VALUES (:i, :e, 'test.old', :s, :l, :b)"),
                {"i": idx, "e": event.id, "s": event.subject, "l": leaf_hash(body), "b": body},
            )
        for event, body in ((a3, queued), (b1, only_queued)):
            conn.execute(
                text(
                    "INSERT INTO ledger_pending (event_id, type, subject, leaf_hash, body) VALUES (:e, 't', :s, :l, :b)"
                ),
                {"e": event.id, "s": event.subject, "l": leaf_hash(body), "b": body},
            )
            # the head as appends kept it: the newest entry, queued or not
            conn.execute(
                text("INSERT INTO ledger_subject_heads VALUES (:s, :l)"), {"s": event.subject, "l": leaf_hash(body)}
            )

    migrate.upgrade(unmigrated, MIGRATIONS)
    assert "leaf_hash" not in {c["name"] for c in inspect(unmigrated).get_columns("ledger_pending")}
    with unmigrated.connect() as conn:
        heads: dict[str, bytes] = dict(conn.execute(text("SELECT subject, leaf_hash FROM ledger_subject_heads")).all())
        kept = conn.execute(text("SELECT event_id, body FROM ledger_pending ORDER BY id")).all()
    assert heads == {"a:1": leaf_hash(body2)}  # b:1 has nothing in the tree yet
    assert [tuple(row) for row in kept] == [(a3.id, queued), (b1.id, only_queued)]

    with pytest.raises(RuntimeError, match="2 entries are queued"):
        _downgrade(unmigrated, "0012")
    with unmigrated.begin() as conn:
        conn.execute(text("DELETE FROM ledger_pending"))
    _downgrade(unmigrated, "0012")
    assert "leaf_hash" in {c["name"] for c in inspect(unmigrated).get_columns("ledger_pending")}
    with unmigrated.connect() as conn:
        assert dict(conn.execute(text("SELECT subject, leaf_hash FROM ledger_subject_heads")).all()) == heads
