"""The completeness checks of every app, run by ``sealgate log audit``."""

from __future__ import annotations

from ca.logcheck import missing_entries as certificates
from identity.logcheck import missing_entries as identities
from ledger.audit import Check
from physical_seal.logcheck import missing_entries as machines
from signer.logcheck import missing_entries as sealings
from workflow.logcheck import missing_entries as requests

CHECKS: tuple[Check, ...] = (identities, certificates, machines, sealings, requests)
