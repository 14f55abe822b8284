"""Response and request bodies of the API; requests forbid unknown fields."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from identity.posts import OrgKind, Post


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


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
