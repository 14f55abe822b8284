"""The OpenAPI document is one a client can rely on: valid by the OpenAPI schema, every reference resolves, and
every operation lists the problems it can answer, as the ``application/problem+json`` documents the service sends."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import jsonschema
import schemathesis
from fastapi.testclient import TestClient

from api.openapi import PROBLEM
from api.problems import MEDIA_TYPE, is_page_path

METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
EVERY_OPERATION = {"400", "404", "422", "500"}  # unreadable, absent, refused, failed
BEHIND_A_TOKEN = {"401", "403"}


def _document(client: TestClient) -> dict[str, Any]:
    answer = client.get("/openapi.json")
    assert answer.status_code == 200
    document: dict[str, Any] = answer.json()
    return document


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def _resolve(document: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), f"{ref} points outside the document"
    node: Any = document
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        assert isinstance(node, dict), f"{ref} points at nothing"
        assert part in node, f"{ref} points at nothing"
        node = node[part]
    return node


def _operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield path, method, operation


def test_the_document_is_valid_openapi(client: TestClient) -> None:
    schemathesis.openapi.from_dict(_document(client)).validate()


def test_every_reference_resolves(client: TestClient) -> None:
    document = _document(client)
    refs = set(_refs(document))
    assert "#/components/schemas/RequestIn" in refs
    for ref in refs:
        _resolve(document, ref)


def test_the_submission_body_is_described(client: TestClient) -> None:
    document = _document(client)
    body = document["paths"]["/api/v1/requests"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    described = _resolve(document, body["$ref"])
    assert {"matter", "organisation", "seal", "seal_form", "purpose"} <= set(described["required"])


def test_every_operation_lists_its_problems_as_problem_documents(client: TestClient) -> None:
    document = _document(client)
    missing: list[str] = []
    for path, method, operation in _operations(document):
        expected = EVERY_OPERATION | (BEHIND_A_TOKEN if operation.get("security") else set())
        responses = operation["responses"]
        for status in sorted(expected):
            if status not in responses:
                missing.append(f"{method.upper()} {path}: no {status}")
                continue
            response = responses[status]
            if "$ref" in response:
                response = _resolve(document, response["$ref"])
            content = response.get("content", {})
            if is_page_path(path):
                ok = "text/html" in content
            else:
                ok = content.get(MEDIA_TYPE, {}).get("schema") == {"$ref": "#/components/schemas/Problem"}
            if not ok:
                missing.append(f"{method.upper()} {path}: {status} is not described as a problem: {content}")
    assert len(list(_operations(document))) > 60
    assert missing == []


def test_no_operation_keeps_the_frameworks_validation_error(client: TestClient) -> None:
    """FastAPI describes a 422 as its own ``HTTPValidationError`` in ``application/json``, which is not what the
    service answers."""
    document = _document(client)
    assert "HTTPValidationError" not in str(document)


def test_the_problem_schema_describes_the_problems_sent(client: TestClient) -> None:
    missing = client.get("/api/v1/nothing-here")
    refused = client.get("/api/v1/log/entries/not-a-number")
    for answer in (missing, refused):
        assert answer.headers["content-type"] == MEDIA_TYPE
        jsonschema.validate(answer.json(), PROBLEM)
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["pointer"] == "/path/index"
