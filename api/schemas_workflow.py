"""Bodies of the workflow API: requests, decisions, delegations, notifications, the catalogue."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, Field

from api.schemas import Strict
from identity.posts import Post
from workflow.catalog import SealForm


class RequestIn(Strict):
    matter: str = Field(min_length=1, max_length=64, examples=["agri.winter-vegetable-subsidy"])
    organisation: str = Field(min_length=1, max_length=64, examples=["yazhou.shuinan"])
    group: str | None = Field(default=None, max_length=64)
    applicant: str | None = Field(default=None, max_length=64, description="a resident staff submit for")
    seal: str = Field(min_length=1, max_length=40, examples=["village_official"])
    seal_form: SealForm
    copies: int = Field(default=1, ge=1, le=100, description="用章次数")
    place: str = Field(default="", max_length=200, description="用章地点")
    purpose: str = Field(min_length=1, max_length=2000, description="用章事由")
    form: dict[str, Any] = Field(default_factory=dict)


class DecisionIn(Strict):
    decision: Literal["approve", "reject", "return"]
    level: int = Field(ge=1, le=8, description="the level being decided; a level already decided is a conflict")
    comment: str = Field(default="", max_length=2000)
    to_level: int | None = Field(default=None, ge=0, le=7, description="for return: 0 = the applicant")


class WithdrawIn(Strict):
    reason: str = Field(default="", max_length=2000)


class ResubmitIn(Strict):
    form: dict[str, Any] | None = None
    purpose: str | None = Field(default=None, min_length=1, max_length=2000)


class Named(BaseModel):
    code: str
    name: str


class MatterRef(Named):
    class_: str = Field(alias="class")


class StepOut(BaseModel):
    round: int
    level: int
    label: str
    mode: str
    started_at: dt.datetime
    due_at: dt.datetime
    finished_at: dt.datetime | None
    outcome: str | None
    seconds: int
    overdue: bool


class DecisionOut(BaseModel):
    round: int
    level: int
    decision: str
    by: str
    on_behalf_of: str | None
    to_level: int | None
    comment: str
    decided_at: dt.datetime
    superseded: bool


class DocumentRef(BaseModel):
    sha256: str
    source: str
    url: str | None = Field(description="where the viewer downloads it; null to a viewer who may not take it")


class RequestOut(BaseModel):
    id: int
    number: str | None
    record: str | None = Field(
        description="the public record's unguessable link, which its sealed document's QR code carries: for the "
        "applicant (and who submitted it) to share; null for everyone else"
    )
    matter: MatterRef
    organisation: Named
    group: Named | None
    applicant: str
    submitted_by: str
    seal: str
    seal_form: str
    copies: int
    place: str
    purpose: str
    form: dict[str, Any]
    document: DocumentRef
    state: str
    level: int | None
    level_label: str | None
    round: int
    created_at: dt.datetime
    updated_at: dt.datetime
    finished_at: dt.datetime | None
    failure: str | None
    steps: list[StepOut]
    decisions: list[DecisionOut]


class RequestRow(BaseModel):
    """A request as one line of a list: enough to find it again, nothing of what the applicant filled in."""

    id: int
    number: str | None
    matter: Named
    organisation: Named
    seal: str
    seal_form: str
    state: str
    level: int | None
    level_label: str | None = Field(description="the open level's label, while one is open")
    due_at: dt.datetime | None = Field(description="when the open level is due")
    created_at: dt.datetime
    updated_at: dt.datetime


class RequestPage(BaseModel):
    items: list[RequestRow]
    total: int = Field(description="how many requests match, on every page")
    page: int
    size: int


class DecidedOut(BaseModel):
    """What a decision did; GET the request for the whole of it."""

    id: int
    number: str | None
    state: str
    level: int | None
    round: int
    decision: DecisionOut


class InboxItem(BaseModel):
    id: int
    number: str | None
    matter: str
    organisation: str
    level: int
    label: str
    mode: str
    started_at: dt.datetime
    due_at: dt.datetime
    overdue: bool


class OverdueOut(BaseModel):
    id: int
    number: str
    matter: str
    organisation: str
    level: int
    label: str
    started_at: dt.datetime
    due_at: dt.datetime
    elapsed_seconds: int
    limit_seconds: int
    approvers: list[str]
    warned: bool


class NotificationOut(BaseModel):
    id: int
    kind: str
    title: str
    body: str
    request_id: int | None
    created_at: dt.datetime
    read_at: dt.datetime | None


class DelegationIn(Strict):
    post: Post
    organisation: str
    deputy: str
    valid_from: AwareDatetime | None = None
    valid_until: AwareDatetime


class DelegationOut(BaseModel):
    id: int
    post: str
    organisation: str
    holder: str
    deputy: str
    valid_from: dt.datetime
    valid_until: dt.datetime
    ended_at: dt.datetime | None


class MatterSummary(BaseModel):
    code: str
    name: str
    class_: str = Field(alias="class")
    seals: list[str]
    forms: list[str]
    destination: str | None
    has_template: bool


class MatterDetail(MatterSummary):
    description: str
    basis: str | None
    chain: list[dict[str, Any]]
    form: dict[str, Any]
    prefill: dict[str, Any]


class NegativeOut(BaseModel):
    code: str
    name: str
    rule: str
    reason: str
