"""Bodies of the administrators' API for posts asked for and decided on by two administrators."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel

from identity.grant_requests import State


class GrantRequestOut(BaseModel):
    """A post asked for by one administrator; held once a second approves it (``grant`` then names the grant)."""

    id: int
    username: str
    post: str
    organisation: str
    valid_from: dt.datetime
    valid_until: dt.datetime | None
    state: State
    requested_at: dt.datetime
    decided_at: dt.datetime | None
    grant: int | None
