"""Bodies of the seal machine API: machines, their terminals' calls, and alarms. Binary values are base64."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field

from api.schemas import Strict

MACHINE_ID = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"


class SlotIn(Strict):
    slot: int = Field(ge=1, le=16)
    seal: int = Field(ge=1, description="the id of a physical seal of the organisation")


class MachineIn(Strict):
    id: str = Field(pattern=MACHINE_ID, examples=["shuinan-1"])
    organisation: str = Field(min_length=1, max_length=64, examples=["yazhou.shuinan"])
    name: str = Field(min_length=1, max_length=100, examples=["水南村用印机"])
    slots: list[SlotIn] = Field(min_length=1, max_length=16)
    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)
    radius_m: int = Field(default=200, ge=10, le=10_000, description="how far from its place it may stamp")
    custodians: list[str] = Field(min_length=2, max_length=2, description="the two custodians who keep it")


class ReasonIn(Strict):
    reason: str = Field(min_length=1, max_length=500)


class MachineOut(BaseModel):
    id: str
    organisation: str
    name: str
    status: str
    latitude: float
    longitude: float
    radius_m: int
    custodians: list[str]
    slots: list[SlotIn]
    epoch: int
    certificate_serial: str | None
    last_counter: int
    last_seen_at: dt.datetime | None


class EnrolmentCodeOut(BaseModel):
    machine: str
    enrolment_code: str
    expires_at: dt.datetime


class RegisteredOut(MachineOut):
    enrolment_code: str
    enrolment_expires_at: dt.datetime


class EpochOut(BaseModel):
    machine: str
    epoch: int
    cancelled: list[str]


class EnrolIn(Strict):
    code: str = Field(min_length=1, max_length=64)
    csr: str = Field(min_length=1, max_length=8192, description="PKCS#10, DER, base64")


class EnrolledOut(BaseModel):
    certificate: str
    chain: list[str]
    credential: str


class AuthorisationOut(BaseModel):
    id: str
    request: str
    uses: int
    not_after: dt.datetime
    cose: str


class AuthorisationsOut(BaseModel):
    machine: str
    epoch: int
    epoch_notice: str | None = Field(description="the signed epoch notice, base64; none at epoch 0")
    authorisations: list[AuthorisationOut]


class EventsIn(Strict):
    events: list[str] = Field(min_length=1, max_length=10_000, description="COSE_Sign1 events, base64")


class EventResult(BaseModel):
    counter: int | None
    status: str
    reason: str | None
    alarms: list[str]


class EventsOut(BaseModel):
    results: list[EventResult]


class PhotoOut(BaseModel):
    sha256: str
    counter: int


class AlarmOut(BaseModel):
    id: int
    machine: str
    code: str
    source: str
    detail: str
    authorisation: str | None
    raised_at: dt.datetime
    acknowledged_at: dt.datetime | None
    acknowledged_by: str | None
    comment: str | None


class AcknowledgeIn(Strict):
    comment: str = Field(min_length=1, max_length=1000)
