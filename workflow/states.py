"""The life of a seal request, as explicit states and the transitions allowed between them.

submitted -> in_review (level 1 .. n) -> approved -> executing -> completed | failed (-> approved again when
retried). A physical seal's request goes from executing to authorised when its machine's authorisation is issued,
back to executing at the first stamp, and ends completed (uses spent or closed by a custodian), expired (its window
passed) or failed (its authorisation revoked). A reviewer may reject, or
return the request to an earlier level or to the applicant (returned), who may resubmit it; the applicant may
withdraw it until the last approval. Anything else is a conflict with the request's state (HTTP 409).
"""

from __future__ import annotations

from enum import StrEnum

from core.errors import Conflict


class State(StrEnum):
    SUBMITTED = "submitted"
    IN_REVIEW = "in_review"
    APPROVED = "approved"
    EXECUTING = "executing"
    AUTHORISED = "authorised"
    COMPLETED = "completed"
    REJECTED = "rejected"
    RETURNED = "returned"
    WITHDRAWN = "withdrawn"
    FAILED = "failed"
    EXPIRED = "expired"


TRANSITIONS: dict[State, frozenset[State]] = {
    State.SUBMITTED: frozenset({State.IN_REVIEW}),
    State.IN_REVIEW: frozenset({State.IN_REVIEW, State.APPROVED, State.REJECTED, State.RETURNED, State.WITHDRAWN}),
    State.RETURNED: frozenset({State.IN_REVIEW, State.WITHDRAWN}),
    State.APPROVED: frozenset({State.EXECUTING}),
    State.EXECUTING: frozenset({State.COMPLETED, State.FAILED, State.AUTHORISED, State.EXPIRED}),
    State.AUTHORISED: frozenset({State.EXECUTING, State.COMPLETED, State.EXPIRED, State.FAILED}),
    State.FAILED: frozenset({State.APPROVED}),
    State.COMPLETED: frozenset(),
    State.REJECTED: frozenset(),
    State.WITHDRAWN: frozenset(),
    State.EXPIRED: frozenset(),
}

FINAL = frozenset(s for s, targets in TRANSITIONS.items() if not targets)


class StateConflict(Conflict):
    problem = "request-state"


def check(current: str, target: State, what: str) -> None:
    """Refuse ``what`` unless the request may go from its state to ``target``."""
    state = State(current)
    if target not in TRANSITIONS[state]:
        raise StateConflict(f"cannot {what} a request that is {state}", state=str(state))


def require(current: str, expected: State, what: str) -> None:
    """Refuse ``what`` unless the request is ``expected``. Moves that share a target are told apart by where they
    start: a retry and the last approval both lead to approved, a resubmission and a decision to in review."""
    if current != expected:
        raise StateConflict(f"cannot {what} a request that is {current}", state=current)
