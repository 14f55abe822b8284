"""Backups of a running service and their restore onto an empty machine: the database, the blob store, the
settings in force and the public parts of the CA and the log, with a manifest that names every file's SHA-256.

Files are named after the life of a backup: ``manifest`` (what a backup holds and how it is checked),
``database`` (a consistent snapshot of SQLite or PostgreSQL, and its restore), ``take`` and ``restore``.
"""
