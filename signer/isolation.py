"""Verifying hostile files without trusting the parsers: each verification runs in a child process with a wall
clock limit and an address-space limit, so a file that loops, recurses or balloons is an error in bounded
time and memory, and the service or command that asked lives on.

Children fork from a server process that has imported pyHanko and PDFium once, so a verification costs a fork,
not an interpreter start. Before the parsers see the file, the child measures what its streams inflate to
(``inflation.check``): a compression bomb is refused with that reason rather than found by the memory limit.
"""

from __future__ import annotations

import datetime as dt
import logging
import multiprocessing
import resource
from collections.abc import Sequence
from multiprocessing.connection import Connection

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from core.settings import SignerSettings
from signer import inflation
from signer.revocation import NO_SOURCES, Sources
from signer.validation import NotSigned, Report, UnreadablePdf, VerifyError, validate

TIMEOUT = 5.0  # seconds
MEMORY = SignerSettings().verify_memory_bytes  # bytes of address space, unless the caller's settings say otherwise

_CONTEXT = multiprocessing.get_context("forkserver")
_CONTEXT.set_forkserver_preload(["signer.isolation"])  # the child needs this module, which imports the rest
_ERRORS: dict[str, type[VerifyError]] = {"NotSigned": NotSigned, "UnreadablePdf": UnreadablePdf}


def verify(
    data: bytes,
    *,
    trust: Sequence[x509.Certificate] = (),
    trust_embedded: bool = False,
    moment: dt.datetime | None = None,
    timeout: float = TIMEOUT,
    memory: int = MEMORY,
    revocation: Sources = NO_SOURCES,
) -> Report:
    """``validation.validate`` in a child process; UnreadablePdf when it takes too long or too much memory."""
    receiver, sender = _CONTEXT.Pipe(duplex=False)
    anchors = [c.public_bytes(Encoding.DER) for c in trust]
    child = _CONTEXT.Process(
        target=_run, args=(sender, data, anchors, trust_embedded, moment, memory, revocation), daemon=True
    )
    child.start()
    sender.close()
    try:
        if not receiver.poll(timeout):
            raise UnreadablePdf(f"the PDF could not be verified within {timeout:g} seconds")
        try:
            kind, payload = receiver.recv()
        except EOFError:
            raise UnreadablePdf("the PDF could not be verified: the verifier stopped (out of memory?)") from None
    finally:
        receiver.close()
        if child.is_alive():
            child.kill()
        child.join(5)
    if kind == "report":
        assert isinstance(payload, Report), "the child sends its Report under the kind 'report'"
        return payload
    name, message = payload
    raise _ERRORS.get(name, UnreadablePdf)(message)


def _run(
    sender: Connection,
    data: bytes,
    anchors: list[bytes],
    trust_embedded: bool,
    moment: dt.datetime | None,
    memory: int,
    revocation: Sources,
) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    logging.getLogger("pyhanko").setLevel(logging.CRITICAL)  # its tracebacks on hostile files are reported here
    try:
        trust = [x509.load_der_x509_certificate(der) for der in anchors]
        inflation.check(data)
        report = validate(data, trust=trust, trust_embedded=trust_embedded, moment=moment, revocation=revocation)
        sender.send(("report", report))
    except VerifyError as exc:
        sender.send(("error", (type(exc).__name__, str(exc))))
    except MemoryError:
        sender.send(("error", ("UnreadablePdf", "the PDF needs more memory to verify than is allowed")))
    except RecursionError:
        sender.send(("error", ("UnreadablePdf", "the PDF nests its objects too deeply to verify")))
    except Exception as exc:  # a parser's failure on a hostile file is that file's error, never the caller's
        sender.send(("error", ("UnreadablePdf", f"the PDF cannot be verified: {type(exc).__name__}: {exc}"[:300])))
    finally:
        sender.close()
