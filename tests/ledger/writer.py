"""A writer process for the concurrency tests: appends events in transactions of varying size until a stop file
appears, re-sending one event of each previous transaction to exercise idempotency under concurrency, and prints
how many it wrote."""

from __future__ import annotations

import datetime as dt
import random
import sys
import time
from pathlib import Path

from core import db
from ledger.append import append_many
from ledger.entry import Event


def main(url: str, writer: int, pause: float, stop: Path) -> None:
    engine = db.create_db_engine(url, pool_size=1)
    sessions = db.session_factory(engine)
    rng = random.Random(writer)
    now = dt.datetime(2026, 11, 2, tzinfo=dt.UTC)
    sent = 0
    previous: Event | None = None
    while not stop.exists():
        size = rng.randint(1, 50)
        batch = [
            Event(
                "test.written",
                f"writer:{writer}:{(sent + i) % 5}",
                "system",
                {"n": sent + i},
                now,
                f"w{writer}-{sent + i}",
            )
            for i in range(size)
        ]
        with sessions() as session:
            append_many(session, ([previous] if previous else []) + batch)
            session.commit()
        previous = batch[0]
        sent += size
        time.sleep(rng.uniform(0, 2 * pause))
    engine.dispose()
    print(sent)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), Path(sys.argv[4]))
