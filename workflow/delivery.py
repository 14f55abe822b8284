"""Delivering the outbox: approved results to the destination bureaus' systems, notifications to a webhook.

A message is delivered at least once. A deliverer leases due messages in one short transaction (so that two
deliverers never send the same message at once), posts them with no transaction open, and records each outcome
in a transaction of its own. The receiver drops repeats by the ``Idempotency-Key``, which never changes between
attempts, and checks who sent the message by its RFC 9421 signature (HMAC-SHA256) over the method, the target
URI, the RFC 9530 ``Content-Digest`` of the body, the content type and the idempotency key.

A matter names its destination by the catalogue's bureau key (``agriculture``), which is the same for every
district that uses the catalogue. Which organisation of this deployment's directory is that bureau (yazhou.agri)
is said where the deployment says where the bureau receives: on its delivery endpoint, beside the URL and the
secret, by the operator who sets them (``sealgate outbox endpoint agriculture --organisation yazhou.agri``). The
holders of that organisation's bureau post then see the requests delivered to it (``addressed_to``).
"""

from __future__ import annotations

import datetime as dt
import random
import re
from collections import Counter
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

import cryptography.exceptions
import httpx
from http_message_signatures import (
    ContentDigest,
    HTTPMessageSignaturesException,
    HTTPMessageSigner,
    HTTPMessageVerifier,
    InvalidSignature,
    MappingKeyResolver,
)
from http_message_signatures.algorithms import HMAC_SHA256
from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from core import deferred
from core.clock import Clock
from core.errors import Conflict, Invalid, NotFound, Unauthorized
from core.settings import WorkflowSettings
from identity import directory
from identity.models import Organisation
from workflow import history
from workflow.case import Subject
from workflow.models import DeliveryEndpoint, OutboxMessage, SealRequest

KINDS = ("bureau", "webhook")
LABEL = "sealgate"
COVERED = ("@method", "@target-uri", "content-digest", "content-type", "idempotency-key")
WEBHOOK_KEY_ID = "sealgate-webhook"
# A lease outlasts any one request (TIMEOUT bounds each of its phases), so a message being sent is never due.
LEASE = dt.timedelta(minutes=5)
SEND_BUDGET = dt.timedelta(minutes=1)
TIMEOUT = httpx.Timeout(15.0, connect=5.0)
RETRYABLE_STATUS = frozenset({408, 425, 429})
ERROR_CHARS = 200
# Outcomes recorded in one transaction. A process that dies before recording them sends those messages again once
# their lease runs out; each carries its idempotency key, so a receiver takes it once.
RECORD_EVERY = 10
BATCH = 50  # messages a round claims and sends

Verdict = Literal["delivered", "retry", "dead"]
_QUEUE = {  # by dialect: a repeated idempotency key inserts nothing
    "postgresql": postgresql.insert(OutboxMessage).on_conflict_do_nothing(index_elements=["idempotency_key"]),
    "sqlite": sqlite.insert(OutboxMessage).on_conflict_do_nothing(index_elements=["idempotency_key"]),
}
_jitter = random.SystemRandom()


class SignatureRejected(Unauthorized):
    problem = "bad-signature"


def enqueue(
    session: Session, *, kind: str, target: str, request_id: int | None, payload: bytes, key: str, now: dt.datetime
) -> None:
    """Queue a message in the caller's transaction, sent with its next statement (``core.deferred``): nothing of
    it is read back. A second message with the same key is dropped, even when a concurrent transaction queued
    the first and commits before this one."""
    if kind not in KINDS:
        raise Invalid(f"unknown delivery kind {kind!r}")
    if kind == "webhook":
        _check_url(target)
    if not target or len(target) > 500:
        raise Invalid("a delivery target is 1 to 500 characters")
    if not key or len(key) > 80:
        raise Invalid("an idempotency key is 1 to 80 characters")
    conn = session.connection()
    row = {
        "kind": kind,
        "target": target,
        "request_id": request_id,
        "payload": payload,
        "idempotency_key": key,
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
    }
    deferred.write(conn, _QUEUE[conn.dialect.name], row)


