"""signer/objstm_reader.py overrides a private method of pyHanko's reader; these tests pin what it relies on, so
that a pyHanko upgrade that moves it fails here, by name, rather than slowing verification down or misreading."""

from __future__ import annotations

import inspect
import io
from importlib import metadata

import pikepdf
import pytest
from pyhanko.pdf_utils import generic, misc
from pyhanko.pdf_utils.decode_limits import DecodePurpose
from pyhanko.pdf_utils.reader import PdfFileReader

from signer.objstm_reader import IndexedReader

PYHANKO = metadata.version("pyhanko")
OBJECTS = 300


def _with_object_streams() -> bytes:
    pdf = pikepdf.Pdf.new()
    pdf.add_blank_page()
    pdf.Root.Items = pikepdf.Array(
        [pdf.make_indirect(pikepdf.Dictionary(N=n, S=pikepdf.String(f"item {n}"))) for n in range(OBJECTS)]
    )
    out = io.BytesIO()
    pdf.save(out, object_stream_mode=pikepdf.ObjectStreamMode.generate)
    return out.getvalue()


def _items(reader: PdfFileReader) -> list[tuple[int, str]]:
    items = [item.get_object() for item in reader.root["/Items"]]
    return [(int(item["/N"]), str(item["/S"])) for item in items]


def test_pyhanko_still_takes_objects_from_streams_through_the_method_it_overrides() -> None:
    method = getattr(PdfFileReader, "_get_object_from_stream", None)
    assert callable(method), (
        f"pyHanko {PYHANKO}: PdfFileReader._get_object_from_stream is gone; signer/objstm_reader.py overrides it"
    )
    parameters = list(inspect.signature(method).parameters)
    assert parameters == ["self", "idnum", "stmnum", "idx"], (
        f"pyHanko {PYHANKO}: PdfFileReader._get_object_from_stream{inspect.signature(method)} no longer takes "
        "(idnum, stmnum, idx), which signer/objstm_reader.py overrides"
    )


def test_the_helpers_the_index_uses_keep_their_meaning() -> None:
    header = io.BytesIO(b"  12 0 13 57 ")
    numbers = []
    for _ in range(4):
        misc.read_non_whitespace(header, seek_back=True)  # type: ignore[no-untyped-call]
        numbers.append(int(generic.NumberObject.read_from_stream(header)))  # type: ignore[no-untyped-call]
    assert numbers == [12, 0, 13, 57], f"pyHanko {PYHANKO} reads an object stream's header differently"
    assert DecodePurpose.OBJECT_STREAM, f"pyHanko {PYHANKO} has no DecodePurpose.OBJECT_STREAM"


def test_every_object_in_a_stream_goes_through_the_override_and_reads_as_pyhankos_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = _with_object_streams()
    calls: list[int] = []
    override = IndexedReader._get_object_from_stream

    def counted(self: IndexedReader, idnum: int, stmnum: int, idx: int) -> object:
        calls.append(idnum)
        return override(self, idnum, stmnum, idx)

    monkeypatch.setattr(IndexedReader, "_get_object_from_stream", counted)
    ours, stock = IndexedReader(io.BytesIO(data)), PdfFileReader(io.BytesIO(data))
    read = _items(ours)
    assert read == _items(stock)
    assert read == [(n, f"item {n}") for n in range(OBJECTS)]
    assert len(calls) >= OBJECTS, (
        f"pyHanko {PYHANKO} no longer reads objects in object streams through _get_object_from_stream: "
        "signer/objstm_reader.py's index is bypassed"
    )
    assert ours._streams, f"pyHanko {PYHANKO}: signer/objstm_reader.py indexed no object stream"
    assert None not in ours._streams.values(), (
        f"pyHanko {PYHANKO}: signer/objstm_reader.py could not index the object streams and fell back"
    )
