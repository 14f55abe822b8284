"""Custodians and seal administrators at the seal machines: machines, outstanding authorisations, alarms, stamps
of the day."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
