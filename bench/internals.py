"""Code that rests on a library's private internals, timed with and without it on the path it is there for.

Each comparison runs its two sides in turn, A then B, for ``ROUNDS`` rounds in one process, after one warm-up
call of each, and reports the median and the spread (fastest to slowest round) of each side. The private code
stays only where its gain is beyond the spread of the rounds: every round with it faster than every round
without it. A slow round of the side without it then cannot count against the gain, as it would were the gain
compared with the width of that side's spread.

- ``signer/pades.py`` imported ``pikepdf._core.PageList`` to name it in an annotation, never evaluated (the module
  imports annotations from __future__). Both sides are ``signer.pades`` compiled afresh from its source, one
  importing and naming ``pikepdf._core.PageList``, one naming the public ``Iterable[pikepdf.Page]``; each seals
  a 30-page PDF with the paging seal (骑缝章), the step that uses it. Measured on every run.
- ``signer/objstm_reader.py`` (a pyHanko reader overriding the private ``_get_object_from_stream`` to index each
  object stream once) and ``core.deferred.write`` (SQLAlchemy's statements compiled through its compiler's
  internals, to send a decision's writes in one psycopg pipeline) were measured here with and without, then
  removed: their rows are the figures of that run (``MEASURED_BEFORE_REMOVAL``), which cannot be run again.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import io
import statistics
import sys
import tempfile
import time
import types
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pikepdf

from bench.report import Section
from ca import profiles
from ca.profiles import Issuer, Urls
from ca.signing import token_key
from core.keystore import KeyKind, open_keystore
from core.settings import CaSettings, Settings
from signer.appearance import round_seal
from signer.cms import SealTemplate

ROOT = Path(__file__).resolve().parents[1]
ROUNDS = 20
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
        return f"{statistics.median(values) * scale:,.1f} ({min(values) * scale:,.1f}–{max(values) * scale:,.1f})"

    @property
    def gap(self) -> float:
        """The fastest round without the private code less the slowest round with it: above 0, every round
        with it beat every round without it."""
        return min(self.without) - max(self.with_)

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


# The rows of the code removed after they were measured: bench/internals.py at 5219b16, `python -m bench
# internals`, 2026-12-06 03:40 UTC, on the machine of the section above (2 shared cores, load 3 to 10).
MEASURED_BEFORE_REMOVAL = [
    "| verify a file with big object streams (`signer/objstm_reader.py`, removed) | CPU ms per verification "
    "| 1,751.3 (1,603.5–2,452.2) | 2,475.3 (2,144.7–2,741.1) | 1.41x | -307.6 | no gain beyond the spread: "
    "removed |",
    "| approve a request: decide + COMMIT on PostgreSQL, in process (`core.deferred.write`, removed) "
    "| ms per decision (bursts of 50) | 3.6 (3.0–5.0) | 5.1 (3.9–6.5) | 1.42x | -1.1 | no gain beyond the "
    "spread: removed |",
]


def run(quick: bool = False) -> Section:
    title = "Private internals (`bench/internals.py`)"
    body = "\n".join(
        [
            f"{ROUNDS} alternating rounds of each side in one process after a warm-up; each side's median and, in "
            "brackets, its fastest and slowest round, in ms per call. The private code stays where its gain is "
            "beyond the spread of the rounds: where the two spreads do not overlap, that is where the slowest "
            "round with it is faster than the fastest round without it (the gap, fastest without less slowest "
            "with, is above 0). The steps that only compute are timed in the process's CPU time (the machine "
            "is shared, and its wall clock also counts what the neighbours take); decisions in wall-clock time, "
            "since the round trips that deferred writes save are waiting, not computing.\n",
            "| path | unit | with the private code | without (public API) | without / with (medians) "
            "| gap (ms) | verdict |",
            "|---|---|---:|---:|---:|---:|---|",
            pikepdf_pages(quick).row(),
            *MEASURED_BEFORE_REMOVAL,
            "",
            *_notes(),
        ]
    )
    return Section(title, body + "\n")


def _notes() -> list[str]:
    return [
        f"What each row times. The paging seal: `Sealer.seal` of a {PAGES}-page PDF with an invisible field and "
        "the paging seal, from `signer.pades` compiled with `pikepdf._core.PageList` imported and named in "
        "`_paging`'s annotation, or with `Iterable[pikepdf.Page]` named there (what `signer/pades.py` now "
        "says): the private name was never evaluated, so the two run the same code. The last two rows were "
        "measured together in one run (bench/internals.py at 5219b16, 2026-12-06 03:40 UTC), before their code "
        "was removed, and are not run again: "
        "`signer.validation.validate` of `dss/pades-signed-filled-form.pdf` (../shared/corpora/pdf, 816 KB, "
        "its objects in object streams) read with `signer.objstm_reader.IndexedReader` or with pyHanko's "
        "`PdfFileReader`; one approval (`workflow.review.decide` of level 1 by the group leader, then COMMIT, "
        "one session each) on PostgreSQL at 127.0.0.1:5432 in process, not through HTTP, with "
        "`core.deferred.write` queueing the decision's five writes for one psycopg pipeline or running each "
        "through `Connection.execute`; the log's own writes (`ledger.sql`) were pipelined on both sides.\n",
        "The medians favoured the removed code (1.41x and 1.42x), but in the run recorded here a slow round "
        "with it fell among the rounds without it: on this shared machine the gain did not stand beyond the "
        "spread. Two earlier runs of the same comparisons: the reader 1.41x on the wall clock (overlapping) and "
        "1.39x in CPU time (gap +121 ms, every round faster); decisions 1.13x and 1.14x (overlapping). Without "
        "the indexed reader the corpus file verifies in about 2.5 s of CPU against the 5 s limit of an isolated "
        "verification.\n",
    ]


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
            art = round_seal("水南村村民委员会", "公章")
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
