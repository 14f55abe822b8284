"""Administration of organisations, users and posts, for holders of the admin post. A post other than staff is
asked for by one administrator and granted when a second approves it (``/grant-requests``)."""

from __future__ import annotations

from fastapi import APIRouter, Response

from api.deps import PrincipalDep, ReadSessionDep, RowId, RuntimeDep, SessionDep
from api.schemas import EndGrantIn, GrantIn, GrantOut, OrganisationIn, OrganisationOut, UserIn, UserOut
from api.schemas_admin import GrantRequestOut
from identity import admin, grant_requests
from identity.models import GrantRequest, Organisation, PostGrant, User

router = APIRouter(prefix="/api/v1/admin", tags=["admin"])


def _org(org: Organisation, depth: int = 0) -> OrganisationOut:
    parent = org.parent.code if org.parent else None
    return OrganisationOut(code=org.code, name=org.name, kind=org.kind, parent=parent, uscc=org.uscc, depth=depth)


def _user(user: User) -> UserOut:
    home = user.home_organisation.code if user.home_organisation else None
    return UserOut(username=user.username, display_name=user.display_name, active=user.active, home=home)


def _grant(grant: PostGrant) -> GrantOut:
    return GrantOut(
        id=grant.id,
        post=grant.post,
        organisation=grant.organisation.code,
        valid_from=grant.valid_from,
        valid_until=grant.valid_until,
    )


def _asked(asked: GrantRequest) -> GrantRequestOut:
    return GrantRequestOut(
        id=asked.id,
        username=asked.user.username,
        post=asked.post,
        organisation=asked.organisation.code,
        valid_from=asked.valid_from,
        valid_until=asked.valid_until,
        state=grant_requests.State(asked.state),
        requested_at=asked.requested_at,
        decided_at=asked.decided_at,
        grant=asked.grant_id,
    )


@router.get("/organisations", response_model=list[OrganisationOut])
def organisations(who: PrincipalDep, session: SessionDep) -> list[OrganisationOut]:
    return [_org(org, depth) for depth, org in admin.list_organisations(session, who)]


@router.post("/organisations", response_model=OrganisationOut, status_code=201)
def add_organisation(body: OrganisationIn, who: PrincipalDep, rt: RuntimeDep, session: SessionDep) -> OrganisationOut:
    org = admin.add_organisation(
        session,
        who,
        code=body.code,
        name=body.name,
        kind=body.kind,
        parent=body.parent,
        uscc=body.uscc,
        now=rt.clock.now(),
    )
    return _org(org)


@router.post("/users", response_model=UserOut, status_code=201)
def add_user(body: UserIn, who: PrincipalDep, rt: RuntimeDep, session: SessionDep) -> UserOut:
    created = admin.add_user(
        session,
        who,
        username=body.username,
        display_name=body.display_name,
        password=body.password,
        home=body.home,
        now=rt.clock.now(),
    )
    return _user(created)


@router.get("/users/{username}/posts", response_model=list[GrantOut])
def grants(username: str, who: PrincipalDep, rt: RuntimeDep, session: SessionDep) -> list[GrantOut]:
    return [_grant(g) for g in admin.grants_of(session, who, username, rt.clock.now())]


@router.post(
    "/users/{username}/posts",
    response_model=GrantOut | GrantRequestOut,
    status_code=201,
    responses={202: {"model": GrantRequestOut, "description": "Asked for: a second administrator must approve it"}},
)
def grant(
    username: str, body: GrantIn, who: PrincipalDep, rt: RuntimeDep, session: SessionDep, response: Response
) -> GrantOut | GrantRequestOut:
    """A staff post is granted at once (201); any other post waits for a second administrator (202)."""
    created = admin.grant(
        session,
        who,
        username=username,
        post=body.post,
        organisation=body.organisation,
        valid_from=body.valid_from or rt.clock.now(),
        valid_until=body.valid_until,
        now=rt.clock.now(),
    )
    if isinstance(created, GrantRequest):
        response.status_code = 202
        return _asked(created)
    return _grant(created)


@router.get("/grant-requests", response_model=list[GrantRequestOut])
def grant_request_list(
    who: PrincipalDep, rt: RuntimeDep, session: ReadSessionDep, state: grant_requests.State | None = None
) -> list[GrantRequestOut]:
    """Posts asked for in the organisations the caller administers (by default those still waiting)."""
    return [_asked(a) for a in admin.grant_requests_of(session, who, rt.clock.now(), state)]


@router.post("/grant-requests/{request_id}/approve", response_model=GrantRequestOut)
def approve_grant(request_id: RowId, who: PrincipalDep, rt: RuntimeDep, session: SessionDep) -> GrantRequestOut:
    """The second administrator's approval: the post is granted."""
    return _asked(admin.decide(session, who, request_id=request_id, approve=True, now=rt.clock.now()))


@router.post("/grant-requests/{request_id}/reject", response_model=GrantRequestOut)
def reject_grant(request_id: RowId, who: PrincipalDep, rt: RuntimeDep, session: SessionDep) -> GrantRequestOut:
    return _asked(admin.decide(session, who, request_id=request_id, approve=False, now=rt.clock.now()))


@router.post("/users/{username}/posts/{grant_id}/end", response_model=GrantOut)
def end_grant(
    username: str, grant_id: RowId, body: EndGrantIn, who: PrincipalDep, rt: RuntimeDep, session: SessionDep
) -> GrantOut:
    now = rt.clock.now()
    ended = admin.end_grant(session, who, username=username, grant_id=grant_id, at=body.at or now, now=now)
    return _grant(ended)


@router.post("/users/{username}/disable", response_model=UserOut)
def disable(username: str, who: PrincipalDep, rt: RuntimeDep, session: SessionDep) -> UserOut:
    return _user(admin.set_active(session, who, username=username, active=False, now=rt.clock.now()))


@router.post("/users/{username}/enable", response_model=UserOut)
def enable(username: str, who: PrincipalDep, rt: RuntimeDep, session: SessionDep) -> UserOut:
    return _user(admin.set_active(session, who, username=username, active=True, now=rt.clock.now()))
