"""Code that rests on a library's private internals, timed with and without it on the path it is there for.

Each comparison runs its two sides in turn, A then B, for ``ROUNDS`` rounds in one process, after one warm-up
call of each, and reports each side's median, the middle half of its rounds (first to third quartile) and its
fastest and slowest round. The private code stays only where its gain is beyond the spread of the rounds: the
middle halves do not overlap, the third quartile with it being faster than the first quartile without it. The
spread is the middle half, not fastest to slowest: on a shared machine one round in twenty may take a neighbour's
burst, and a single such round would otherwise decide.

- ``signer/objstm_reader.py`` (a pyHanko reader whose private ``_get_object_from_stream`` indexes each object
  stream once): one in-process verification (``signer.validation.validate``) of the corpus file with the
  biggest object streams, through sealgate's reader and through pyHanko's stock ``PdfFileReader``.
- ``core/deferred.py`` (SQLAlchemy's compiled-statement internals, to send the writes of a decision in one
  psycopg pipeline): a micro-benchmark of the decision service function in process, not through HTTP:
  bursts of ``review.decide`` + COMMIT on PostgreSQL, with ``deferred.write`` deferring and with it running
  each statement at once through SQLAlchemy's public ``Connection.execute`` (what it does on SQLite). The
  log's own PostgreSQL statements (``ledger.sql``, psycopg's public API) are the same on both sides.
- ``signer/pades.py``'s ``from pikepdf._core import PageList``: the module names pikepdf's private class only
  in an annotation (never evaluated: ``from __future__ import annotations``). Both sides are ``signer.pades``
  compiled afresh from its source, one naming ``pikepdf._core.PageList`` and one the public
  ``Iterable[pikepdf.Page]``; each seals a 30-page PDF with the paging seal (骑缝章), the step that uses it.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import io
import logging
import statistics
import sys
import tempfile
import time
import types
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import pikepdf
from pyhanko.pdf_utils.reader import PdfFileReader
from sqlalchemy import Connection
from sqlalchemy.sql.dml import UpdateBase

from bench import approvals
from bench.ledger import _drop, _fresh_postgres
from bench.report import Section
from ca import profiles
from ca.profiles import Issuer, Urls
from ca.signing import token_key
from core import deferred
from core.keystore import KeyKind, open_keystore
from core.settings import CaSettings, Settings
from signer import validation
from signer.appearance import round_seal
from signer.cms import SealTemplate
from signer.objstm_reader import IndexedReader

ROOT = Path(__file__).resolve().parents[1]
ROUNDS = 20
CORPUS_FILE = ROOT.parent / "shared" / "corpora" / "pdf" / "dss" / "pades-signed-filled-form.pdf"
PAGES = 30
SEALS = 20  # sealings per round
_PRIVATE_IMPORT = "from pikepdf._core import PageList\n"
_PRIVATE_ANNOTATION = "pages: PageList,"
_PUBLIC_ANNOTATION = "pages: Iterable[Page],"


@dataclass(frozen=True)
class Compared:
    """Seconds per round of the side with the private code (``with_``) and of the side without it."""

    what: str
    unit: str
    with_: list[float]
    without: list[float]
    per: int = 1  # calls per round: the figures are per call

    def _fmt(self, values: list[float]) -> str:
        scale = 1e3 / self.per
        q1, _, q3 = statistics.quantiles(values, n=4)
        return (
            f"{statistics.median(values) * scale:,.1f} [{q1 * scale:,.1f}–{q3 * scale:,.1f}] "
            f"({min(values) * scale:,.1f}–{max(values) * scale:,.1f})"
        )

    @property
    def gap(self) -> float:
        """The first quartile without the private code less the third quartile with it: above 0, the middle
        halves of the two sides' rounds do not overlap."""
        return statistics.quantiles(self.without, n=4)[0] - statistics.quantiles(self.with_, n=4)[2]

    @property
    def kept(self) -> bool:
        return self.gap > 0

    def row(self) -> str:
        ratio = statistics.median(self.without) / statistics.median(self.with_)
        verdict = "gain beyond the spread: kept" if self.kept else "no gain beyond the spread: removed"
        scale = 1e3 / self.per
        return (
            f"| {self.what} | {self.unit} | {self._fmt(self.with_)} | {self._fmt(self.without)} | {ratio:.2f}x "
            f"| {self.gap * scale:+,.1f} | {verdict} |"
        )


