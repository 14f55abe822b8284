"""The installed distribution's version, read from its metadata (pyproject.toml is the one place it is written)."""

from __future__ import annotations

from importlib import metadata

VERSION = metadata.version("sealgate")
