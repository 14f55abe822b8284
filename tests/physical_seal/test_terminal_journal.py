"""The terminal's journal: uploads in counter order, nothing lost across a restart, photos after their events."""

import stat
from pathlib import Path

import pytest

from physical_seal.terminal.journal import Journal


def _events(*counters: int, kind: str = "alarm") -> list[tuple[int, bytes, str]]:
    return [(c, f"event {c}".encode(), kind) for c in counters]


def test_events_come_out_in_counter_order_and_must_follow_the_last(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite")
    journal.add_events(_events(1, 2))
    journal.add_events(_events(3, 5))
    assert journal.last_counter() == 5
    assert [c for c, _ in journal.pending_events(3)] == [1, 2, 3]
    with pytest.raises(ValueError, match="does not follow"):
        journal.add_events(_events(6, 4))
    with pytest.raises(ValueError, match="does not follow"):
        journal.add_events(_events(5))
    assert journal.last_counter() == 5
    journal.mark_event(1, "uploaded", {"status": "accepted"})
    journal.mark_event(2, "refused", {"status": "refused"})
    assert [c for c, _ in journal.pending_events(10)] == [3, 5]
    counts = journal.counts()
    assert (counts.read, counts.uploaded, counts.refused, counts.pending) == (4, 1, 1, 2)


def test_a_failed_batch_leaves_nothing_behind(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite")
    journal.add_events(_events(1))
    with pytest.raises(ValueError, match="does not follow"):
        journal.add_events(_events(2, 2))
    assert journal.last_counter() == 1
    assert journal.counts().read == 1


def test_a_reopened_journal_finds_its_pending_events_credential_and_request_numbers(tmp_path: Path) -> None:
    path = tmp_path / "state" / "j.sqlite"
    journal = Journal(path)
    journal.set_enrolment("secret", b"cert", [b"issuing", b"root"])
    journal.add_events(_events(1, 2, 3))
    journal.mark_event(1, "uploaded", {"status": "accepted"})
    journal.mark_authorisation("a" * 32, "loaded")
    assert [journal.take_rid() for _ in range(3)] == [1, 2, 3]
    journal.close()

    again = Journal(path)
    assert again.credential == "secret"
    assert again.pending_install() == (b"cert", [b"issuing", b"root"])
    again.installed()
    assert again.pending_install() is None
    assert again.last_counter() == 3
    assert again.pending_events(10) == [(2, b"event 2"), (3, b"event 3")]
    assert again.authorisation_outcome("a" * 32) == "loaded"
    assert again.authorisation_outcome("b" * 32) is None
    assert again.take_rid() == 4
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_photos_wait_for_their_event_to_be_uploaded(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite")
    journal.add_events([*_events(1, 2, kind="stamp"), *_events(3)])
    assert journal.photos_missing() == [1, 2]
    journal.add_photo(1, b"png 1")
    journal.add_photo(2, b"png 2")
    assert journal.photos_missing() == []
    assert journal.pending_photos() == []
    journal.mark_event(1, "uploaded", {"status": "accepted"})
    assert journal.pending_photos() == [(1, b"png 1")]
    journal.mark_photo(1, "uploaded", {"sha256": "x"})
    journal.mark_event(2, "uploaded", {"status": "duplicate"})
    assert journal.pending_photos() == [(2, b"png 2")]
    assert journal.counts().photos_pending == 1
