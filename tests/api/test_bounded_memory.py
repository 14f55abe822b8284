"""The public endpoints cannot be made to eat the machine: the real server, under 300 MB uploads (announced and
chunked, to a verification route and to no route at all) and eight compression bombs at once, keeps its own memory
within 100 MB of where it started, and its verifying children within their limit and their number."""

from __future__ import annotations

import json
import os
import select
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench.ports import free_port
from core.keystore import Keystore
from core.settings import SignerSettings
from signer.isolation import PROBE, SERVER, SPARE
from tests.cli.support import serving
from tests.signer.bombs import sealed_bomb
from tests.signer.pki import Pki, blank_pdf
from tests.signer.test_pades import pki  # noqa: F401  (the module's PKI fixture)

MB = 1024 * 1024
HUGE = 300 * MB
LIMITS = SignerSettings()  # the server runs on the defaults
SLACK = 100 * MB
# Children of the fork server that verify nothing: a spare waiting for work, the warm-up's probe, and a child so
# newly forked that it still bears the server's name (a verifying child names itself before it reads its file).
IDLE = {SPARE.decode(), PROBE.decode(), SERVER.decode()}
_PIECE = b"%PDF-1.7\n" + bytes(MB - 9)


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    sent: int  # bytes of body the server let the client send before it answered

    def problem(self) -> dict[str, object]:
        assert self.headers.get("content-type") == "application/problem+json", self
        found: dict[str, object] = json.loads(self.body)
        return found


def post(port: int, path: str, size: int, *, chunked: bool, headers: dict[str, str] | None = None) -> Answer:
    """POST ``size`` bytes of a would-be PDF through a raw socket, a megabyte at a time, stopping as soon as the
    server answers or hangs up, so the test never holds the upload."""
    lines = [f"POST {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Content-Type: application/pdf"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    lines.append("Transfer-Encoding: chunked" if chunked else f"Content-Length: {size}")
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        sent = 0
        try:
            while sent < size:
                # A moment for an answer to the headers alone, as a client sending Expect: 100-continue gives.
                readable, _, _ = select.select([sock], [], [], 0 if sent else 1.0)
                if readable:
                    break
                frame = b"%x\r\n%s\r\n" % (len(_PIECE), _PIECE) if chunked else _PIECE
                sock.sendall(frame)
                sent += len(_PIECE)
            else:
                sock.sendall(b"0\r\n\r\n" if chunked else b"")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed: its answer is in our receive buffer
        return _answer(sock, sent)


def _answer(sock: socket.socket, sent: int) -> Answer:
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, body = data.split(b"\r\n\r\n", 1)
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in header_lines)}
    while len(body) < int(headers.get("content-length", "0")):
        more = sock.recv(65536)
        if not more:
            break
        body += more
    return Answer(int(status_line.split()[1]), headers, body, sent)


@dataclass
class Watch:
    """VmRSS of the server and of every process under it, sampled every 20 ms: each one's peak, the whole tree's,
    and how many verifying children (those the forkserver forked, less those of ``IDLE``: the spare that waits for
    work and the probe the warm-up forks, which name themselves, and a child not yet named) lived at once."""

    server: int
    peaks: dict[int, int] = field(default_factory=dict)
    verifying: set[int] = field(default_factory=set)
    children_at_once: int = 0
    tree_peak: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)

    def sample(self) -> tuple[int, int]:
        """The server's RSS and the whole tree's, now."""
        parents = _parents(self.server)
        sizes = {pid: rss for pid in [self.server, *parents] if (rss := _rss(pid)) is not None}
        for pid, rss in sizes.items():
            self.peaks[pid] = max(self.peaks.get(pid, 0), rss)
        forkservers = {
            pid for pid, parent in parents.items() if parent == self.server and "forkserver" in _cmdline(pid)
        }
        verifying = {
            pid
            for pid, parent in parents.items()
            if parent in forkservers and pid in sizes and _proc(pid, "comm").strip() not in IDLE
        }
        self.verifying |= verifying
        self.children_at_once = max(self.children_at_once, len(verifying))
        total = sum(sizes.values())
        self.tree_peak = max(self.tree_peak, total)
        return sizes.get(self.server, 0), total

    def __enter__(self) -> Watch:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.sample()


def _proc(pid: int, name: str) -> str:
    try:
        return Path(f"/proc/{pid}/{name}").read_text()
    except OSError:
        return ""


def _rss(pid: int) -> int | None:
    for line in _proc(pid, "status").splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return None


def _parent(pid: int) -> int:
    stat = _proc(pid, "stat")
    return int(stat.rsplit(")", 1)[1].split()[1]) if stat else 0


