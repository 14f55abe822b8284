"""The API on the demo (Yazhou, its villages, its two administrators and two certificate administrators) with an
initialised CA, for tests that play administrators against each other over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api import create_app
from ca.models import Seal
from core.runtime import Runtime
from identity.models import Organisation
from tests import demo_snapshot

PUPPET_PASSWORD = "puppet-pass-2026"


@pytest.fixture
def api(runtime: Runtime) -> Iterator[TestClient]:
    demo_snapshot.load(runtime, seals=True)
    with TestClient(create_app(runtime), raise_server_exceptions=False) as client:
        yield client


def bearer(client: TestClient, username: str, password: str | None = None) -> dict[str, str]:
    answer = client.post(
        "/api/v1/auth/token",
        data={"username": username, "password": password or "demo-" + username.replace(".", "-")},
    )
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def add_user(client: TestClient, admin: dict[str, str], username: str, home: str | None = None) -> dict[str, str]:
    """An account the administrator makes (and so knows the password of); its bearer headers."""
    body: dict[str, Any] = {"username": username, "display_name": username, "password": PUPPET_PASSWORD, "home": home}
    made = client.post("/api/v1/admin/users", json=body, headers=admin)
    assert made.status_code == 201, made.text
    return bearer(client, username, PUPPET_PASSWORD)


def ask_post(
    client: TestClient, admin: dict[str, str], username: str, post: str, organisation: str, **extra: Any
) -> Any:
    return client.post(
        f"/api/v1/admin/users/{username}/posts",
        json={"post": post, "organisation": organisation, **extra},
        headers=admin,
    )


def seal_of(runtime: Runtime, organisation: str, kind: str = "village_official", form: str = "electronic") -> int:
    """The id of the demo's seal of ``kind`` of ``organisation``."""
    with runtime.readers() as session:
        org = session.query(Organisation).filter_by(code=organisation).one()
        seal = session.query(Seal).filter_by(organisation_id=org.id, kind=kind, form=form).first()
        assert seal is not None
        return seal.id
