"""Local TCP ports for the servers a benchmark starts."""

from __future__ import annotations

import socket


def free_port() -> int:
    """A port nothing listens on now: the system picks it for a socket that is closed again at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
