"""Verifying hostile files without trusting the parsers: each verification runs in a child process with a wall
clock limit and an address-space limit, so a file that loops, recurses or balloons is an error in bounded
time and memory, and the service or command that asked lives on.

Children fork from a warm fork server (``_forkserver``), started once per service process: once idle, it has
imported pyHanko, pikepdf and PDFium and verified a document it made itself, so a child starts with every module
loaded, every lazy table built and the interpreter's specialised bytecode in place, and a verification costs a
fork, not a cold run (a child of a fork server that had only imported the verifier took half as long again as a
verification in process, and ran the service's main module once more before starting). Once warm, the fork
server keeps a spare child forked ahead, which copies the pages a verification will write (``prefault``) while it
waits: neither the fork nor those copies are on the path of a verification. The fork server never
reads a file it is asked to verify: each child reads its own, is used once and exits, so nothing one file does
can reach the next. The service may hand the fork server a document it sealed itself (``prime``): the server
verifies it as the service verifies uploads, so that every child starts knowing the names, extensions and
signature checks of the service's own certificates, OCSP responses and CRLs, which every document it sealed
carries, and the spare copies the pages such a verification writes (revocation and timestamp paths included).
Before the parsers see the file, the child measures what its streams inflate to (``inflation.check``): a
compression bomb is refused with that reason rather than found by the memory limit.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import datetime as dt
import functools
import gc
import io
import logging
import os
import resource
import select
import signal
import socket
import struct
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from core.settings import SignerSettings
from signer import inflation, prefault
from signer.revocation import NO_SOURCES, Sources
from signer.validation import NotSigned, Report, UnreadablePdf, VerifyError, validate

TIMEOUT = 5.0  # seconds
MEMORY = SignerSettings().verify_memory_bytes  # bytes of address space, unless the caller's settings say otherwise
STARTUP = 60.0  # seconds the fork server may take to start, on a loaded machine

_ERRORS: dict[str, type[VerifyError]] = {"NotSigned": NotSigned, "UnreadablePdf": UnreadablePdf}
_LAUNCH = "import sys; sys.path[:0] = sys.argv[2:]; import signer.isolation as s; s._forkserver(int(sys.argv[1]))"
_READY, _FORK, _KILL, _PRIME = b"r", b"f", b"k", b"p"
_PID = 4  # bytes of a process id on the control socket
_GRACE = 1.0  # seconds a child outlives its time limit when nobody is left to kill it
_EXIT = 2.0  # seconds a child that has answered may take to exit
_HAND = 1.0  # seconds a spare may take to say it has the socket of its verification
_PR_SET_NAME = 15
# process names, 15 bytes at most
SERVER, SPARE, CHILD, PROBE = b"sealgate-forks", b"sealgate-spare", b"sealgate-verify", b"sealgate-probe"


Primer = tuple[bytes, list[bytes], Sources]  # a document the service sealed, the trust anchors, revocation sources


def prime(sample: bytes, *, trust: Sequence[x509.Certificate] = (), revocation: Sources = NO_SOURCES) -> None:
    """Have the fork server verify ``sample`` before it forks further children, and again whenever it is
    started anew. Only a document the service made itself: the server verifies it without a child's limits,
    and every later child starts from what that verification left in memory. Revocation data is never
    fetched for it. A sample that does not verify only leaves the children as cold as before."""
    offline = Sources(crls=revocation.crls, ocsps=revocation.ocsps, online=False)
    _WARM.prime((sample, [c.public_bytes(Encoding.DER) for c in trust], offline))


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
    anchors = [c.public_bytes(Encoding.DER) for c in trust]
    pid, connection = _WARM.child()
    try:
        try:
            connection.send((data, anchors, trust_embedded, moment, memory, revocation, timeout))
            if not connection.poll(timeout):
                raise UnreadablePdf(f"the PDF could not be verified within {timeout:g} seconds")
            kind, payload = connection.recv()
        except (EOFError, OSError):
            raise UnreadablePdf("the PDF could not be verified: the verifier stopped (out of memory?)") from None
        _exited(connection, pid)
    except UnreadablePdf:
        _WARM.kill(pid)
        raise
    finally:
        connection.close()
    if kind == "report":
        assert isinstance(payload, Report), "the child sends its Report under the kind 'report'"
        return payload
    name, message = payload
    raise _ERRORS.get(name, UnreadablePdf)(message)


def _exited(connection: Connection, pid: int) -> None:
    """Wait for the child to close its end, which it does only by exiting, once the kernel has released its memory:
    until then it counts against the callers' limit of verifications at once (``max_concurrent_verifications``),
    which is there to bound the processes' memory. A child that neither exits nor stays silent is killed."""
    try:
        if connection.poll(_EXIT):
            connection.recv_bytes()
    except (EOFError, OSError):
        return
    _WARM.kill(pid)


