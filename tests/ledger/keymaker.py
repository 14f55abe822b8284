"""A process for the key-creation race test: opens the token and the database, says ``ready``, waits for a line
on stdin, then ensures an Ed25519 key and prints its public key in hex.

The start is a handshake rather than an agreed time, so that a process slow to start on a busy machine still
races the others.
"""

from __future__ import annotations

import sys

from core import db
from core.keystore import open_keystore
from core.settings import load_settings
from ledger.keys import ensure_ed25519


def main(url: str, label: str) -> None:
    keystore = open_keystore(load_settings())
    engine = db.create_db_engine(url, pool_size=1)
    try:
        print("ready", flush=True)
        sys.stdin.readline()
        print(ensure_ed25519(keystore, label, engine).hex(), flush=True)
    finally:
        engine.dispose()
        keystore.close()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
