"""A document rendered from its template keeps where it has the text the seal is stamped over, so that sealing it
does not search the PDF for it: the place is PDFium's own answer on that document, kept for that document only,
and an uploaded document keeps none."""

from __future__ import annotations

import hashlib
import io
import json
from typing import Any

import pikepdf
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from api import create_app
from core.runtime import Runtime
from signer import sealing
from signer.placement import Anchor, Located, find_anchor
from tests import demo_snapshot
from tests.api.on_demo import bearer
from tests.workflow import pdfs
from tests.workflow.examples import WINTER_VEGETABLE_SUBSIDY
from workflow import documents
from workflow.models import SealRequest

APPROVERS = (("sn.g1.leader", 1), ("sn.secretary", 2), ("sn.sealadmin", 3))


def _kept(runtime: Runtime, request_id: int) -> tuple[dict[str, Any] | None, str]:
    with runtime.readers() as session:
        request = session.scalars(select(SealRequest).where(SealRequest.id == request_id)).one()
        return request.anchor_located, request.document_sha256


def test_a_rendered_request_is_sealed_over_its_anchor_without_searching_for_it(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    demo_snapshot.load(runtime, seals=True)
    anchor = runtime.settings.signer.anchor
    with TestClient(create_app(runtime), raise_server_exceptions=False) as client:
        made = client.post("/api/v1/requests", json=WINTER_VEGETABLE_SUBSIDY, headers=bearer(client, "sn.resident"))
        assert made.status_code == 201, made.text
        request_id = made.json()["id"]
        record, document = _kept(runtime, request_id)
        located = documents.located_of(record, document)
        found = find_anchor(runtime.blobs.get(document), anchor)
        assert found is not None
        assert located == Located(anchor, found)
        assert documents.located_of(record, "0" * 64) is None  # kept for its own document only

        for username, level in APPROVERS:
            decided = client.post(
                f"/api/v1/requests/{request_id}/decisions",
                json={"decision": "approve", "level": level},
                headers=bearer(client, username),
            )
            assert decided.status_code == 200, decided.text
        searches: list[object] = []

        def search(*args: Any) -> Anchor | None:
            searches.append(args)
            return find_anchor(*args)

        monkeypatch.setattr(sealing, "find_anchor", search)
        client.app.state.workers.once()  # type: ignore[attr-defined]
        sealed = client.get(f"/api/v1/requests/{request_id}/document", headers=bearer(client, "sn.resident"))
        assert sealed.status_code == 200, sealed.text
    assert searches == []
    with pikepdf.open(io.BytesIO(sealed.content)) as pdf:
        (field,) = [f for f in pdf.Root.AcroForm.Fields if f.T == "Seal1"]  # not the document timestamp's
        x0, y0, x1, y1 = (float(v) for v in field.Rect)
        page = next(n for n, p in enumerate(pdf.pages) if any(a.objgen == field.objgen for a in p.obj.Annots))
    assert page == found.page
    assert x0 < found.x0 < found.x1 < x1  # the seal over the anchor
    assert y0 < found.y0 < found.y1 < y1


def test_an_uploaded_document_keeps_no_anchor_place(runtime: Runtime) -> None:
    demo_snapshot.load(runtime, seals=True)
    upload = pdfs.clean("申请（盖章）")
    with TestClient(create_app(runtime), raise_server_exceptions=False) as client:
        made = client.post(
            "/api/v1/requests",
            headers=bearer(client, "sn.resident"),
            files={"document": ("doc.pdf", upload, "application/pdf")},
            data={"request": json.dumps(WINTER_VEGETABLE_SUBSIDY, ensure_ascii=False)},
        )
        assert made.status_code == 201, made.text
        assert _kept(runtime, made.json()["id"]) == (None, hashlib.sha256(upload).hexdigest())


def test_a_kept_place_reads_back_for_its_own_document_and_anything_else_is_searched_for() -> None:
    document = "ab" * 32
    for located in (Located("（盖章）", Anchor(0, 467.5, 190.6, 499.9, 202.0)), Located("（盖章）", None)):
        record = documents.located_record(document, located)
        assert record is not None
        assert documents.located_of(json.loads(json.dumps(record)), document) == located  # as the JSON column keeps it
        assert documents.located_of(record, "cd" * 32) is None
    assert documents.located_record(document, None) is None
    for damaged in (
        {"document": document, "text": "（盖章）", "found": [0, 1.0]},
        {"document": document, "text": "（盖章）", "found": ["one", 1, 2, 3, 4]},
        {"document": document, "text": 7, "found": None},
        {"document": document},
    ):
        assert documents.located_of(damaged, document) is None
