"""The audit's completeness check of the signer: a sealing is found in the log by its event id, and a sealing
whose entry is gone is named."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import delete

from core.runtime import Runtime
from ledger.models import PendingEntry
from ledger.service import LogService
from signer.logcheck import missing_entries
from tests.signer.test_sealing import make_bench, seal_once


def test_a_sealing_without_its_entry_is_named(runtime: Runtime, log: LogService, tmp_path: Path) -> None:
    bench = make_bench(runtime, tmp_path, "B-B")
    seal_once(bench)
    log.integrator.run_until_idle()  # one entry sequenced, the other still queued
    second = seal_once(bench)
    with runtime.sessions() as s:
        assert list(missing_entries(s)) == []
        s.execute(delete(PendingEntry).where(PendingEntry.event_id == second.event_id))
        assert list(missing_entries(s)) == [
            f"sealing {second.id} of request:1 has no seal.applied entry (event {second.event_id})"
        ]
