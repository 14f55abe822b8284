"""The completeness checks of every app, run by ``sealgate log audit``."""

from __future__ import annotations

from identity.logcheck import missing_entries
from ledger.audit import Check

CHECKS: tuple[Check, ...] = (missing_entries,)
