"""The electronic executor draws the seal its request names as the catalogue describes the seal's kind: a
special-purpose seal (财务专用章) with its purpose line under the star, an official seal without one."""

from __future__ import annotations

import copy
import io
from collections.abc import Iterator
from typing import Any

import pikepdf
import pytest
from fastapi.testclient import TestClient

from api import create_app
from ca import hierarchy, seals
from identity import directory
from tests.workflow.conftest import CATALOG, Village, login
from tests.workflow.test_review import decide, submit
from workflow import catalogs

NAME = "三亚市崖州区水南村村民委员会"


@pytest.fixture
def client(village: Village) -> Iterator[TestClient]:
    """The app with the service's own electronic executor; 水南村 has an official and a finance seal."""
    runtime = village.runtime
    now = runtime.clock.now()
    catalog: dict[str, Any] = copy.deepcopy(CATALOG)
    catalog["seals"]["village_finance"] = {
        "name": "村民委员会财务专用章",
        "purpose": "财务专用章",
        "forms": ["electronic", "physical"],
    }
    catalog["matters"][0]["seals"] = ["village_official", "village_finance"]
    with runtime.sessions() as session:
        catalogs.load(session, catalog, actor="test", now=now, note="a finance seal")
        directory.organisation(session, "yz.sn").uscc = "54460205C50121019D"
        hierarchy.initialise(session, runtime.keystore, runtime.settings, now, "test")
        authority = hierarchy.load(session, runtime.keystore)
        for kind in ("village_official", "village_finance"):
            seal = seals.add(session, "yz.sn", kind, seals.SealForm.ELECTRONIC, NAME, now, "test")
            seals.issue(session, runtime.keystore, authority, runtime.settings, seal, now, "test")
        session.commit()
    with TestClient(create_app(runtime), raise_server_exceptions=False) as test_client:
        yield test_client


def drawn_fills(client: TestClient, kind: str) -> int:
    """The filled paths of the seal drawn on the request's sealed document: one per character, one for the star."""
    rid = submit(client, seal=kind).json()["id"]
    for who, level in (("leader", 1), ("secretary", 2), ("sealadmin", 3)):
        assert decide(client, who, rid, level).status_code == 200
    client.app.state.workers.once()  # type: ignore[attr-defined]
    sealed = client.get(f"/api/v1/requests/{rid}/document", headers=login(client, "resident"))
    assert sealed.status_code == 200, sealed.text
    with pikepdf.open(io.BytesIO(sealed.content)) as pdf:
        (field,) = [f for f in pdf.Root.AcroForm.Fields if f.T == "Seal1"]  # not the document timestamp's
        art = field.AP.N.Resources.XObject.SealgateSeal.read_bytes()
    return art.split().count(b"f")


def test_only_the_special_purpose_kind_draws_its_purpose(client: TestClient) -> None:
    assert drawn_fills(client, "village_official") == len(NAME) + 1
    assert drawn_fills(client, "village_finance") == len(NAME) + 1 + len("财务专用章")
