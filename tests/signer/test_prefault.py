"""Prefaulting a child's pages: the pages a child writes after a fork are found, and populating them beforehand
makes them the child's own, contents unchanged, so that writing them takes no fault."""

from __future__ import annotations

import ctypes
import json
import os
import resource
from collections.abc import Callable
from typing import Any

from signer import prefault

PAGE = os.sysconf("SC_PAGE_SIZE")
PAGES = 64


def _in_child(work: Callable[[], object]) -> Any:
    """``work``'s result, computed in a child forked from this process (tuples come back as lists)."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(read)
            os.write(write, json.dumps(work()).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        found = pipe.read()
    os.waitpid(pid, 0)
    return json.loads(found)


def _buffer() -> tuple[ctypes.Array[ctypes.c_char], int]:
    """A page-aligned stretch of ``PAGES`` pages of this process, every page written (so present, and shared
    with a child forked after)."""
    raw = ctypes.create_string_buffer((PAGES + 1) * PAGE)
    start = (ctypes.addressof(raw) + PAGE - 1) // PAGE * PAGE
    for page in range(PAGES):
        ctypes.memset(start + page * PAGE, page + 1, PAGE)
    return raw, start


def _pages(spans: list[Any], start: int) -> set[int]:
    """The pages of the buffer at ``start`` that ``spans`` cover."""
    covered = set()
    for begin, length in spans:
        for address in range(begin, begin + length, PAGE):
            if start <= address < start + PAGES * PAGE:
                covered.add((address - start) // PAGE)
    return covered


def test_the_pages_a_child_writes_after_the_fork_are_found_and_no_others() -> None:
    raw, start = _buffer()
    shared = prefault.writable()
    assert any(begin <= start < begin + length for begin, length in shared)

    def write_some() -> object:
        for page in (3, 10, 11, 12):
            ctypes.memset(start + page * PAGE + 17, 0xEE, 1)
        return prefault.written(shared)

    found = _in_child(write_some)
    assert _pages(found, start) == {3, 10, 11, 12}
    del raw


def test_populated_pages_are_the_childs_own_with_their_contents_and_writing_them_takes_no_fault() -> None:
    raw, start = _buffer()
    shared = prefault.writable()

    def write_all(populate: bool) -> object:
        if populate:
            prefault.populate([(start, PAGES * PAGE)])
        owned = sorted(_pages(prefault.written(shared), start))
        contents = [ctypes.string_at(start + page * PAGE, PAGE) == bytes([page + 1]) * PAGE for page in range(PAGES)]
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        for page in range(PAGES):
            ctypes.memset(start + page * PAGE, 0, 1)
        return owned, all(contents), resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

    owned, intact, faults = _in_child(lambda: write_all(True))
    assert owned == list(range(PAGES))
    assert intact
    assert faults < PAGES // 4
    owned, intact, faults = _in_child(lambda: write_all(False))
    assert owned == []
    assert intact
    assert faults >= PAGES
    del raw


def test_spans_no_longer_mapped_are_skipped() -> None:
    raw, start = _buffer()
    prefault.populate([(PAGE, PAGE), (start, PAGE)])  # the first page of the address space is never mapped
    assert ctypes.string_at(start, 1) == b"\x01"
    del raw
