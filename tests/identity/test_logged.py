"""Who holds which post when is in the log: every identity change is an entry, names only as commitments."""

from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import delete, insert, select

from core.runtime import Runtime
from identity import auth, directory, grant_requests
from identity.logcheck import missing_entries
from identity.models import Organisation
from identity.posts import OrgKind, Post
from ledger.models import Entry, PendingEntry, PersonalDatum
from ledger.service import LogService
from tests.conftest import T0


def test_identity_changes_are_entries(runtime: Runtime, log: LogService) -> None:
    later = T0 + dt.timedelta(days=3)
    with runtime.sessions() as s:
        directory.create_organisation(
            s,
            code="yz",
            name="崖州区",
            kind=OrgKind.DISTRICT,
            parent_code=None,
            uscc_code=None,
            now=T0,
            actor="cli:root",
        )
        directory.create_organisation(
            s,
            code="yz.sn",
            name="水南村",
            kind=OrgKind.VILLAGE,
            parent_code="yz",
            uscc_code=None,
            now=T0,
            actor="cli:root",
        )
        directory.create_user(
            s,
            username="chen",
            display_name="陈明德",
            password="chen-pass-1",
            home_code="yz.sn",
            now=T0,
            actor="cli:root",
        )
        directory.grant_post(
            s, username="chen", org_code="yz.sn", post=Post.SECRETARY, valid_from=T0, now=T0, actor="cli:root"
        )
        directory.end_post(
            s, username="chen", org_code="yz.sn", post=Post.SECRETARY, at=later, now=later, actor="cli:root"
        )
        directory.set_active(s, "chen", False, later, "user:admin")
        s.commit()
    log.integrator.run_until_idle()
    with runtime.sessions() as s:
        entries = [json.loads(body) for body in s.scalars(select(Entry.body).order_by(Entry.idx))]
        name_commitment = s.scalars(select(PersonalDatum.commitment).where(PersonalDatum.value == "陈明德")).one()
        assert list(missing_entries(s)) == []
    assert [(e["type"], e["subject"]) for e in entries] == [
        ("org.created", "org:yz"),
        ("org.created", "org:yz.sn"),
        ("user.created", "user:chen"),
        ("post.granted", "org:yz.sn"),
        ("post.ended", "org:yz.sn"),
        ("user.disabled", "user:chen"),
    ]
    assert entries[3]["data"] == {
        "user": "chen",
        "post": "secretary",
        "from": "2026-11-02T09:00:00.000Z",
        "until": None,
    }
    assert entries[4]["prev"] is not None
    assert entries[2]["data"]["name"] == name_commitment
    assert all("陈明德" not in json.dumps(e, ensure_ascii=False) for e in entries)
    assert entries[5]["actor"] == "user:admin"


def test_a_row_that_bypassed_the_log_is_found(runtime: Runtime, log: LogService) -> None:
    with runtime.sessions() as s:
        s.execute(insert(Organisation).values(code="ghost", name="幽灵村", kind="village", created_at=T0))
        s.commit()
        assert list(missing_entries(s)) == ["organisation ghost has no org.created entry"]


def test_a_post_asked_for_and_decided_is_in_the_log(runtime: Runtime, log: LogService) -> None:
    with runtime.sessions() as s:
        directory.create_organisation(
            s, code="yz", name="崖州区", kind=OrgKind.DISTRICT, parent_code=None, uscc_code=None, now=T0, actor="cli"
        )
        for username in ("admin", "admin2", "chen"):
            directory.create_user(
                s, username=username, display_name=username, password="pass-word-1", home_code=None, now=T0, actor="cli"
            )
        for username in ("admin", "admin2"):
            directory.grant_post(
                s, username=username, org_code="yz", post=Post.ADMIN, valid_from=T0, now=T0, actor="cli"
            )
        asker, approver = (auth.principal_of(s, directory.user(s, u), T0) for u in ("admin", "admin2"))
        asked = grant_requests.ask(
            s, asker, username="chen", post=Post.INSPECTOR, organisation="yz", valid_from=T0, valid_until=None, now=T0
        )
        grant_requests.approve(s, approver, asked.id, T0)
        s.commit()
        assert list(missing_entries(s)) == []
        s.execute(delete(PendingEntry).where(PendingEntry.type == "post.grant.approved"))
        s.execute(delete(Entry).where(Entry.type == "post.grant.approved"))
        assert list(missing_entries(s)) == [f"post grant request {asked.id} has no post.grant.approved entry"]