class _Warm:
    """The fork server, seen from the service: started on first use, started again if it has gone."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._control: socket.socket | None = None
        self._owner = os.getpid()
        self._primer: Primer | None = None

    def prime(self, primer: Primer) -> None:
        with self._lock:
            self._primer = primer
            with contextlib.suppress(OSError):  # a fork server that has gone is primed when it starts again
                _send_primer(self._started(), primer)

    def child(self) -> tuple[int, Connection]:
        """A fresh child forked for one verification: its process id, and a connection to it."""
        with self._lock:
            for _ in range(2):  # once more with a new fork server, if the old one has gone
                ours, theirs = socket.socketpair()
                try:
                    control = self._started()
                    socket.send_fds(control, [_FORK], [theirs.fileno()])
                    pid = control.recv(_PID)
                    if len(pid) == _PID:
                        return int.from_bytes(pid, "big"), Connection(ours.detach())
                except OSError:
                    pass
                finally:
                    theirs.close()
                ours.close()
                self.stop()
        raise UnreadablePdf("the PDF could not be verified: the verifier cannot be started")

    def kill(self, pid: int) -> None:
        """End a child that has run out of time, or whose answer cannot be read. The fork server kills it if it
        has not reaped it yet, so the process id cannot have been given to another process."""
        with self._lock:
            if self._control is not None and self._owner == os.getpid():
                with contextlib.suppress(OSError):  # the fork server has gone: its children end at their timers
                    self._control.send(_KILL + pid.to_bytes(_PID, "big"))

    def _started(self) -> socket.socket:
        if self._owner != os.getpid():  # a forked copy of the service: the fork server is its parent's
            if self._control is not None:
                self._control.close()
            self._control, self._process, self._owner = None, None, os.getpid()
        if self._control is not None and self._process is not None and self._process.poll() is None:
            return self._control
        self.stop()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)  # one message at a time
        with theirs:
            argv = [sys.executable, "-c", _LAUNCH, str(theirs.fileno()), *[p for p in sys.path if p]]
            self._process = subprocess.Popen(argv, pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL)
        try:
            ours.settimeout(STARTUP)
            if ours.recv(1) != _READY:
                raise OSError("the fork server did not start")
            ours.settimeout(None)
            if self._primer is not None:
                _send_primer(ours, self._primer)
        except OSError:
            ours.close()
            raise
        self._control = ours
        return ours

    def stop(self) -> None:
        """Close the control socket: the fork server sees it closed and exits."""
        if self._owner != os.getpid():
            return
        if self._control is not None:
            self._control.close()
            self._control = None
        if self._process is not None:
            try:
                self._process.wait(5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None


def _send_primer(control: socket.socket, primer: Primer) -> None:
    ours, theirs = socket.socketpair()
    with ours, theirs:
        socket.send_fds(control, [_PRIME], [theirs.fileno()])
        theirs.close()
        with Connection(ours.detach()) as connection:
            connection.send(primer)


_WARM = _Warm()
atexit.register(_WARM.stop)


def _forkserver(fd: int) -> None:
    """The fork server: hand each socket the service sends to a child and kill the children it names, until it
    goes away. It warms up as soon as nothing is asked of it: the first children of a one-off command, which asks
    at once, start from imported modules alone, as they always did. Once warm, it keeps one spare child forked
    ahead, waiting for a socket, and forks the next spare after answering: the fork (a few milliseconds for a
    process this size) is then off the path of a verification. Children are reaped only here, before each
    message is acted on: a child the service names is killed only while it is unreaped, so its process id is
    still its own."""
    control = socket.socket(fileno=fd)
    logging.getLogger("pyhanko").setLevel(logging.CRITICAL)
    _named(SERVER)  # and the C library is looked up here, once, for every child
    control.sendall(_READY)
    children: set[int] = set()
    spare: _Spare | None = None
    footprint: list[prefault.Span] = []
    primer: Primer | None = None
    primed = False  # whether the server has warmed up since the newest primer came (or at all)
    own: Callable[[], object] | None = None  # the verification of the server's own sample, once it has warmed up
    while True:
        if (spare is None or not primed) and not select.select([control], [], [], 0)[0]:  # idle: none kept waiting
            if spare is not None:
                spare.retire()
            own = own or _warm_up()
            warm = (_primed(control, primer) if primer is not None else None) or own
            primed = True
            gc.freeze()  # the warm objects stay out of the children's collections, and their pages shared
            footprint = _footprint(control, warm) if warm is not None else []
            spare = _Spare.fork(control, children, footprint)
        try:
            message, fds, _, _ = socket.recv_fds(control, 1 + _PID, 1)
        except OSError:
            return
        if not message:
            return  # the service has gone
        _reap(children)
        if message[:1] == _KILL:
            pid = int.from_bytes(message[1:], "big")
            if pid in children:
                os.kill(pid, signal.SIGKILL)
            continue
        if not fds:
            return
        if message[:1] == _PRIME:  # warmed again with it once idle; until then the spares fork as they did
            with contextlib.suppress(EOFError, OSError), Connection(fds[0]) as connection:
                primer = connection.recv()
                primed = False
            continue
        child = spare.hand(fds[0], children) if spare is not None else None
        if child is None:  # cold, or the spare has gone: a child forked now
            child = _fork(control, functools.partial(_child, fds[0]))
            children.add(child)
        os.close(fds[0])
        control.sendall(child.to_bytes(_PID, "big"))
        if spare is not None:
            spare = _Spare.fork(control, children, footprint)


class _Spare:
    """A child forked ahead of need, waiting on a socket of its own for the socket of the verification it is to
    run; if the fork server goes, that socket closes and the spare exits unused."""

    def __init__(self, pid: int, socket_: socket.socket) -> None:
        self.pid, self.socket = pid, socket_

    @classmethod
    def fork(cls, control: socket.socket, children: set[int], footprint: list[prefault.Span]) -> _Spare:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        pid = _fork(control, functools.partial(_wait_for_work, theirs, ours, footprint))
        theirs.close()
        children.add(pid)
        return cls(pid, ours)

    def retire(self) -> None:
        """Unused: its socket closed, the spare exits (and is reaped later)."""
        self.socket.close()

    def hand(self, fd: int, children: set[int]) -> int | None:
        """The spare's process id once it has said it holds the service's socket; None if it has gone, even
        while being handed the socket (it is killed, if need be, and reaped later)."""
        try:
            if self.pid not in children:
                return None
            self.socket.settimeout(_HAND)
            socket.send_fds(self.socket, [_FORK], [fd])
            if self.socket.recv(1) != _READY:
                raise OSError("the spare has gone")
            return self.pid
        except OSError:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
            return None
        finally:
            self.socket.close()


def _fork(control: socket.socket, work: Callable[[], None]) -> int:
    pid = os.fork()
    if pid == 0:
        control.close()
        try:
            work()
        finally:
            os._exit(0)
    return pid


def _wait_for_work(own_end: socket.socket, servers_end: socket.socket, footprint: list[prefault.Span]) -> None:
    _named(SPARE)
    servers_end.close()
    prefault.populate(footprint)
    _, fds, _, _ = socket.recv_fds(own_end, 1, 1)
    if fds:
        own_end.sendall(_READY)
        own_end.close()
        _child(fds[0])


def _named(name: bytes) -> None:
    """Name this process in ``ps`` and ``/proc/<pid>/comm`` (``prctl(PR_SET_NAME)``, which Python does not offer),
    so that an operator tells a spare waiting for work from a child at work."""
    with contextlib.suppress(OSError, AttributeError):
        _libc().prctl(_PR_SET_NAME, name, 0, 0, 0)


@functools.cache
def _libc() -> ctypes.CDLL:
    """The C library, looked up once in the fork server: its children inherit it instead of each loading it."""
    return ctypes.CDLL(None)


def _reap(children: set[int]) -> None:
    try:
        while (pid := os.waitpid(-1, os.WNOHANG)[0]) > 0:
            children.discard(pid)
    except ChildProcessError:
        pass


def _child(fd: int) -> None:
    _named(CHILD)
    connection = Connection(fd)
    data, anchors, trust_embedded, moment, memory, revocation, timeout = connection.recv()
    # the service kills a child past its time; should the service itself be gone, SIGALRM's default action ends it
    signal.setitimer(signal.ITIMER_REAL, timeout + _GRACE)
    _run(connection, data, anchors, trust_embedded, moment, memory, revocation)


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
    # ``sender`` stays open: the child's exit closes it, which tells the service the child is gone (``_exited``).


def _warm_up() -> Callable[[], object] | None:
    """Verify, a few times, a document signed twice here with a throwaway key: every module and table a
    verification uses is then loaded, and the bytecode specialised, before the first child forks. That
    verification, for a probe child to repeat, or None if it failed."""
    try:
        sample = _sample()
        warm = functools.partial(validate, sample, trust_embedded=True)
        for _ in range(3):
            warm()
    except Exception:  # warmth is an optimisation: a child verifies as well from a cold process
        logging.getLogger(__name__).exception("the verifier could not warm up")
        return None
    return warm


def _primed(control: socket.socket, primer: Primer) -> Callable[[], object] | None:
    """Verify the service's ``primer`` twice, once a child has verified it within a verification's limits. That
    verification, for a probe child to repeat, or None if it failed."""
    document, anchors, revocation = primer
    try:
        trust = [x509.load_der_x509_certificate(der) for der in anchors]
        primed = functools.partial(validate, document, trust=trust, revocation=revocation)
        if not _survived(control, primed):
            raise UnreadablePdf("a child could not verify it within a verification's time and memory limits")
        for _ in range(2):
            primed()
    except Exception:
        logging.getLogger(__name__).exception("the verifier could not verify the document it was primed with")
        return None
    return primed


def _survived(control: socket.socket, verification: Callable[[], object]) -> bool:
    """Whether ``verification`` ends without an error in a child with a verification's time and memory limits:
    the fork server, which has neither, runs a sample only once a child has."""

    def trial() -> None:
        _named(PROBE)
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))
        signal.setitimer(signal.ITIMER_REAL, TIMEOUT)
        try:
            verification()
        except BaseException:
            os._exit(1)

    _, status = os.waitpid(_fork(control, trial), 0)
    return os.waitstatus_to_exitcode(status) == 0


def _footprint(control: socket.socket, verification: Callable[[], object]) -> list[prefault.Span]:
    """The pages of this process a verification writes, as a probe child repeating ``verification`` finds them."""
    shared = prefault.writable()
    ours, theirs = socket.socketpair()
    pid = _fork(control, functools.partial(_probe, theirs, ours, verification, shared))
    theirs.close()
    with ours:
        ours.settimeout(STARTUP)
        found = bytearray()
        with contextlib.suppress(OSError):
            while chunk := ours.recv(1 << 16):
                found += chunk
    os.waitpid(pid, 0)
    if len(found) % 16:
        return []
    numbers = struct.unpack(f"{len(found) // 8}Q", found)
    return list(zip(numbers[::2], numbers[1::2], strict=True))


def _probe(
    own_end: socket.socket, servers_end: socket.socket, verification: Callable[[], object], shared: list[prefault.Span]
) -> None:
    _named(PROBE)
    servers_end.close()
    signal.setitimer(signal.ITIMER_REAL, STARTUP)
    with own_end:
        verification()
        spans = prefault.written(shared)
        own_end.sendall(struct.pack(f"{2 * len(spans)}Q", *(n for span in spans for n in span)))


def _sample() -> bytes:
    import pikepdf
    from asn1crypto import keys as asn1_keys
    from asn1crypto import x509 as asn1_x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import NoEncryption, PrivateFormat
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import signers
    from pyhanko_certvalidator.registry import SimpleCertificateStore

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "sealgate warm-up")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder(name, name, key.public_key(), x509.random_serial_number(), now, now + dt.timedelta(1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    signer = signers.SimpleSigner(
        signing_cert=asn1_x509.Certificate.load(certificate.public_bytes(Encoding.DER)),
        signing_key=asn1_keys.PrivateKeyInfo.load(key.private_bytes(Encoding.DER, PrivateFormat.PKCS8, NoEncryption())),
        cert_registry=SimpleCertificateStore.from_certs([]),  # type: ignore[no-untyped-call]
    )
    pdf = pikepdf.new()
    pdf.add_blank_page(page_size=(595, 842))
    font = pikepdf.Dictionary(Type=pikepdf.Name.Font, Subtype=pikepdf.Name.Type1, BaseFont=pikepdf.Name.Helvetica)
    pdf.pages[0].obj.Resources = pikepdf.Dictionary(Font=pikepdf.Dictionary(F1=font))
    pdf.pages[0].obj.Contents = pdf.make_stream(b"BT /F1 24 Tf 72 720 Td (sealgate) Tj ET")
    out = io.BytesIO()
    pdf.save(out)
    for field in ("First", "Second"):
        meta = signers.PdfSignatureMetadata(field_name=field)
        out = signers.sign_pdf(IncrementalPdfFileWriter(io.BytesIO(out.getvalue())), meta, signer=signer)
    return bytes(out.getvalue())
