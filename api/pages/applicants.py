"""A request's applicant: my requests, a new request from the matter's form, a request's timeline, resubmit and
withdraw."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
