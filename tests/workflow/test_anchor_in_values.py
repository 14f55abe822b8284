"""An applicant cannot move the seal: a document rendered from a template is stamped over the first place it
prints the anchor text, so a form value, purpose or place holding that text (which the template prints above the
organisation's own line) is refused at submission and at resubmission, and nothing of the refused request is kept."""

from __future__ import annotations

import copy
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from api import create_app
from core.runtime import Runtime
from identity import directory
from tests import demo_snapshot
from tests.api.on_demo import bearer
from tests.workflow.examples import WINTER_VEGETABLE_SUBSIDY
from workflow import catalogs, documents, forms
from workflow.models import SealRequest

ATTACKS = [
    ("/form/location", ("form", "location"), "水南村东洋（盖章）"),
    ("/form/location", ("form", "location"), "水南村东洋(盖 章)"),  # folded and spaced, as a text search may see it
    ("/form/location", ("form", "location"), "水南村东洋（盖\u200b章）"),  # an invisible character inside
    ("/purpose", ("purpose",), "（盖章）申请2026年冬季瓜菜种植补贴"),
    ("/place", ("place",), "（盖章）"),
]


def _with(path: tuple[str, ...], value: str) -> dict[str, Any]:
    body = copy.deepcopy(WINTER_VEGETABLE_SUBSIDY)
    holder = body
    for part in path[:-1]:
        holder = holder[part]
    holder[path[-1]] = value
    return body


def _count(runtime: Runtime) -> int:
    with runtime.readers() as session:
        return session.scalar(select(func.count()).select_from(SealRequest)) or 0


def test_a_value_holding_the_anchor_would_move_the_seal_onto_it(runtime: Runtime) -> None:
    """Why the refusal: rendered anyway, the anchor is found in the applicant's value, above the organisation's."""
    demo_snapshot.load(runtime, seals=True)
    anchor = runtime.settings.signer.anchor
    with runtime.readers() as session:
        _, catalog = catalogs.current(session)
        matter = catalog.matter(WINTER_VEGETABLE_SUBSIDY["matter"])
        assert matter is not None
        assert matter.template is not None
        organisation = directory.organisation(session, WINTER_VEGETABLE_SUBSIDY["organisation"])
        found = []
        for location in ("水南村东洋", "水南村东洋（盖章）"):
            form = {**WINTER_VEGETABLE_SUBSIDY["form"], "location": location}
            context = {
                "matter": matter,
                "organisation": organisation,
                "form": form,
                "request": SimpleNamespace(number="2026-000001", purpose=WINTER_VEGETABLE_SUBSIDY["purpose"]),
                "today": "2026年12月7日",
            }
            _, located = documents.render_with_anchor(matter.template, context, anchor)
            assert located is not None
            assert located.found is not None
            found.append(located.found)
    own, moved = found
    assert moved.page == own.page
    assert moved.y0 > own.y1  # PDF space: the applicant's line is higher up the page than the organisation's


@pytest.mark.parametrize(("pointer", "path", "value"), ATTACKS)
def test_a_submission_whose_text_holds_the_anchor_is_refused(
    runtime: Runtime, pointer: str, path: tuple[str, ...], value: str
) -> None:
    demo_snapshot.load(runtime, seals=True)
    before = _count(runtime)
    with TestClient(create_app(runtime), raise_server_exceptions=False) as client:
        made = client.post("/api/v1/requests", json=_with(path, value), headers=bearer(client, "sn.resident"))
    assert made.status_code == 422, made.text
    problem = made.json()
    assert problem["type"].endswith("invalid-form")
    assert [(e["pointer"], e["type"], e["text"]) for e in problem["errors"]] == [(pointer, "anchor", "（盖章）")]
    assert _count(runtime) == before


def test_a_resubmission_whose_form_holds_the_anchor_is_refused_and_the_request_stays_returned(
    runtime: Runtime,
) -> None:
    demo_snapshot.load(runtime, seals=True)
    with TestClient(create_app(runtime), raise_server_exceptions=False) as client:
        resident = bearer(client, "sn.resident")
        made = client.post("/api/v1/requests", json=WINTER_VEGETABLE_SUBSIDY, headers=resident)
        assert made.status_code == 201, made.text
        request_id = made.json()["id"]
        returned = client.post(
            f"/api/v1/requests/{request_id}/decisions",
            json={"decision": "return", "level": 1, "to_level": 0, "comment": "地块位置写全"},
            headers=bearer(client, "sn.g1.leader"),
        )
        assert returned.status_code == 200, returned.text
        document = client.get(f"/api/v1/requests/{request_id}", headers=resident).json()["document"]
        form = {**WINTER_VEGETABLE_SUBSIDY["form"], "location": "水南村东洋一号地（盖章）"}
        again = client.post(f"/api/v1/requests/{request_id}/resubmit", json={"form": form}, headers=resident)
        assert again.status_code == 422, again.text
        assert [e["pointer"] for e in again.json()["errors"]] == ["/form/location"]
        shown = client.get(f"/api/v1/requests/{request_id}", headers=resident).json()
        assert (shown["state"], shown["document"]) == ("returned", document)
        form["location"] = "水南村东洋一号地"
        fixed = client.post(f"/api/v1/requests/{request_id}/resubmit", json={"form": form}, headers=resident)
        assert fixed.status_code == 200, fixed.text


def test_texts_are_found_wherever_the_form_nests_them() -> None:
    values = {"plots": [{"name": "东洋"}, {"name": "东洋（盖章）"}], "area": 3.5, "note": None}
    with pytest.raises(forms.InvalidForm) as refused:
        forms.refuse_anchor("（盖章）", values, purpose="补贴", place=None)
    assert [e["pointer"] for e in refused.value.extensions["errors"]] == ["/form/plots/1/name"]
    forms.refuse_anchor("（盖章）", {"name": "盖章", "other": "（签名或盖章）"}, purpose="（盖印）")
    forms.refuse_anchor(" ", {"name": "王 五"}, purpose="补贴")  # an anchor of spaces alone refuses nothing
