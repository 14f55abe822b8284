"""A seal is of a kind its organisation holds and is named after it; every seal kind of the shipped catalogue has
the kinds of organisation that hold it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from ca import seals
from core.errors import Invalid
from identity import directory
from identity.posts import OrgKind
from workflow import catalogs

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with Session(engine) as s:
        for code, name, kind, parent in [
            ("sy", "三亚市崖州区", OrgKind.DISTRICT, None),
            ("sy.t", "崖城镇", OrgKind.TOWNSHIP, "sy"),
            ("sy.t.bp", "保平村", OrgKind.VILLAGE, "sy.t"),
            ("sy.t.bp.g1", "保平村第一村民小组", OrgKind.GROUP, "sy.t.bp"),
            ("sy.agri", "崖州区农业农村局", OrgKind.BUREAU, "sy"),
        ]:
            directory.create_organisation(
                s, code=code, name=name, kind=kind, parent_code=parent, uscc_code=None, now=T0, actor="test"
            )
        yield s


def test_every_seal_kind_of_the_catalogue_has_its_holders() -> None:
    assert set(catalogs.read(catalogs.SHIPPED)["seals"]) == set(seals.HOLDERS)


@pytest.mark.parametrize(
    ("org", "kind", "name"),
    [
        ("sy.t.bp", "village_official", "保平村村民委员会"),
        ("sy.t.bp", "village_official", "三亚市崖州区崖城镇保平村村民委员会"),
        ("sy.t.bp", "village_finance", "三亚市崖州区保平村村民委员会财务专用章"),
        ("sy.t.bp", "cooperative", "崖城镇保平村股份经济合作社"),
        ("sy.t.bp.g1", "group_official", "三亚市崖州区崖城镇保平村第一村民小组"),
    ],
)
def test_a_seal_named_after_its_organisation(session: Session, org: str, kind: str, name: str) -> None:
    seals.check_fits(session, directory.organisation(session, org), kind, name)


@pytest.mark.parametrize(
    ("org", "kind", "name", "said"),
    [
        ("sy.t.bp", "village_official", "北岭村村民委员会", "begins with 保平村"),
        ("sy.t.bp", "village_official", "崖城镇村民委员会", "begins with 保平村"),
        ("sy.t.bp", "village_official", "崖城镇三亚市崖州区保平村", "begins with 保平村"),
        ("sy.t.bp", "group_official", "保平村村民小组", "belongs to a group"),
        ("sy.agri", "village_official", "崖州区农业农村局", "belongs to a community or village"),
        ("sy.t", "village_official", "崖城镇人民政府", "belongs to a community or village"),
        ("sy.t.bp", "committee", "保平村村民委员会", "not a seal kind"),
    ],
)
def test_a_seal_of_another_organisation_or_kind_is_refused(
    session: Session, org: str, kind: str, name: str, said: str
) -> None:
    with pytest.raises(Invalid, match=said):
        seals.check_fits(session, directory.organisation(session, org), kind, name)
