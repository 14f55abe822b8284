"""``sealgate backup`` of the demo against copying the same files, alternating in one run.

The backup side runs the command as an operator does (a fresh process: start-up, reading the settings, opening
the token for the log's verifier key, the SQLite online backup, every blob copied with its SHA-256 checked,
every file fsynced, the manifest). The baseline copies the same files (the database and the blob store) with
``cp -a`` and then ``sync --file-system`` on the copy, so both sides leave a copy that survives a power cut.
Two states of the demo: as ``sealgate demo`` leaves it (under 1 MB: the fixed costs of a process decide), and
after a season of use, with ``DOCUMENTS`` sealed documents of ``DOCUMENT_BYTES`` each in the blob store (random
bytes: sizes, not contents, decide copying and hashing).
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.internals import alternate
from bench.report import Section
from core.blobs import FileBlobStore

GOAL = 2.0  # the backup at most this many times the copy
DOCUMENTS = 2000
DOCUMENT_BYTES = 150_000


def _cli(env: dict[str, str], *args: str) -> None:
    subprocess.run([sys.executable, "-m", "sealgate", *args], env=env, check=True, capture_output=True)


def _size(paths: list[Path]) -> int:
    return sum(
        p.stat().st_size for root in paths for p in ([root] if root.is_file() else root.rglob("*")) if p.is_file()
    )


def _compare(env: dict[str, str], base: Path, sources: list[Path], rounds: int) -> tuple[list[float], list[float]]:
    targets = iter(range(1_000_000))

    def backup() -> None:
        target = base / f"backup-{next(targets)}"
        _cli(env, "backup", str(target))
        shutil.rmtree(target)

    def copy() -> None:
        target = base / f"copy-{next(targets)}"
        target.mkdir()
        subprocess.run(["cp", "-a", *map(str, sources), str(target)], check=True)
        subprocess.run(["sync", "--file-system", str(target)], check=True)
        shutil.rmtree(target)

    return alternate(backup, copy, rounds)


def run(quick: bool = False) -> Section:
    rounds = 3 if quick else 7
    documents = 200 if quick else DOCUMENTS
    title = "Backup of the demo (`bench/backup.py`)"
    with tempfile.TemporaryDirectory(prefix="sealgate-bench-backup-") as tmp:
        base = Path(tmp)
        var = base / "var"
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("SEALGATE_")},
            "SEALGATE_VAR_DIR": str(var),
            "SEALGATE_LOG_LEVEL": "ERROR",
        }
        for command in (("ca", "init"), ("demo",), ("log", "integrate", "--once")):
            _cli(env, *command)
        rows = []
        for label, count in (("as `sealgate demo` leaves it", 0), (f"with {documents} sealed documents", documents)):
            store = FileBlobStore(var / "blobs")
            for i in range(count):
                store.put(i.to_bytes(8, "big") + os.urandom(DOCUMENT_BYTES - 8))
            sources = [var / "sealgate.db", var / "blobs"]
            ours, baseline = _compare(env, base, sources, rounds)
            rows.append((label, _size(sources), ours, baseline))
    lines = [
        f"`sealgate backup` as an operator runs it, against `cp -a` of the same files followed by `sync -f`; medians "
        f"of {rounds} alternating rounds (min–max). Goal: at most {GOAL:g}x the copy.",
        "",
        "| the demo | data | `sealgate backup` | `cp -a` + `sync -f` | backup / copy | goal |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for label, size, ours, baseline in rows:
        ratio = statistics.median(ours) / statistics.median(baseline)
        verdict = "met" if ratio <= GOAL else f"**not met**: {ratio / GOAL:.1f}x over"
        lines.append(
            f"| {label} | {size / 1e6:.1f} MB | {statistics.median(ours):.2f} s ({min(ours):.2f}–{max(ours):.2f}) "
            f"| {statistics.median(baseline):.3f} s ({min(baseline):.3f}–{max(baseline):.3f}) | {ratio:.2f}x "
            f"| {verdict} |"
        )
    lines += [
        "",
        "The demo as `sealgate demo` leaves it holds under 1 MB, and the difference is the fixed cost of the "
        "command: Python's start-up and imports (about 0.8 s here) and opening the token for the log's verifier key. "
        "With a season's documents, what grows is the same on both sides: each byte read once, and written once; the "
        "backup hashes it on the way and flushes the file system once (`syncfs`) before writing its manifest.",
    ]
    return Section(title, "\n".join(lines))
