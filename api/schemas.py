"""Response and request bodies of the API; requests forbid unknown fields."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from identity.posts import OrgKind, Post


class Strict(BaseModel):
    """A request body: unknown fields are refused, and so are NaN and the infinities anywhere in it, also inside
    free-form parts such as a matter's form, which JSON cannot carry and the log's canonical JSON cannot write."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    @field_validator("*", mode="after")
    @classmethod
    def _finite(cls, value: Any) -> Any:
        if not finite(value):
            raise ValueError("NaN and infinite numbers are not accepted")
        return value


def finite(value: Any) -> bool:
    """Whether no number in ``value`` (nested in lists and mappings) is NaN or infinite."""
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(finite(v) for v in value.values())
    if isinstance(value, list | tuple):
        return all(finite(v) for v in value)
    return True


class TokenOut(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int
    expires_at: dt.datetime


class PostOut(BaseModel):
    post: str
    organisation: str
    organisation_name: str
    since: dt.datetime
    until: dt.datetime | None


class MeOut(BaseModel):
    username: str
    display_name: str
    posts: list[PostOut]


class Health(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    status: Literal["ready"]
    database: str
    keystore: str


class OrganisationIn(Strict):
    code: str = Field(min_length=1, max_length=64, examples=["yazhou.shuinan.g3"])
    name: str = Field(min_length=1, max_length=200, examples=["水南村第三村民小组"])
    kind: OrgKind
    parent: str = Field(min_length=1, max_length=64)
    uscc: str | None = Field(default=None, min_length=18, max_length=18)


class OrganisationOut(BaseModel):
    code: str
    name: str
    kind: str
    parent: str | None
    uscc: str | None
    depth: int


class UserIn(Strict):
    username: str = Field(min_length=2, max_length=64)
    display_name: str = Field(min_length=1, max_length=100)
    password: str = Field(min_length=1, max_length=1024)
    home: str | None = None


class UserOut(BaseModel):
    username: str
    display_name: str
    active: bool
    home: str | None


class GrantIn(Strict):
    post: Post
    organisation: str = Field(min_length=1, max_length=64)
    valid_from: AwareDatetime | None = None
    valid_until: AwareDatetime | None = None


class GrantOut(BaseModel):
    id: int
    post: str
    organisation: str
    valid_from: dt.datetime
    valid_until: dt.datetime | None


class EndGrantIn(Strict):
    at: AwareDatetime | None = None
