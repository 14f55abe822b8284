"""Approvers: the inbox, overdue first, deciding a request with the document shown, and delegations to a deputy."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
