"""Organisations, users and posts in the database."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from core.errors import Conflict, Invalid, NotFound
from identity import directory
from identity.posts import OrgKind, Post
from identity.uscc import InvalidUSCC

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with Session(engine) as s:
        directory.create_organisation(
            s, code="yz", name="崖州区", kind=OrgKind.DISTRICT, parent_code=None, uscc_code=None, now=T0, actor="test"
        )
        directory.create_organisation(
            s, code="yz.sn", name="水南村", kind=OrgKind.VILLAGE, parent_code="yz", uscc_code=None, now=T0, actor="test"
        )
        directory.create_organisation(
            s,
            code="yz.sn.g1",
            name="水南一组",
            kind=OrgKind.GROUP,
            parent_code="yz.sn",
            uscc_code=None,
            now=T0,
            actor="test",
        )
        directory.create_user(
            s, username="chen", display_name="陈明德", password="pass-word-1", home_code=None, now=T0, actor="test"
        )
        s.commit()
        yield s
        s.rollback()


def test_hierarchy_rules(session: Session) -> None:
    with pytest.raises(Invalid, match="a group sits under community or village, not under district"):
        directory.create_organisation(
            session, code="bad", name="x", kind=OrgKind.GROUP, parent_code="yz", uscc_code=None, now=T0, actor="test"
        )
    with pytest.raises(Invalid, match="not under nothing"):
        directory.create_organisation(
            session, code="bad", name="x", kind=OrgKind.VILLAGE, parent_code=None, uscc_code=None, now=T0, actor="test"
        )
    with pytest.raises(NotFound):
        directory.create_organisation(
            session,
            code="bad",
            name="x",
            kind=OrgKind.VILLAGE,
            parent_code="nowhere",
            uscc_code=None,
            now=T0,
            actor="test",
        )
    with pytest.raises(Conflict):
        directory.create_organisation(
            session,
            code="yz.sn",
            name="x",
            kind=OrgKind.VILLAGE,
            parent_code="yz",
            uscc_code=None,
            now=T0,
            actor="test",
        )
    with pytest.raises(Invalid, match="organisation code"):
        directory.create_organisation(
            session,
            code="Bad Code",
            name="x",
            kind=OrgKind.VILLAGE,
            parent_code="yz",
            uscc_code=None,
            now=T0,
            actor="test",
        )


def test_uscc_is_checked_and_unique(session: Session) -> None:
    with pytest.raises(InvalidUSCC):
        directory.create_organisation(
            session,
            code="bl",
            name="北岭村",
            kind=OrgKind.VILLAGE,
            parent_code="yz",
            uscc_code="91350203M0001QAY9B",
            now=T0,
            actor="test",
        )
    directory.create_organisation(
        session,
        code="bl",
        name="北岭村",
        kind=OrgKind.VILLAGE,
        parent_code="yz",
        uscc_code="91350100M000100Y43",
        now=T0,
        actor="test",
    )
    with pytest.raises(Conflict, match="belongs to another"):
        directory.create_organisation(
            session,
            code="cx",
            name="城西村",
            kind=OrgKind.VILLAGE,
            parent_code="yz",
            uscc_code="91350100M000100Y43",
            now=T0,
            actor="test",
        )


def test_posts_fit_their_organisation(session: Session) -> None:
    with pytest.raises(Invalid, match="group_leader belongs to a group"):
        directory.grant_post(
            session, username="chen", org_code="yz.sn", post=Post.GROUP_LEADER, valid_from=T0, now=T0, actor="test"
        )
    grant = directory.grant_post(
        session, username="chen", org_code="yz.sn", post=Post.SECRETARY, valid_from=T0, now=T0, actor="test"
    )
    assert grant.active_at(T0)


def test_who_held_a_post_when(session: Session) -> None:
    directory.create_user(
        session, username="lin", display_name="林春花", password="pass-word-2", home_code=None, now=T0, actor="test"
    )
    directory.grant_post(
        session, username="chen", org_code="yz.sn", post=Post.SECRETARY, valid_from=T0, now=T0, actor="test"
    )
    handover = T0 + dt.timedelta(days=30)
    directory.end_post(
        session, username="chen", org_code="yz.sn", post=Post.SECRETARY, at=handover, now=handover, actor="test"
    )
    directory.grant_post(
        session, username="lin", org_code="yz.sn", post=Post.SECRETARY, valid_from=handover, now=handover, actor="test"
    )

    before = T0 + dt.timedelta(days=1)
    after = handover + dt.timedelta(seconds=1)
    assert [u.username for u in directory.holders(session, "yz.sn", Post.SECRETARY, before)] == ["chen"]
    assert [u.username for u in directory.holders(session, "yz.sn", Post.SECRETARY, after)] == ["lin"]
    chen = directory.user(session, "chen")
    assert [p.post for p in directory.posts_of(session, chen.id, before)] == [Post.SECRETARY]
    assert directory.posts_of(session, chen.id, after) == []


def test_overlapping_grants_are_refused(session: Session) -> None:
    directory.grant_post(
        session,
        username="chen",
        org_code="yz.sn",
        post=Post.STAFF,
        valid_from=T0,
        valid_until=T0 + dt.timedelta(days=10),
        now=T0,
        actor="test",
    )
    with pytest.raises(Conflict):
        directory.grant_post(
            session,
            username="chen",
            org_code="yz.sn",
            post=Post.STAFF,
            valid_from=T0 + dt.timedelta(days=5),
            now=T0,
            actor="test",
        )
    later = directory.grant_post(
        session,
        username="chen",
        org_code="yz.sn",
        post=Post.STAFF,
        valid_from=T0 + dt.timedelta(days=10),
        now=T0,
        actor="test",
    )
    assert later.valid_until is None


def test_a_post_does_not_end_in_the_past(session: Session) -> None:
    """Ended back in time, a post would make the holder's decisions since look unauthorised: refused, a minute of
    clock difference allowed."""
    directory.grant_post(
        session, username="chen", org_code="yz.sn", post=Post.SECRETARY, valid_from=T0, now=T0, actor="test"
    )
    now = T0 + dt.timedelta(days=3)
    end = functools.partial(
        directory.end_post, session, username="chen", org_code="yz.sn", post=Post.SECRETARY, now=now, actor="cli"
    )
    with pytest.raises(Invalid, match="cannot end in the past"):
        end(at=T0 + dt.timedelta(days=1))
    ended = end(at=now - dt.timedelta(seconds=30))
    assert ended.valid_until == now - dt.timedelta(seconds=30)


def test_ending_a_post_nobody_holds(session: Session) -> None:
    with pytest.raises(NotFound):
        directory.end_post(
            session, username="chen", org_code="yz.sn", post=Post.SEAL_ADMIN, at=T0, now=T0, actor="test"
        )


def test_usernames_are_checked(session: Session) -> None:
    with pytest.raises(Invalid):
        directory.create_user(
            session, username="陈", display_name="陈", password="pass-word-1", home_code=None, now=T0, actor="test"
        )
    with pytest.raises(Conflict):
        directory.create_user(
            session, username="chen", display_name="x", password="pass-word-1", home_code=None, now=T0, actor="test"
        )
    with pytest.raises(Invalid, match="at least 8"):
        directory.create_user(
            session, username="short", display_name="x", password="abc", home_code=None, now=T0, actor="test"
        )


def test_tree_order(session: Session) -> None:
    tree = [(depth, org.code) for depth, org in directory.organisation_tree(session)]
    assert tree == [(0, "yz"), (1, "yz.sn"), (2, "yz.sn.g1")]


def test_the_last_administrator_of_an_organisation_stays(session: Session) -> None:
    """Also from the console: the post is granted to another first, then the first ends."""
    directory.create_user(
        session, username="lin", display_name="林", password="pass-word-2", home_code=None, now=T0, actor="test"
    )
    directory.grant_post(session, username="chen", org_code="yz", post=Post.ADMIN, valid_from=T0, now=T0, actor="cli")
    later = T0 + dt.timedelta(days=1)
    with pytest.raises(Conflict, match="last administrator"):
        directory.end_post(session, username="chen", org_code="yz", post=Post.ADMIN, at=later, now=later, actor="cli")
    directory.grant_post(session, username="lin", org_code="yz", post=Post.ADMIN, valid_from=T0, now=T0, actor="cli")
    directory.end_post(session, username="chen", org_code="yz", post=Post.ADMIN, at=later, now=later, actor="cli")
    with pytest.raises(Conflict, match="last administrator"):
        directory.end_post(session, username="lin", org_code="yz", post=Post.ADMIN, at=later, now=later, actor="cli")


def test_the_last_enabled_administrator_is_not_disabled(session: Session) -> None:
    """Disabling the account would leave the organisation as headless as ending the post."""
    directory.grant_post(session, username="chen", org_code="yz", post=Post.ADMIN, valid_from=T0, now=T0, actor="cli")
    with pytest.raises(Conflict, match="last administrator"):
        directory.set_active(session, "chen", False, T0, "cli")
    assert directory.user(session, "chen").active
    directory.create_user(
        session, username="lin", display_name="林", password="pass-word-2", home_code=None, now=T0, actor="test"
    )
    directory.grant_post(session, username="lin", org_code="yz", post=Post.ADMIN, valid_from=T0, now=T0, actor="cli")
    directory.set_active(session, "chen", False, T0, "cli")
    with pytest.raises(Conflict, match="last administrator") as refused:
        directory.set_active(session, "lin", False, T0, "cli")
    assert refused.value.extensions["rule"] == "last-administrator"


def test_an_account_records_the_administrator_who_made_it(session: Session) -> None:
    made = directory.create_user(
        session, username="lin", display_name="林", password="pass-word-2", home_code=None, now=T0, actor="user:chen"
    )
    by_cli = directory.create_user(
        session, username="fu", display_name="符", password="pass-word-3", home_code=None, now=T0, actor="cli:root"
    )
    assert made.created_by_id == directory.user(session, "chen").id
    assert by_cli.created_by_id is None