def set_endpoint(
    session: Session,
    bureau: str,
    *,
    url: str,
    key_id: str,
    secret: str,
    now: dt.datetime,
    organisation: str | None = None,
) -> DeliveryEndpoint:
    """Say where a bureau receives its deliveries and which shared secret signs them (it may change), and, with
    ``organisation``, which organisation of the directory is that bureau (kept as it was when not given)."""
    if not bureau or len(bureau) > 40:
        raise Invalid("a bureau key is 1 to 40 characters")
    _check_url(url)
    if not key_id or len(key_id) > 80:
        raise Invalid("a key id is 1 to 80 characters")
    if not secret or len(secret) > 200:
        raise Invalid("a signing secret is 1 to 200 characters")
    endpoint = session.get(DeliveryEndpoint, bureau)
    if endpoint is None:
        endpoint = DeliveryEndpoint(bureau=bureau, created_at=now)
        session.add(endpoint)
    endpoint.url = url
    endpoint.key_id = key_id
    endpoint.secret = secret
    if organisation is not None:
        endpoint.organisation_id = directory.organisation(session, organisation).id
    session.flush()
    return endpoint


def addressed_to(session: Session, request_id: int, organisations: Collection[str]) -> bool:
    """Whether the request's result was sent, or is queued to be sent, to a bureau one of ``organisations`` is:
    a message to it is queued when the request completes, whatever became of the message since."""
    if not organisations:
        return False
    found = session.scalar(
        select(OutboxMessage.id)
        .join(DeliveryEndpoint, DeliveryEndpoint.bureau == OutboxMessage.target)
        .join(Organisation, Organisation.id == DeliveryEndpoint.organisation_id)
        .where(
            OutboxMessage.request_id == request_id,
            OutboxMessage.kind == "bureau",
            Organisation.code.in_(list(organisations)),
        )
        .limit(1)
    )
    return found is not None


def retry(session: Session, message_id: int, now: dt.datetime) -> OutboxMessage:
    """Give a message a fresh set of attempts, starting now: an operator fixed what made it fail."""
    message = session.get(OutboxMessage, message_id, with_for_update=True)
    if message is None:
        raise NotFound(f"no outbox message {message_id}")
    if message.status == "delivered":
        raise Conflict(f"outbox message {message_id} was delivered at {message.delivered_at:%Y-%m-%d %H:%M:%S}")
    message.status = "pending"
    message.attempts = 0
    message.next_attempt_at = now
    session.flush()
    return message


def dead(session: Session) -> list[OutboxMessage]:
    return list(session.scalars(select(OutboxMessage).where(OutboxMessage.status == "dead").order_by(OutboxMessage.id)))


def sign(request: httpx.Request, *, key_id: str, secret: bytes, created: dt.datetime) -> None:
    """Add ``Content-Digest`` (if missing), ``Signature-Input`` and ``Signature`` to ``request``."""
    signer = HTTPMessageSigner(
        signature_algorithm=HMAC_SHA256,
        key_resolver=MappingKeyResolver(public_keys={}, private_keys={key_id: secret}),
    )
    signer.sign(
        request,
        key_id=key_id,
        created=created,
        label=LABEL,
        covered_component_ids=COVERED,
        body=request.content,
        use_existing_digest=True,
    )


def verify(
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    secrets: Mapping[str, bytes],
    max_age: dt.timedelta,
    now: dt.datetime | None = None,
) -> str:
    """Check a delivery as its receiver: signed by one of ``secrets``, recently, over all of COVERED and the body.

    Returns the key id that verified; raises SignatureRejected saying what is wrong. ``now`` defaults to the
    system clock.
    """
    verifier = _Verifier(secrets, now or dt.datetime.now(dt.UTC))
    try:
        results = verifier.verify(
            _Received(method, url, headers), max_age=max_age, require_components=COVERED, body=body
        )
    except HTTPMessageSignaturesException as exc:
        reason = str(exc)
        if isinstance(exc.__cause__, cryptography.exceptions.InvalidSignature):  # the HMAC itself differs
            reason = "it does not match the message (a wrong key, or an altered message)"
        raise SignatureRejected(f"signature rejected: {reason}") from exc
    return str(results[0].parameters["keyid"])


@dataclass(frozen=True)
class Delivered:
    """What one round did: messages delivered, put back for a later attempt, given up (dead)."""

    delivered: int
    retried: int
    dead: int


@dataclass(frozen=True)
class _Outcome:
    claim: _Claim
    verdict: Verdict
    error: str | None


@dataclass(frozen=True)
class _Claim:
    """What sending one leased message needs, read while it was claimed; ``url`` None: no endpoint."""

    id: int
    target: str
    payload: bytes
    key: str
    url: str | None
    key_id: str | None
    secret: bytes | None
    lease_until: dt.datetime