def _cmdline(pid: int) -> str:
    return _proc(pid, "cmdline").replace("\0", " ")


def _parents(root: int) -> dict[int, int]:
    """Every process under ``root``, with its parent."""
    parents = {int(p): _parent(int(p)) for p in os.listdir("/proc") if p.isdigit()}
    found: dict[int, int] = {}
    frontier = {root}
    while frontier:
        frontier = {pid for pid, parent in parents.items() if parent in frontier}
        found.update((pid, parents[pid]) for pid in frontier)
    return found


def _server(port: int) -> int:
    for pid in _parents(os.getpid()):
        if f"--port {port}" in _cmdline(pid):
            return pid
    raise AssertionError(f"no server on port {port} under this test")


def test_floods_and_bombs_leave_the_server_within_its_limits(pki: Pki, keystore: Keystore, tmp_path: Path) -> None:  # noqa: F811
    bomb = sealed_bomb(pki, keystore, tmp_path, 4 * 1024 * MB)  # 4 GiB of zeros in 4 MB, after a seal
    unsigned = blank_pdf(tmp_path / "unsigned.pdf").read_bytes()
    port = free_port()
    with serving(tmp_path, tmp_path / "serve.log", SEALGATE_PORT=str(port)) as base:
        server = _server(port)
        pdf = {"Content-Type": "application/pdf"}
        # Warm up what the flood will use: a first verification starts the forkserver, a first upload the spool.
        assert httpx.post(base + "/api/v1/verify", content=unsigned, headers=pdf, timeout=30).status_code == 422
        assert post(port, "/api/v1/verify", 2 * MB, chunked=True).status == 422
        watch = Watch(server)
        server_before, tree_before = watch.sample()
        started = time.monotonic()
        with watch:
            verify_announced = post(port, "/api/v1/verify", HUGE, chunked=False)
            verify_chunked = post(port, "/api/v1/verify", HUGE, chunked=True)
            nowhere_announced = post(port, "/api/v1/nowhere", HUGE, chunked=False, headers={"Idempotency-Key": "k-1"})
            nowhere_chunked = post(port, "/api/v1/nowhere", HUGE, chunked=True, headers={"Idempotency-Key": "k-2"})
            with ThreadPoolExecutor(8) as pool:
                bombs = list(
                    pool.map(
                        lambda _: httpx.post(base + "/api/v1/verify", content=bomb, headers=pdf, timeout=60), range(8)
                    )
                )
        elapsed = time.monotonic() - started

    assert verify_announced.status == 413
    assert verify_announced.problem()["type"] == "/problems/payload-too-large"
    assert verify_announced.sent == 0
    assert verify_chunked.status in (413, 422), verify_chunked
    assert verify_chunked.problem()["type"] in ("/problems/payload-too-large", "/problems/unverifiable-pdf")
    assert verify_chunked.sent < LIMITS.max_verify_bytes + 32 * MB  # cut at the limit, not read to its end
    assert nowhere_announced.status == 413
    assert nowhere_announced.sent == 0
    assert nowhere_chunked.status == 404  # its normal answer, given without reading the body
    assert nowhere_chunked.problem()["type"] == "/problems/not-found"
    assert nowhere_chunked.headers["connection"] == "close"
    assert nowhere_chunked.sent < 32 * MB
    for answer in bombs:
        assert answer.status_code in (422, 503), answer.text
        assert answer.headers["content-type"] == "application/problem+json"
        if answer.status_code == 503:
            assert answer.json()["type"] == "/problems/busy"
            assert int(answer.headers["retry-after"]) >= 1
        else:
            assert "decompresses to more than" in answer.json()["detail"]
    assert any(answer.status_code == 422 for answer in bombs)

    server_growth = watch.peaks[server] - server_before
    children = [watch.peaks[pid] for pid in watch.verifying]
    tree_growth = watch.tree_peak - tree_before
    print(  # the measurements, for `pytest -s`
        f"server {server_before / MB:.0f} MB, +{server_growth / MB:.0f} MB at most; "
        f"{len(children)} verifying children, largest {max(children) / MB:.0f} MB, {watch.children_at_once} at once; "
        f"whole tree +{tree_growth / MB:.0f} MB at most; bombs {sorted(a.status_code for a in bombs)}; {elapsed:.1f} s"
    )
    assert server_growth < SLACK
    assert children
    assert max(children) < LIMITS.verify_memory_bytes
    assert watch.children_at_once <= LIMITS.max_concurrent_verifications
    assert tree_growth < SLACK + LIMITS.max_concurrent_verifications * LIMITS.verify_memory_bytes
    assert elapsed < 45
