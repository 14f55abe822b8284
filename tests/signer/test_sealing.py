"""The seal office against the database: what a sealing records, the levels it reaches, and the seals it refuses."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import io
import json
import os
import subprocess
import threading
from pathlib import Path
from typing import Any

import pikepdf
import pytest
import weasyprint
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.fields import MDPPerm
from sqlalchemy import select

from ca import hierarchy, seals
from ca.models import Certificate, Seal
from ca.ocsp import Responder, StatusBook
from ca.tsa import TimeStampAuthority
from core.clock import ManualClock
from core.runtime import Runtime
from identity.models import Organisation
from ledger.models import PendingEntry
from signer import sealing
from signer.models import Sealing
from signer.pades import SealingRefused
from signer.placement import Anchor, Located, find_anchor
from signer.sealing import Office, Request
from tests.signer.pki import blank_pdf, validate_offline
from tests.signer.test_placement import HTML as TWO_PAGES

ANCHOR = "（盖章）"


@dataclasses.dataclass
class Bench:
    runtime: Runtime
    office: Office
    seal: Seal
    document: str


def make_bench(runtime: Runtime, tmp_path: Path, level: str) -> Bench:
    now = runtime.clock.now()
    with runtime.sessions() as session:
        hierarchy.initialise(session, runtime.keystore, runtime.settings, now, "test")
        authority = hierarchy.load(session, runtime.keystore)
        org = Organisation(code="sn", name="水南村民委员会", kind="village", uscc="54460205C50121019D", created_at=now)
        session.add(org)
        session.flush()
        seal = seals.add(session, "sn", "village_official", seals.SealForm.ELECTRONIC, "水南村民委员会", now, "test")
        seals.issue(session, runtime.keystore, authority, runtime.settings, seal, now, "test")
        session.commit()
        session.refresh(seal)
        session.expunge(seal)
    ca = runtime.settings.ca
    office = Office(
        keystore=runtime.keystore,
        authority=authority,
        responder=Responder(authority, StatusBook(runtime.engine, authority.issuing_id, 0.001), dt.timedelta(hours=1)),
        tsa=TimeStampAuthority(
            key=authority.tsa.key,
            certificate=authority.tsa.certificate,
            chain=authority.chain,
            policy=ca.tsa_policy,
            clock=runtime.clock,
        ),
        blobs=runtime.blobs,
        ca_settings=ca,
        work_dir=tmp_path / "work",
        level=level,
    )
    document = runtime.blobs.put(blank_pdf(tmp_path / "in.pdf", pages=2).read_bytes()).sha256
    return Bench(runtime, office, seal, document)


def seal_once(bench: Bench, **options: object) -> Sealing:
    with bench.runtime.sessions() as session:
        seal = session.get(Seal, bench.seal.id)
        assert seal is not None
        order = Request(document_sha256=bench.document, subject="request:1", actor="system", **options)  # type: ignore[arg-type]
        done = bench.office.seal(session, seal, order, bench.runtime.clock.now())
        session.commit()
        sealing = session.scalars(select(Sealing).where(Sealing.signature_sha256 == done.signature_sha256)).one()
        session.expunge(sealing)
        return sealing


@pytest.mark.parametrize("level", ["B-B", "B-T", "B-LT", "B-LTA"])
def test_each_level_is_recorded_and_logged(runtime: Runtime, tmp_path: Path, level: str) -> None:
    bench = make_bench(runtime, tmp_path, level)
    sealing = seal_once(bench, details={"number": "YZ-1"})
    sealed = runtime.blobs.get(sealing.sealed_sha256)
    assert hashlib.sha256(sealed).hexdigest() == sealing.sealed_sha256
    assert sealed.startswith(runtime.blobs.get(bench.document))
    with runtime.sessions() as session:
        (entry,) = [
            json.loads(e.body) for e in session.scalars(select(PendingEntry).where(PendingEntry.type == "seal.applied"))
        ]
    assert entry["subject"] == "request:1"
    assert entry["data"]["signature_sha256"] == sealing.signature_sha256
    assert entry["data"]["sealed_sha256"] == sealing.sealed_sha256
    assert entry["data"]["document_sha256"] == bench.document
    assert entry["data"]["level"] == level
    assert entry["data"]["number"] == "YZ-1"


@pytest.mark.parametrize("level", ["B-LT", "B-LTA"])
def test_long_term_levels_validate_offline(runtime: Runtime, tmp_path: Path, level: str) -> None:
    bench = make_bench(runtime, tmp_path, level)
    sealing = seal_once(bench)
    (tmp_path / "out.pdf").write_bytes(runtime.blobs.get(sealing.sealed_sha256))
    results = validate_offline(tmp_path / "out.pdf", bench.office.authority.root, runtime.clock.now())
    assert len(results) == (2 if level == "B-LTA" else 1)
    for status in results:
        assert status.intact
        assert status.valid
        assert status.trusted
    assert results[0].timestamp_validity is not None
    assert results[0].timestamp_validity.trusted


def test_a_revoked_certificate_is_refused_with_the_reason(runtime: Runtime, tmp_path: Path) -> None:
    bench = make_bench(runtime, tmp_path, "B-B")
    with runtime.sessions() as session:
        certificate = seals.current_certificate(session, bench.seal.id)
        assert certificate is not None
        seals.revoke(
            session,
            bench.office.authority,
            runtime.settings,
            certificate,
            "keyCompromise",
            runtime.clock.now(),
            "test",
        )
        session.commit()
    with pytest.raises(SealingRefused, match=r"revoked .*keyCompromise"):
        seal_once(bench)


def test_a_suspended_seal_is_refused(runtime: Runtime, tmp_path: Path) -> None:
    bench = make_bench(runtime, tmp_path, "B-B")
    with runtime.sessions() as session:
        seal = session.get(Seal, bench.seal.id)
        assert seal is not None
        seals.suspend(session, seal, runtime.clock.now(), "test")
        session.commit()
    with pytest.raises(SealingRefused, match="suspended"):
        seal_once(bench)


def test_an_expired_certificate_is_refused(runtime: Runtime, tmp_path: Path, clock: ManualClock) -> None:
    bench = make_bench(runtime, tmp_path, "B-B")
    clock.advance(dt.timedelta(days=runtime.settings.ca.seal_validity_days + 1))
    with pytest.raises(SealingRefused, match="expired"):
        seal_once(bench)


def test_a_key_missing_from_the_token_is_refused(runtime: Runtime, tmp_path: Path) -> None:
    bench = make_bench(runtime, tmp_path, "B-B")
    with runtime.sessions() as session:
        certificate = session.scalars(select(Certificate).where(Certificate.seal_id == bench.seal.id)).one()
        certificate.key_label = "seal:gone"
        session.commit()
    with pytest.raises(SealingRefused, match="missing from the token"):
        seal_once(bench)


def test_nothing_is_recorded_when_sealing_is_refused(runtime: Runtime, tmp_path: Path) -> None:
    bench = make_bench(runtime, tmp_path, "B-B")
    runtime.blobs.put(b"%PDF-1.7 broken")
    broken = dataclasses.replace(bench, document=hashlib.sha256(b"%PDF-1.7 broken").hexdigest())
    with pytest.raises(ValueError, match="PDF"):
        seal_once(broken)
    with runtime.sessions() as session:
        assert session.scalars(select(Sealing)).all() == []
        assert session.scalars(select(PendingEntry).where(PendingEntry.type == "seal.applied")).all() == []


def test_a_signed_upload_is_sealed_without_certifying_it(runtime: Runtime, tmp_path: Path) -> None:
    bench = make_bench(runtime, tmp_path, "B-B")
    first = seal_once(bench, certify=True)
    signed = dataclasses.replace(bench, document=first.sealed_sha256)
    second = seal_once(signed, certify=True)  # the matter asks to certify, but the document is signed already
    (tmp_path / "two.pdf").write_bytes(runtime.blobs.get(second.sealed_sha256))
    with (tmp_path / "two.pdf").open("rb") as f:
        first_signature, second_signature = PdfFileReader(f).embedded_signatures
        assert first_signature.docmdp_level == MDPPerm.FILL_FORMS
        assert second_signature.docmdp_level is None


def test_the_seal_draws_its_name_and_only_a_special_purpose_seal_its_purpose(runtime: Runtime, tmp_path: Path) -> None:
    bench = make_bench(runtime, tmp_path, "B-B")

    def drawn_fills(sealing: Sealing) -> int:
        with pikepdf.open(io.BytesIO(runtime.blobs.get(sealing.sealed_sha256))) as pdf:
            (field,) = pdf.Root.AcroForm.Fields
            art = field.AP.N.Resources.XObject.SealgateSeal.read_bytes()
        return art.split().count(b"f")  # a filled path per character, one for the star

    assert drawn_fills(seal_once(bench)) == len("水南村民委员会") + 1
    assert drawn_fills(seal_once(bench, purpose="财务专用章")) == len("水南村民委员会") + 1 + len("财务专用章")


def _widgets(runtime: Runtime, sealing: Sealing) -> list[tuple[int, list[float]]]:
    """Each widget of the sealed document: its page and rectangle."""
    with pikepdf.open(io.BytesIO(runtime.blobs.get(sealing.sealed_sha256))) as pdf:
        return [
            (number, [float(v) for v in annot.Rect])
            for number, page in enumerate(pdf.pages)
            for annot in page.obj.get("/Annots", [])
            if annot.get("/Subtype") == "/Widget"
        ]


def test_an_anchor_the_rendering_located_places_the_seal_as_searching_does_without_searching(
    runtime: Runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bench = make_bench(runtime, tmp_path, "B-B")
    document: bytes = weasyprint.HTML(string=TWO_PAGES).write_pdf()
    bench.document = runtime.blobs.put(document).sha256
    searched = _widgets(runtime, seal_once(bench, anchor=ANCHOR))
    found = find_anchor(document, ANCHOR)
    assert found is not None
    assert [page for page, _ in searched] == [found.page]
    searches: list[object] = []

    def search(*args: Any) -> Anchor | None:
        searches.append(args)
        return find_anchor(*args)

    monkeypatch.setattr(sealing, "find_anchor", search)

    assert _widgets(runtime, seal_once(bench, anchor=ANCHOR, located=Located(ANCHOR, found))) == searched
    assert searches == []
    corner = _widgets(runtime, seal_once(bench, anchor=ANCHOR, located=Located(ANCHOR, None)))  # known absent
    assert searches == []
    assert corner == _widgets(runtime, seal_once(bench))  # where a document without the anchor is sealed
    assert corner != searched

    # A place found for another text, or on a page the document does not have, is searched for again.
    assert _widgets(runtime, seal_once(bench, anchor=ANCHOR, located=Located("盖章", None))) == searched
    beyond = Located(ANCHOR, dataclasses.replace(found, page=2))
    assert _widgets(runtime, seal_once(bench, anchor=ANCHOR, located=beyond)) == searched
    assert len(searches) == 2


def test_a_thread_seals_in_one_work_file_a_shorter_document_after_a_longer_one(
    runtime: Runtime, tmp_path: Path
) -> None:
    bench = make_bench(runtime, tmp_path, "B-LTA")
    sealed = []
    for pages in (40, 1):  # the second sealed document is much shorter than the first
        bench.document = runtime.blobs.put(blank_pdf(tmp_path / f"{pages}.pdf", pages).read_bytes()).sha256
        source = runtime.blobs.get(bench.document)
        sealing = seal_once(bench)
        data = runtime.blobs.get(sealing.sealed_sha256)
        assert data.startswith(source)
        (tmp_path / "sealed.pdf").write_bytes(data)
        statuses = validate_offline(tmp_path / "sealed.pdf", bench.office.authority.root, runtime.clock.now())
        assert [(s.intact, s.valid) for s in statuses] == [(True, True), (True, True)]  # the seal, the timestamp
        sealed.append(len(data))
    assert sealed[1] < sealed[0]
    assert [p.name for p in (tmp_path / "work").iterdir()] == [f"{os.getpid()}-{threading.get_ident()}.pdf"]


def test_making_an_office_removes_the_work_files_of_ended_processes_only(runtime: Runtime, tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    ended = _ended_pid()
    mine, theirs = work / f"{os.getpid()}-7.pdf", work / f"{ended}-7.pdf"
    stray, directory = work / "tmpk2j4.pdf", work / "leftover"
    for path in (mine, theirs, stray):
        path.write_bytes(b"%PDF- a sealed document")
    directory.mkdir()
    make_bench(runtime, tmp_path, "B-B")
    assert sorted(p.name for p in work.iterdir()) == sorted([mine.name, directory.name])


def _ended_pid() -> int:
    """The pid of a process that has ended (and been reaped)."""
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def test_a_link_put_where_a_thread_keeps_its_work_file_is_refused_and_its_target_left_alone(
    runtime: Runtime, tmp_path: Path
) -> None:
    bench = make_bench(runtime, tmp_path, "B-B")
    target = tmp_path / "elsewhere.txt"
    target.write_bytes(b"not the service's")
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    (work / f"{os.getpid()}-{threading.get_ident()}.pdf").symlink_to(target)
    with pytest.raises(OSError, match="Too many levels of symbolic links"):
        seal_once(bench)
    assert target.read_bytes() == b"not the service's"
