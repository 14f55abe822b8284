"""Administrators: organisations, users and posts, seals and certificates, matters, machines, the outbox."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
