"""The completeness checks of every app, run by ``sealgate log audit``."""

from __future__ import annotations

from identity.logcheck import missing_entries as identities
from ledger.audit import Check
from physical_seal.logcheck import missing_entries as machines

CHECKS: tuple[Check, ...] = (identities, machines)
