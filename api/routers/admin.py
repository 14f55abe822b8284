"""Administration of organisations, users and posts, for holders of the admin post."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import PrincipalDep, RuntimeDep, SessionDep
from api.schemas import EndGrantIn, GrantIn, GrantOut, OrganisationIn, OrganisationOut, UserIn, UserOut
from identity import admin
from identity.models import Organisation, PostGrant, User

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
def grants(username: str, who: PrincipalDep, session: SessionDep) -> list[GrantOut]:
    return [_grant(g) for g in admin.grants_of(session, who, username)]


@router.post("/users/{username}/posts", response_model=GrantOut, status_code=201)
def grant(username: str, body: GrantIn, who: PrincipalDep, rt: RuntimeDep, session: SessionDep) -> GrantOut:
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
    return _grant(created)


@router.post("/users/{username}/posts/{grant_id}/end", response_model=GrantOut)
def end_grant(
    username: str, grant_id: int, body: EndGrantIn, who: PrincipalDep, rt: RuntimeDep, session: SessionDep
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
