"""The log's share of an approval decision: the same decisions with the log append and with it replaced by a
no-op (in this process only), alternating in one run on one PostgreSQL database.

Each decision is a group leader approving level 1 of a demo residence-certificate request, ``review.decide``
and the COMMIT, as the HTTP route runs them, less HTTP and token lookup. The integrator runs in this process's
thread as `sealgate serve` runs it, so the log's side pays for sequencing and integrating its entries too.
"""

from __future__ import annotations

import statistics
import tempfile
from pathlib import Path
from unittest import mock

from bench import approvals
from bench.internals import alternate
from bench.ledger import _drop, _fresh_postgres
from ledger.append import Appended
from ledger.entry import Event
from ledger.service import LogService
from workflow import history

GOAL_SHARE = 0.10


def _no_log(session: object, event: Event, *, fresh: bool = False) -> Appended:
    """The append left out: nothing queued."""
    return Appended(event.id, duplicate=False)


def _spread(values: list[float], per: int) -> str:
    scale = 1e3 / per
    q1, median, q3 = statistics.quantiles(values, n=4)
    return f"{median * scale:.2f} ms [{q1 * scale:.2f}–{q3 * scale:.2f}]"


def rows(quick: bool) -> list[str]:
    what = "approval decision (`review.decide` + COMMIT, PostgreSQL, integrator running)"
    fresh = _fresh_postgres()
    if fresh is None:
        return [f"| {what} | not measured: no PostgreSQL reachable | |"]
    burst, rounds = (10, 6) if quick else (10, 80)
    admin_url, url = fresh
    try:
        with tempfile.TemporaryDirectory() as tmp:
            runtime = approvals.demo_runtime(url, Path(tmp) / "var")
            thread, stop = LogService.open(runtime).integrator.start()
            try:
                queue = iter(approvals.submitted(runtime, 2 * (rounds + 1) * burst))
                decide_burst = approvals.level_one_decisions(runtime, queue, burst)

                def unlogged() -> None:
                    with mock.patch.object(history, "append", _no_log):
                        decide_burst()

                logged, without = alternate(decide_burst, unlogged, rounds)
            finally:
                stop.set()
                thread.join()
                runtime.close()
    finally:
        _drop(admin_url, url)
    # Each burst with the log against the burst without it that ran just after: the machine's pace changes
    # from second to second, and a pair shares it.
    q1, median, q3 = (r - 1 for r in statistics.quantiles([a / b for a, b in zip(logged, without, strict=True)], n=4))
    verdict = "met" if median <= GOAL_SHARE else f"NOT met by {median - GOAL_SHARE:.0%} of a decision"
    return [
        f"| {what}, log append replaced by a no-op (baseline); median [quartiles] of {rounds} bursts of {burst} "
        f"| {_spread(without, burst)} | baseline |",
        f"| the same decisions with the log append, each burst beside the one without it that followed | "
        f"{_spread(logged, burst)} | log's share {median:+.1%} [{q1:+.1%} to {q3:+.1%}] (goal at most "
        f"{GOAL_SHARE:.0%}: {verdict}) |",
    ]