class Deliverer:
    """Sends the due messages of the outbox; any number may run at once, in threads or in processes."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        settings: WorkflowSettings,
        clock: Clock,
        client: httpx.Client | None = None,
    ) -> None:
        self._sessions = sessions
        self._settings = settings
        self._clock = clock
        self._client = client

    def deliver_due(self, limit: int = BATCH) -> Delivered:
        """Send up to ``limit`` due messages, oldest due first, and record how each went."""
        claims = self._claim(limit)
        if not claims:
            return Delivered(0, 0, 0)
        counts: Counter[Verdict] = Counter()
        client = self._http()
        sent: list[_Outcome] = []
        for n, claim in enumerate(claims):
            if self._clock.now() + SEND_BUDGET > claim.lease_until:
                self._release(claims[n:])  # too slow a batch: hand the rest back before the lease runs out
                break
            sent.append(_Outcome(claim, *self._post(client, claim)))
            if len(sent) == RECORD_EVERY:
                counts.update(self._record(sent))
                sent = []
        if sent:
            counts.update(self._record(sent))
        return Delivered(counts["delivered"], counts["retry"], counts["dead"])

    def _claim(self, limit: int) -> list[_Claim]:
        now = self._clock.now()
        lease_until = now + LEASE
        with self._sessions.begin() as session:
            messages = session.scalars(
                select(OutboxMessage)
                .where(OutboxMessage.status == "pending", OutboxMessage.next_attempt_at <= now)
                .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            ).all()
            if not messages:
                return []
            bureaus = {m.target for m in messages if m.kind == "bureau"}
            endpoints = {
                e.bureau: e
                for e in session.scalars(select(DeliveryEndpoint).where(DeliveryEndpoint.bureau.in_(bureaus)))
            }
            claims: list[_Claim] = []
            for message in messages:
                message.next_attempt_at = lease_until
                claims.append(self._claimed(message, endpoints.get(message.target), lease_until))
            return claims

    def _claimed(self, message: OutboxMessage, endpoint: DeliveryEndpoint | None, lease_until: dt.datetime) -> _Claim:
        url: str | None = message.target
        key_id: str | None = None
        secret: bytes | None = None
        if message.kind == "bureau":
            url = endpoint.url if endpoint else None
            key_id = endpoint.key_id if endpoint else None
            secret = endpoint.secret.encode() if endpoint else None
        elif self._settings.notification_webhook_secret is not None:
            key_id = WEBHOOK_KEY_ID
            secret = self._settings.notification_webhook_secret.get_secret_value().encode()
        return _Claim(
            id=message.id,
            target=message.target,
            payload=message.payload,
            key=message.idempotency_key,
            url=url,
            key_id=key_id,
            secret=secret,
            lease_until=lease_until,
        )

    def _http(self) -> httpx.Client:
        """One client for the deliverer's life: making one loads the CA bundle into a TLS context, which cost more
        than a batch of deliveries; its connections to the bureaus are kept for the next batch too."""
        if self._client is None:
            self._client = httpx.Client(timeout=TIMEOUT)
        return self._client

    def _post(self, client: httpx.Client, claim: _Claim) -> tuple[Verdict, str | None]:
        if claim.url is None:
            return "retry", f"no endpoint for bureau {claim.target}"
        try:
            request = client.build_request(
                "POST",
                claim.url,
                content=claim.payload,
                headers={
                    "Content-Type": "application/json",
                    "Idempotency-Key": claim.key,
                    "Content-Digest": ContentDigest.create(claim.payload),
                },
            )
        except (httpx.InvalidURL, UnicodeError) as exc:  # a target that never went through enqueue's checks
            return "dead", _short(f"invalid URL: {exc}")
        if claim.key_id is not None and claim.secret is not None:
            sign(request, key_id=claim.key_id, secret=claim.secret, created=self._clock.now())
        try:
            response = client.send(request)
        except httpx.TransportError as exc:  # refused, reset, timed out, not HTTP
            return "retry", _short(f"{type(exc).__name__}: {exc}")
        if response.is_success:
            return "delivered", None
        error = _short(f"HTTP {response.status_code}: {response.text}")
        if 400 <= response.status_code < 500 and response.status_code not in RETRYABLE_STATUS:
            return "dead", error  # the receiver refuses this message as it is: resending it cannot help
        return "retry", error

    def _record(self, sent: list[_Outcome]) -> list[Verdict]:
        """Apply the outcomes of messages sent, in one transaction, except for those no longer ours (the lease ran
        out and another took it); the verdicts applied."""
        now = self._clock.now()
        applied: list[Verdict] = []
        with self._sessions.begin() as session:
            messages = {
                m.id: m
                for m in session.scalars(
                    select(OutboxMessage)
                    .where(OutboxMessage.id.in_([o.claim.id for o in sent]))
                    .order_by(OutboxMessage.id)  # locked in one order by every process
                    .with_for_update()
                )
            }
            requests = {m.request_id for m in messages.values() if m.kind == "bureau" and m.request_id is not None}
            subjects: dict[int, Subject] = {
                row.id: row
                for row in session.execute(
                    select(SealRequest.id, SealRequest.number, SealRequest.state, SealRequest.level).where(
                        SealRequest.id.in_(requests)
                    )
                )
            }
            for outcome in sent:
                message = messages.get(outcome.claim.id)
                if (
                    message is None
                    or message.status != "pending"
                    or message.next_attempt_at != outcome.claim.lease_until
                ):
                    continue
                verdict = outcome.verdict
                message.attempts += 1
                message.last_error = outcome.error or message.last_error
                if verdict == "retry" and message.attempts >= self._settings.delivery_attempts:
                    verdict = "dead"
                if verdict == "delivered":
                    message.status = "delivered"
                    message.delivered_at = now
                elif verdict == "dead":
                    message.status = "dead"
                else:
                    message.next_attempt_at = now + self._backoff(message.attempts)
                self._log(session, message, verdict, now, subjects)
                applied.append(verdict)
        return applied

    def _backoff(self, attempts: int) -> dt.timedelta:
        delay = min(
            self._settings.delivery_backoff_seconds * 2 ** (attempts - 1), self._settings.delivery_backoff_cap_seconds
        )
        return dt.timedelta(seconds=delay * _jitter.uniform(0.9, 1.1))  # so that failed batches do not return as one

    @staticmethod
    def _log(
        session: Session, message: OutboxMessage, verdict: Verdict, now: dt.datetime, subjects: Mapping[int, Subject]
    ) -> None:
        if message.kind != "bureau" or message.request_id is None or verdict == "retry":
            return
        request = subjects[message.request_id]
        if verdict == "delivered":
            data: dict[str, Any] = {"bureau": message.target, "attempts": message.attempts, "message": message.id}
            history.record(session, request, "delivered", "system", data, now)
        else:
            data = {"bureau": message.target, "attempts": message.attempts, "error": message.last_error}
            history.record(session, request, "delivery_dead", "system", data, now)

    def _release(self, claims: list[_Claim]) -> None:
        now = self._clock.now()
        with self._sessions.begin() as session:
            session.execute(
                update(OutboxMessage)
                .where(
                    OutboxMessage.id.in_([c.id for c in claims]),
                    OutboxMessage.status == "pending",
                    OutboxMessage.next_attempt_at == claims[0].lease_until,
                )
                .values(next_attempt_at=now)
            )


@dataclass(frozen=True)
class _Received:
    """A request as its receiver saw it, in the shape the verifier reads."""

    method: str
    url: str
    headers: Mapping[str, str]


class _Verifier(HTTPMessageVerifier):
    """HMAC-SHA256 with the given secrets, judging signature times by ``now`` rather than the system clock."""

    def __init__(self, secrets: Mapping[str, bytes], now: dt.datetime) -> None:
        super().__init__(
            signature_algorithm=HMAC_SHA256,
            key_resolver=MappingKeyResolver(public_keys=secrets, private_keys={}),
        )
        self._now = now

    def validate_created_and_expires(self, sig_input: Any, max_age: dt.timedelta | None = None) -> None:
        created = self._time(sig_input.params, "created")
        expires = self._time(sig_input.params, "expires")
        if created is None:
            raise InvalidSignature('the signature has no "created" time')
        if created > self._now + self.max_clock_skew:
            raise InvalidSignature(f"the signature was created in the future ({created:%Y-%m-%d %H:%M:%S}Z)")
        if expires is not None and expires < self._now - self.max_clock_skew:
            raise InvalidSignature(f"the signature expired at {expires:%Y-%m-%d %H:%M:%S}Z")
        if max_age is not None and created + max_age < self._now - self.max_clock_skew:
            raise InvalidSignature(f"the signature is older than {max_age} (created {created:%Y-%m-%d %H:%M:%S}Z)")

    @staticmethod
    def _time(params: Mapping[str, object], name: str) -> dt.datetime | None:
        value = params.get(name)
        if value is None:
            return None
        if type(value) is not int:
            raise InvalidSignature(f'the signature parameter "{name}" is not an integer')
        try:
            return dt.datetime.fromtimestamp(value, dt.UTC)
        except (OverflowError, OSError, ValueError):
            raise InvalidSignature(f'the signature parameter "{name}" is out of range') from None


def _check_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Invalid(f"{url!r} is not an http(s) URL")


def _short(text: str) -> str:
    """One line of at most ERROR_CHARS characters, for ``last_error`` and the log."""
    line = re.sub(r"\s+", " ", text).strip()
    return line if len(line) <= ERROR_CHARS else line[: ERROR_CHARS - 1] + "…"
