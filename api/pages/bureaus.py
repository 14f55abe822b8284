"""Bureaus: the requests delivered to them, each openable and verifiable."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
