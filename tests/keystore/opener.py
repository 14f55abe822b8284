"""A process for the token-opening test: waits for the agreed moment, opens the development token under
``SEALGATE_VAR_DIR`` and prints ``opened``, or the error."""

from __future__ import annotations

import sys
import time

from core.errors import ConfigError
from core.keystore import open_keystore
from core.settings import load_settings


def main(start: float) -> None:
    settings = load_settings()
    time.sleep(max(0.0, start - time.time()))
    try:
        open_keystore(settings).close()
    except ConfigError as exc:
        print(exc, flush=True)
    else:
        print("opened", flush=True)


if __name__ == "__main__":
    main(float(sys.argv[1]))
