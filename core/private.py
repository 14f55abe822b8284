"""What the service writes under ``var/`` (database, blobs, token, PIN, keys) is for its own user alone.

Files are made 0600 and directories 0700 whatever umask the service was started with: code that makes files
itself gives the modes explicitly; files made by libraries (SQLite, SoftHSM2) are made inside ``private_files``,
which narrows the umask. Modes of what already exists are left as they are: a narrower umask never loosens them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

PRIVATE = 0o077  # the bits a umask must clear so that nothing made is readable by group or others
DIRECTORY = 0o700


@contextmanager
def private_files() -> Iterator[None]:
    """Files and directories made inside are 0600 and 0700 (the umask keeps any further bits it already had).

    The umask belongs to the process: a thread that makes a file meanwhile gets it private too, which is safe.
    """
    before = os.umask(PRIVATE)
    os.umask(before | PRIVATE)
    try:
        yield
    finally:
        os.umask(before)


def make_directory(path: Path) -> None:
    """``path`` and any parents it lacks, each made 0700."""
    missing: list[Path] = []
    step = path
    while not step.exists():  # most calls find ``path`` itself: its parents are not listed unless needed
        missing.append(step)
        if step.parent == step:
            break
        step = step.parent
    for step in reversed(missing):
        with suppress(FileExistsError):  # made meanwhile by another process or thread
            step.mkdir(mode=DIRECTORY)
