"""Seeds and mutations for fuzzing what reads PDFs from outside: the upload check and the verifier.

Seeds are the signed PDFs of ``tests/signer/corpus`` (the shared copy beside the project when there is one), plus a
small PDF built here that the upload check accepts. A case is a seed with one to three mutations: truncate, flip
bytes, or splice in a piece of another seed. Cases are drawn by hypothesis; the ``fuzz-ci`` profile bounds them
by count (the whole package runs in under two minutes on a CI worker), ``fuzz-long`` runs many more locally:
``SEALGATE_FUZZ=long pytest tests/fuzz``. A failing case is reported by hypothesis with its seed and mutations.
"""

from __future__ import annotations

import csv
import io
import os
import re
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from pyhanko.pdf_utils.reader import PdfFileReader

from tests.workflow import pdfs

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "corpora" / "pdf"
KEPT = Path(__file__).resolve().parents[1] / "signer" / "corpus"
CORPUS = SHARED if SHARED.is_dir() else KEPT
ROWS = list(csv.DictReader((CORPUS / "MANIFEST.tsv").open(encoding="utf-8"), delimiter="\t"))
SIGNED = {row["file"]: (CORPUS / row["file"]).read_bytes() for row in ROWS if row["class"] == "clean"}
OTHERS = {row["file"]: (CORPUS / row["file"]).read_bytes() for row in ROWS if row["class"] != "clean"}


def _embedded_certificates(data: bytes) -> list[x509.Certificate]:
    found: dict[bytes, x509.Certificate] = {}
    for signature in PdfFileReader(io.BytesIO(data), strict=False).embedded_signatures:
        for choice in signature.signed_data["certificates"]:
            if choice.name == "certificate":
                der = choice.chosen.dump()
                found[der] = x509.load_der_x509_certificate(der)
    return list(found.values())


# The corpus comes from test PKIs: each seed's own certificates are the anchors its verification trusts, so an
# unchanged seed can pass and the oracle (changed signed bytes never pass) has something to refuse.
TRUST = {name: _embedded_certificates(data) for name, data in SIGNED.items()}
UPLOAD = {"built/busy.pdf": pdfs.busy(), "built/one-page.pdf": pdfs.save(pdfs.one_page("证明"))}

# Bounds on one case, wall clock, with room for a loaded machine: the upload check is bounded by its own object
# and entry limits (a second or two at worst); the verifier by its child's TIMEOUT (5 s) plus a fork.
INTAKE_SECONDS = 5.0
VERIFY_SECONDS = 12.0

settings.register_profile(
    "fuzz-ci",
    max_examples=int(os.environ.get("SEALGATE_FUZZ_EXAMPLES", "40")),
    deadline=None,  # each case is timed against its own bound above, which names the case when it fails
    derandomize=True,  # CI draws the same cases on every run; fuzz-long explores
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)
settings.register_profile(
    "fuzz-long",
    max_examples=int(os.environ.get("SEALGATE_FUZZ_EXAMPLES", "2000")),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)
PROFILE = settings.get_profile("fuzz-long" if os.environ.get("SEALGATE_FUZZ") == "long" else "fuzz-ci")


def profile(examples: int) -> settings:
    """The profile in force, with ``examples`` cases in CI (a verification costs a fork: fewer of those)."""
    if os.environ.get("SEALGATE_FUZZ") == "long" or "SEALGATE_FUZZ_EXAMPLES" in os.environ:
        return settings(PROFILE)
    return settings(PROFILE, max_examples=examples)


@dataclass(frozen=True)
class Case:
    seed: str
    original: bytes
    data: bytes
    steps: tuple[str, ...]

    def __repr__(self) -> str:
        return f"Case({self.seed!r}, {' then '.join(self.steps)}, {len(self.data)} bytes)"


@st.composite
def cases(draw: st.DrawFn, seeds: dict[str, bytes]) -> Case:
    name = draw(st.sampled_from(sorted(seeds)))
    original = seeds[name]
    data = bytearray(original)
    steps: list[str] = []
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        kind = draw(st.sampled_from(["truncate", "flip", "splice"]))
        end = max(len(data) - 1, 0)
        if kind == "truncate":
            at = draw(st.integers(min_value=0, max_value=len(data)))
            del data[at:]
            steps.append(f"truncate at {at}")
        elif kind == "flip" and data:
            for _ in range(draw(st.integers(min_value=1, max_value=4))):
                at = draw(st.integers(min_value=0, max_value=end))
                mask = draw(st.integers(min_value=1, max_value=255))
                data[at] ^= mask
                steps.append(f"flip {at} ^ {mask:#04x}")
        else:
            donor_name = draw(st.sampled_from(sorted({**SIGNED, **OTHERS})))
            donor = {**SIGNED, **OTHERS}[donor_name]
            start = draw(st.integers(min_value=0, max_value=len(donor) - 1))
            length = draw(st.integers(min_value=1, max_value=min(4096, len(donor) - start)))
            at = draw(st.integers(min_value=0, max_value=len(data)))
            cut = draw(st.integers(min_value=0, max_value=min(4096, len(data) - at)))
            data[at : at + cut] = donor[start : start + length]
            steps.append(f"splice {donor_name}[{start}:{start + length}] over [{at}:{at + cut}]")
    return Case(name, original, bytes(data), tuple(steps))


_BYTE_RANGE = re.compile(rb"/ByteRange\s*\[\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*\]")


def signed_ranges(original: bytes) -> list[tuple[int, int]]:
    """The byte ranges the signatures of ``original`` cover (two per signature: before and after its /Contents)."""
    found: list[tuple[int, int]] = []
    for match in _BYTE_RANGE.finditer(original):
        a, b, c, d = (int(g) for g in match.groups())
        found += [(a, a + b), (c, c + d)]
    return found


def changes_signed_bytes(case: Case) -> bool:
    """Whether the case changed a byte some signature of its seed covers: such a file must never pass."""
    return any(case.data[a:b] != case.original[a:b] for a, b in signed_ranges(case.original))
