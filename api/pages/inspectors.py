"""Inspectors: overdue steps, alarms, stamps outside office hours, quick approvals, and requests counted as charts."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
