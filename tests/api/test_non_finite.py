"""JSON has no NaN and no infinities, but Python's reader takes ``NaN``, ``Infinity`` and ``1e999``; such a number
in a request must be refused as the bad input it is (422), where it used to pass into a matter's form and fail as a
500 when the log wrote the form canonically."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.middleware import finite_json
from api.schemas_workflow import RequestIn
from tests.web.conftest import demo_data, password, web_app  # noqa: F401  (the demo fixtures)

PROBLEM = "application/problem+json"
FORM = {"phone": "13876543210", "crop": "辣椒", "cycles": 2, "location": "水南村东洋"}


def _request(area: str) -> str:
    """The subsidy request of the web tests, with ``area`` written into its JSON as is."""
    body = {
        "matter": "agri.winter-vegetable-subsidy",
        "organisation": "yazhou.shuinan",
        "seal": "village_official",
        "seal_form": "electronic",
        "copies": 1,
        "purpose": "申请2026年冬季瓜菜种植补贴",
        "form": {**FORM, "area": "AREA"},
    }
    return json.dumps(body, ensure_ascii=False).replace('"AREA"', area)


@pytest.fixture
def resident(web_app: FastAPI) -> Iterator[TestClient]:  # noqa: F811
    with TestClient(web_app, raise_server_exceptions=False) as client:
        answer = client.post(
            "/api/v1/auth/token", data={"username": "sn.resident", "password": password("sn.resident")}
        )
        assert answer.status_code == 200, answer.text
        client.headers["Authorization"] = f"Bearer {answer.json()['access_token']}"
        yield client


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e999", "[NaN]", '{"x": -1e400}'])
def test_a_non_finite_number_in_a_json_body_is_refused(resident: TestClient, number: str) -> None:
    answer = resident.post("/api/v1/requests", content=_request(number), headers={"content-type": "application/json"})
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == PROBLEM
    assert answer.json()["type"] == "/problems/validation-error"


def test_a_non_finite_number_in_the_multipart_request_part_is_refused(resident: TestClient) -> None:
    answer = resident.post("/api/v1/requests", files={"request": (None, _request("NaN"))})
    assert answer.status_code == 422, answer.text
    assert answer.json()["errors"][0]["pointer"] == "/body/form"


def test_a_finite_number_still_goes_through(resident: TestClient) -> None:
    answer = resident.post("/api/v1/requests", content=_request("3.5"), headers={"content-type": "application/json"})
    assert answer.status_code == 201, answer.text


def test_every_route_that_reads_json_refuses_them(web_app: FastAPI, demo_data: dict[str, Any]) -> None:  # noqa: F811
    with TestClient(web_app, raise_server_exceptions=False) as client:
        token = client.post("/api/v1/auth/token", data={"username": "yz.admin", "password": password("yz.admin")})
        headers = {"Authorization": f"Bearer {token.json()['access_token']}", "content-type": "application/json"}
        answer = client.put("/api/v1/admin/catalog", content='{"matters": [], "x": NaN}', headers=headers)
    assert answer.status_code == 422, answer.text


@pytest.mark.parametrize(
    ("body", "finite"),
    [(b'{"a": 1.5, "b": [1, -2e10]}', True), (b'{"a": NaN}', False), (b"[1e309]", False), (b"not json", True)],
)
def test_the_check_reads_only_numbers(body: bytes, finite: bool) -> None:
    assert finite_json(body) is finite


def test_the_request_body_refuses_them_however_it_is_read() -> None:
    with pytest.raises(ValueError, match="NaN and infinite"):
        RequestIn.model_validate(json.loads(_request("Infinity")))