def alternate(
    a: Callable[[], object],
    b: Callable[[], object],
    rounds: int | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> tuple[list[float], list[float]]:
    """Seconds of each call of ``a`` and ``b`` by ``clock``, called in turn ``rounds`` times after one warm-up
    call each."""
    a()
    b()
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(ROUNDS if rounds is None else rounds):
        for work, samples in ((a, times[0]), (b, times[1])):
            began = clock()
            work()
            samples.append(clock() - began)
    return times


def run(quick: bool = False) -> Section:
    title = "Private internals (`bench/internals.py`)"
    logging.disable(logging.WARNING)  # the corpus file makes pyHanko warn on every round
    try:
        rows = [objstm(), pikepdf_pages(quick), decisions(quick)]
    finally:
        logging.disable(logging.NOTSET)
    measured = [r for r in rows if isinstance(r, Compared)]
    body = "\n".join(
        [
            "Micro-benchmarks, labelled as such: each row times one step in process, with and without the private "
            "code, not the path users get end to end (the sealing and approvals sections time that); the baseline "
            "is the same step through the library's public API, producing the same output. "
            f"{ROUNDS} alternating rounds of each side in one process after a warm-up; each side's median, in "
            "square brackets the middle half of its rounds (first to third quartile) and in round brackets its "
            "fastest and slowest round, in ms per call. The private code stays where its gain is beyond the "
            "spread of the rounds: where the middle halves do not overlap (the gap, first quartile without less "
            "third quartile with, is above 0). One round in twenty can take a neighbour's burst on this shared "
            "machine, so the fastest and slowest rounds are shown, not used. "
            "The steps that only compute are timed in the process's CPU time (the machine is shared, and its "
            "wall clock also counts what the neighbours take); decisions in wall-clock time, since the round "
            "trips that deferred writes save are waiting, not computing.\n",
            "| path | unit | with the private code | without (public API) | without / with (medians) "
            "| gap (ms) | verdict |",
            "|---|---|---:|---:|---:|---:|---|",
            *(r.row() if isinstance(r, Compared) else r for r in rows),
            "",
            *_notes(measured),
        ]
    )
    return Section(title, body + "\n")


def _notes(rows: list[Compared]) -> list[str]:
    return [
        "What each row times: `signer.validation.validate` of "
        "`dss/pades-signed-filled-form.pdf` (../shared/corpora/pdf; 816 KB, its objects in object streams) "
        "with `signer.objstm_reader.IndexedReader` or pyHanko's `PdfFileReader`; `Sealer.seal` of a "
        f"{PAGES}-page PDF with an invisible field and the paging seal, from `signer.pades` compiled with "
        "`pikepdf._core.PageList` or with `Iterable[pikepdf.Page]` in `_paging`'s annotation; one approval "
        "(`workflow.review.decide` of level 1 by the group leader, then COMMIT, one session each) on "
        "PostgreSQL at 127.0.0.1:5432 in this process, with `core.deferred.write` deferring or running each "
        "statement at once.\n",
    ]


# signer/objstm_reader.py


def objstm() -> Compared | str:
    what = "verify a file with big object streams (`signer/objstm_reader.py`)"
    if not CORPUS_FILE.exists():
        return f"| {what} | not measured: {CORPUS_FILE} is absent | | | | | |"
    data = CORPUS_FILE.read_bytes()

    def verify(reader: type[PdfFileReader]) -> Callable[[], validation.Report]:
        def work() -> validation.Report:
            with mock.patch.object(validation, "IndexedReader", reader):
                return validation.validate(data, trust=[])

        return work

    ours, stock = verify(IndexedReader)(), verify(PdfFileReader)()
    if [s.indication for s in ours.signatures] != [s.indication for s in stock.signatures]:
        raise RuntimeError("the two readers verify the corpus file differently")
    with_, without = alternate(verify(IndexedReader), verify(PdfFileReader), clock=time.process_time)
    return Compared(what, "CPU ms per verification", with_, without)


# signer/pades.py


def _pades_variant(name: str, private: bool) -> types.ModuleType:
    """``signer.pades`` compiled afresh from its source, naming pikepdf's private ``PageList`` in ``_paging``'s
    annotation and importing it, or naming the public ``Iterable[Page]`` (annotations are never evaluated, so
    the two differ at run time by the private import alone)."""
    source = (ROOT / "signer" / "pades.py").read_text()
    source = source.replace(_PRIVATE_IMPORT, "").replace(_PRIVATE_ANNOTATION, _PUBLIC_ANNOTATION)
    if _PUBLIC_ANNOTATION not in source or "\nfrom pikepdf import" not in source:
        raise RuntimeError("signer/pades.py no longer reads as this benchmark expects")
    if private:
        source = source.replace(_PUBLIC_ANNOTATION, _PRIVATE_ANNOTATION)
        source = source.replace("\nfrom pikepdf import", "\n" + _PRIVATE_IMPORT + "from pikepdf import", 1)
    spec = importlib.util.spec_from_loader(name, loader=None)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up
    exec(compile(source, f"<{name}>", "exec"), module.__dict__)  # noqa: S102
    return module


def pikepdf_pages(quick: bool) -> Compared:
    now = dt.datetime.now(dt.UTC)
    with tempfile.TemporaryDirectory() as tmp:
        keystore = open_keystore(Settings(var_dir=Path(tmp)))
        try:
            urls = Urls.under("http://127.0.0.1:8000")
            root_key = token_key(keystore, _generated(keystore, "internals-root"))
            seal_key = token_key(keystore, _generated(keystore, "internals-seal"))
            root = profiles.root(root_key, "bench", now, 3650)
            ca = Issuer(root_key, root)
            policy = CaSettings().policy_oid
            seal = profiles.seal(
                seal_key, "水南村村民委员会", "91350100M000100Y43", "公章", ca, urls, now, 365, policy=policy
            )
            source = Path(tmp) / "pages.pdf"
            pdf = pikepdf.Pdf.new()
            for _ in range(PAGES):
                pdf.add_blank_page(page_size=(595, 842))
            pdf.save(source)
            art = round_seal("水南村村民委员会")
            sealers = []
            for private in (True, False):
                module = _pades_variant(f"bench_pades_{'private' if private else 'public'}", private)
                sealer = module.Sealer(keystore, seal_key.label, SealTemplate(seal, (root,)), art=art)
                options = module.Options(paging=True)
                sealers.append(lambda s=sealer, o=options: [s.seal(source, io.BytesIO(), o, now) for _ in range(SEALS)])
            with_, without = alternate(sealers[0], sealers[1], clock=time.process_time)
        finally:
            keystore.close()
    return Compared(
        f"seal a {PAGES}-page PDF with the paging seal (`signer/pades.py`, `pikepdf._core`)",
        f"CPU ms per sealing ({SEALS} a round)",
        with_,
        without,
        per=SEALS,
    )


def _generated(keystore: Any, label: str) -> str:
    keystore.generate(label, KeyKind.EC_P256)
    return label


# core/deferred.py


def _immediate(
    conn: Connection, statement: UpdateBase, params: Mapping[str, Any] | Sequence[Mapping[str, Any]]
) -> None:
    conn.execute(statement, params)


def decisions(quick: bool) -> Compared | str:
    what = "approve a request: decide + COMMIT on PostgreSQL, in process (`core/deferred.py`)"
    fresh = _fresh_postgres()
    if fresh is None:
        return f"| {what} | not measured: no PostgreSQL reachable | | | | | |"
    burst = 10 if quick else 50
    admin_url, url = fresh
    try:
        with tempfile.TemporaryDirectory() as tmp:
            var = Path(tmp) / "var"
            runtime = approvals.demo_runtime(url, var)
            try:
                ids = approvals.submitted(runtime, 2 * (ROUNDS + 1) * burst)
                decide_burst = approvals.level_one_decisions(runtime, iter(ids), burst)

                def at_once() -> None:
                    with mock.patch.object(deferred, "write", _immediate):
                        decide_burst()

                with_, without = alternate(decide_burst, at_once)
            finally:
                runtime.close()
    finally:
        _drop(admin_url, url)
    return Compared(what, f"ms per decision (bursts of {burst})", with_, without, per=burst)
