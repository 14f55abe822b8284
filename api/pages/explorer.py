"""The log explorer: the latest checkpoint, and an entry by index with its inclusion proof."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
