"""The pages a verification writes, made a child's own before its file arrives.

A child forked from the warm fork server shares every page with it, and each page it first writes (a reference
count, an allocator pool, a cache) is copied then, one fault at a time: about 2,700 faults and 9 ms of a
verification here. The fork server learns once which pages a verification writes, from a probe child that
verifies its own sample and reads, in ``/proc/self/pagemap``, which of the server's writable pages it now holds
alone; each spare child then copies those pages with ``madvise(MADV_POPULATE_WRITE)`` while it waits for work.
The copies are the ones the verification would make anyway, so the work is moved, not added; contents never
change. Written by hand: no library offers either (``mmap.madvise`` advises only an mmap object's own pages, not
the interpreter's heap). Where the kernel or ``/proc`` lacks any of this, nothing is prefaulted and a child faults
as before.
"""

from __future__ import annotations

import ctypes
import errno
import os
import struct
from collections.abc import Sequence

Span = tuple[int, int]  # (start address, length in bytes)

_PAGE = os.sysconf("SC_PAGE_SIZE")
_MADV_POPULATE_WRITE = 23  # Linux 5.14
_PRESENT, _EXCLUSIVE = 1 << 63, 1 << 56  # /proc/pid/pagemap: page present; page mapped by this process alone


def writable() -> list[Span]:
    """This process's private writable mappings: where a child's writes copy pages."""
    spans = []
    try:
        with open("/proc/self/maps") as maps:
            for line in maps:
                fields = line.split()
                if fields[1].startswith("rw") and fields[1][3] == "p":
                    start, end = (int(x, 16) for x in fields[0].split("-"))
                    spans.append((start, end - start))
    except (OSError, IndexError, ValueError):
        return []
    return spans


def written(shared: Sequence[Span]) -> list[Span]:
    """The pages of ``shared`` (the parent's ``writable()`` at fork) that this child now holds alone: those it
    has written since the fork."""
    found: list[Span] = []
    try:
        with open("/proc/self/pagemap", "rb", buffering=0) as pagemap:
            for start, length in shared:
                pagemap.seek(start // _PAGE * 8)
                entries = pagemap.read(length // _PAGE * 8)
                flags = struct.unpack(f"{len(entries) // 8}Q", entries)
                run = None
                for i, entry in enumerate((*flags, 0)):
                    own = entry & _PRESENT and entry & _EXCLUSIVE
                    if own and run is None:
                        run = i
                    elif not own and run is not None:
                        found.append((start + run * _PAGE, (i - run) * _PAGE))
                        run = None
    except OSError:
        return []
    return found


def populate(spans: Sequence[Span]) -> None:
    """Copy ``spans`` into this process now, as writing to each page would; a span no longer mapped is skipped,
    and a kernel without the call stops it all."""
    try:
        madvise = ctypes.CDLL(None, use_errno=True).madvise
    except (OSError, AttributeError):
        return
    madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    for start, length in spans:
        if madvise(start, length, _MADV_POPULATE_WRITE) != 0 and ctypes.get_errno() == errno.EINVAL:
            return
