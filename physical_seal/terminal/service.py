"""The service's terminal API, as the terminal calls it: enrolment, authorisations, events and photos.

Two kinds of failure matter to the agent: the service could not be reached or failed (`Unreachable`: try again
later, in order) and the service refused (`Rejected`: a problem+json answer, final for that request).
"""

from __future__ import annotations

import base64
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx

TIMEOUT = 10.0


class Unreachable(Exception):
    """No answer, or a 5xx: nothing was decided, the same call may be made again."""


class Rejected(Exception):
    """A 4xx problem+json (RFC 9457) answer."""

    def __init__(self, status: int, type_: str, detail: str) -> None:
        super().__init__(f"{status} {type_}: {detail}")
        self.status = status
        self.type = type_
        self.detail = detail


@dataclass(frozen=True)
class Enrolment:
    certificate: bytes
    chain: list[bytes]
    credential: str


@dataclass(frozen=True)
class Offered:
    """An authorisation the service holds for the machine; `cose` is what LOAD carries."""

    id: str
    request: str
    uses: int
    not_after: str
    cose: bytes


@dataclass(frozen=True)
class Authorisations:
    machine: str
    epoch: int
    epoch_notice: bytes | None  # none while the machine is at its first epoch
    items: list[Offered]


@dataclass(frozen=True)
class EventResult:
    counter: int | None
    status: str
    reason: str | None
    alarms: list[str]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(value: Any) -> bytes:
    if not isinstance(value, str):
        raise TypeError("expected a base64 string")
    return base64.b64decode(value, validate=True)


@contextmanager
def _answer(what: str) -> Iterator[None]:
    """A 2xx answer that is not what the API says is the service failing, not a verdict."""
    try:
        yield
    except (KeyError, TypeError, ValueError) as exc:
        raise Unreachable(f"{what}: a malformed answer: {exc!r}") from None


class TerminalService:
    """One machine's view of the service. The credential is set after enrolment."""

    def __init__(
        self,
        base_url: str,
        machine: str,
        credential: str | None = None,
        *,
        verify: bool = True,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.credential = credential
        self._prefix = f"/api/v1/terminals/{machine}"
        self._http = httpx.Client(base_url=base_url, timeout=TIMEOUT, verify=verify, transport=transport)

    def close(self) -> None:
        self._http.close()

    def enrol(self, code: str, csr: bytes) -> Enrolment:
        body = self._call("POST", "/enrol", json={"code": code, "csr": _b64(csr)}, auth=False)
        with _answer("enrol"):
            return Enrolment(
                certificate=_unb64(body["certificate"]),
                chain=[_unb64(c) for c in body["chain"]],
                credential=str(body["credential"]),
            )

    def authorisations(self) -> Authorisations:
        body = self._call("GET", "/authorizations")
        with _answer("authorizations"):
            return Authorisations(
                machine=str(body["machine"]),
                epoch=int(body["epoch"]),
                epoch_notice=None if body["epoch_notice"] is None else _unb64(body["epoch_notice"]),
                items=[
                    Offered(str(a["id"]), str(a["request"]), int(a["uses"]), str(a["not_after"]), _unb64(a["cose"]))
                    for a in body["authorisations"]
                ],
            )

    def upload_events(self, events: Sequence[bytes]) -> list[EventResult]:
        """The service's verdict on each event, in the order sent."""
        body = self._call("POST", "/events", json={"events": [_b64(e) for e in events]})
        with _answer("events"):
            results = [
                EventResult(r["counter"], str(r["status"]), r["reason"], [str(a) for a in r["alarms"]])
                for r in body["results"]
            ]
        if len(results) != len(events):
            raise Unreachable(f"the service answered {len(results)} results for {len(events)} events")
        return results

    def upload_photo(self, counter: int, png: bytes) -> str:
        """The SHA-256 the service computed; Rejected(404) while it does not have the event yet."""
        body = self._call(
            "POST", "/photos", params={"counter": counter}, content=png, headers={"Content-Type": "image/png"}
        )
        with _answer("photos"):
            return str(body["sha256"])

    def _call(self, method: str, path: str, *, auth: bool = True, **kwargs: Any) -> dict[str, Any]:
        headers = dict(kwargs.pop("headers", {}))
        if auth:
            if self.credential is None:
                raise Rejected(401, "about:blank", "the terminal is not enrolled: no machine credential")
            headers["Authorization"] = f"Bearer {self.credential}"
        try:
            response = self._http.request(method, self._prefix + path, headers=headers, **kwargs)
        except httpx.HTTPError as exc:
            raise Unreachable(f"{method} {path}: {exc!r}") from None
        if response.status_code >= 500:
            raise Unreachable(f"{method} {path}: {response.status_code}")
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code >= 400:
            problem = body if isinstance(body, dict) else {}
            raise Rejected(
                response.status_code,
                str(problem.get("type", "about:blank")),
                str(problem.get("detail", problem.get("title", response.reason_phrase))),
            )
        if not isinstance(body, dict):
            raise Unreachable(f"{method} {path}: the answer is not a JSON object")
        return body
