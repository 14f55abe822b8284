"""Why a backup or a restore stopped; each says in one line what to do, and nothing was left half done."""

from __future__ import annotations

from core.errors import Invalid


class BackupRefused(Invalid):
    problem = "backup-refused"


class BackupDamaged(Invalid):
    """A backup that is not exactly what it was when taken: restoring it could lose or invent records."""

    problem = "backup-damaged"


class RestoreRefused(Invalid):
    """A restore that would overwrite or mix with what is there, or fork the log: it changes nothing."""

    problem = "restore-refused"
