"""A bureau's system on 127.0.0.1 that checks the signature of every delivery it receives."""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from core.clock import Clock
from workflow import delivery
from workflow.delivery import SignatureRejected

MINUTE = dt.timedelta(minutes=1)


@dataclass(frozen=True)
class Seen:
    path: str
    key: str | None
    body: bytes
    headers: dict[str, str]
    key_id: str | None
    error: str | None
    status: int


@dataclass
class Receiver:
    """A bureau's system: verifies each request with ``verify`` (unless ``secrets`` is None) and answers
    503 while ``failures`` lasts, then ``status``; ``during`` runs inside each request, before the answer."""

    clock: Clock
    secrets: dict[str, bytes] | None
    url: str = ""
    failures: int = 0
    status: int = 200
    reply: str = "ok"
    during: Callable[[], None] | None = None
    seen: list[Seen] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def handle(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, str]:
        key_id = error = None
        if self.secrets is not None:
            try:
                key_id = delivery.verify(
                    "POST",
                    self.url + path,
                    headers,
                    body,
                    secrets=self.secrets,
                    max_age=5 * MINUTE,
                    now=self.clock.now(),
                )
            except SignatureRejected as exc:
                error = exc.detail
        if self.during is not None:
            self.during()
        with self.lock:
            if error is not None:
                status, reply = 401, error
            elif self.failures > 0:
                self.failures -= 1
                status, reply = 503, "busy, try later"
            else:
                status, reply = self.status, self.reply
            key = next((v for k, v in headers.items() if k.lower() == "idempotency-key"), None)
            self.seen.append(Seen(path, key, body, headers, key_id, error, status))
        return status, reply

    def keys(self) -> Counter[str | None]:
        with self.lock:
            return Counter(s.key for s in self.seen)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        status, reply = self.server.receiver.handle(self.path, dict(self.headers.items()), body)
        data = reply.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the test reads what the receiver saw instead."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, receiver: Receiver) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.receiver = receiver
        receiver.url = f"http://127.0.0.1:{self.server_address[1]}"


@contextmanager
def running(recv: Receiver) -> Iterator[Receiver]:
    server = _Server(recv)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield recv
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
