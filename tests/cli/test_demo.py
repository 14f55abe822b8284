"""``sealgate demo`` as ``make run`` runs it: after the CA, with the villages' electronic seals and their
certificates, the agriculture bureau's hosted inbox, and nothing an administrator changed undone by a restart."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from bench.ports import free_port
from ca import hierarchy
from ca.models import Certificate, Seal
from core.runtime import Runtime
from sealgate.cli import demo
from tests.cli.support import run, serving
from tests.workflow.examples import WINTER_VEGETABLE_SUBSIDY
from workflow import catalogs, delivery
from workflow.models import DeliveryEndpoint

ROOT = Path(__file__).parents[2]
KINDS = {"village_official", "village_finance", "village_contract"}


def seal_certificates(runtime: Runtime) -> list[str]:
    with runtime.sessions() as session:
        return sorted(session.scalars(select(Certificate.serial).where(Certificate.seal_id.is_not(None))))


def test_without_the_ca_the_demo_adds_no_electronic_seal(runtime: Runtime) -> None:
    with runtime.sessions() as session:
        data = demo.load(session, runtime.clock.now(), settings=runtime.settings, keystore=runtime.keystore)
        electronic = session.scalar(select(func.count()).select_from(Seal).where(Seal.form == "electronic"))
    assert data["certificates"] is None
    assert electronic == 0
    assert seal_certificates(runtime) == []


def test_a_second_run_keeps_what_administrators_changed_and_issues_nothing_again(runtime: Runtime) -> None:
    now = runtime.clock.now()
    with runtime.sessions() as session:
        hierarchy.initialise(session, runtime.keystore, runtime.settings, now, "test")
        session.commit()
        first = demo.load(session, now, settings=runtime.settings, keystore=runtime.keystore)
    issued = seal_certificates(runtime)
    assert len(issued) == 9
    assert {(s.organisation, s.kind) for s in first["certificates"]} == {
        (village, kind) for village in ("yazhou.shuinan", "yazhou.beiling", "yazhou.chengxi") for kind in KINDS
    }
    shuinan = {s.name for s in first["certificates"] if s.organisation == "yazhou.shuinan"}
    assert shuinan == {"三亚市崖州区水南村村民委员会"}
    with runtime.sessions() as session:
        endpoint = session.get_one(DeliveryEndpoint, "agriculture")
        assert endpoint.url == "http://127.0.0.1:8000/api/v1/bureaus/yazhou.agri/deliveries"
        assert endpoint.organisation_id is not None
        catalogs.retire_matter(session, "agri.mulch-film-subsidy", actor="test", now=now)
        delivery.set_endpoint(
            session, "agriculture", url="https://agri.example/inbox", key_id="agri-2027", secret="changed", now=now
        )
        session.commit()
        version, _ = catalogs.current(session)
        demo.load(session, now, settings=runtime.settings, keystore=runtime.keystore)
        again, catalog = catalogs.current(session)
        endpoint = session.get_one(DeliveryEndpoint, "agriculture")
        assert (endpoint.url, endpoint.key_id) == ("https://agri.example/inbox", "agri-2027")
        assert endpoint.secret == "changed"
        assert endpoint.organisation_id is not None  # kept when the URL and secret were changed
    assert again == version
    assert catalog.matter("agri.mulch-film-subsidy") is None
    assert seal_certificates(runtime) == issued


def test_make_run_initialises_the_ca_before_the_demo() -> None:
    makefile = (ROOT / "Makefile").read_text()
    target = makefile[makefile.index("\nrun:") :].split("\n\n")[0]
    commands = re.findall(r"\$\(BIN\)/sealgate ([a-z -]+)", target)
    assert commands == ["db upgrade", "ca init --if-missing", "demo", "serve"]


def ok(result: Any) -> str:
    assert result.returncode == 0, result.stderr
    return str(result.stdout)


@pytest.mark.slow
def test_the_readme_electronic_request_completes_on_make_run(tmp_path: Path) -> None:
    """``make run``'s commands, then the README's subsidy request approved by its three levels: sealed with the
    demo's seal, its PDF downloaded, and its delivery received by the agriculture bureau's hosted inbox."""
    port = free_port()
    settings = {"SEALGATE_PUBLIC_URL": f"http://127.0.0.1:{port}", "SEALGATE_PORT": str(port)}
    before = ok(run(tmp_path, "demo", **settings))
    assert "The CA is not initialised" in before
    assert "Electronic seals" not in before
    ok(run(tmp_path, "db", "upgrade", **settings))
    ok(run(tmp_path, "ca", "init", "--if-missing", **settings))
    shown = ok(run(tmp_path, "demo", **settings))
    assert shown.count("三亚市崖州区水南村村民委员会  certificate ") == 3
    with serving(tmp_path, tmp_path / "serve.log", **settings) as base:

        def headers(username: str) -> dict[str, str]:
            form = {"username": username, "password": "demo-" + username.replace(".", "-")}
            token = httpx.post(base + "/api/v1/auth/token", data=form, timeout=30).json()["access_token"]
            return {"Authorization": f"Bearer {token}"}

        submitted = httpx.post(
            base + "/api/v1/requests", headers=headers("sn.resident"), json=WINTER_VEGETABLE_SUBSIDY, timeout=60
        )
        assert submitted.status_code == 201, submitted.text
        rid = submitted.json()["id"]
        for who, level in (("sn.g1.leader", 1), ("sn.secretary", 2), ("sn.sealadmin", 3)):
            decided = httpx.post(
                f"{base}/api/v1/requests/{rid}/decisions",
                headers=headers(who),
                json={"decision": "approve", "level": level},
                timeout=60,
            )
            assert decided.status_code == 200, decided.text
        admin, bureau = headers("yz.admin"), headers("yz.agri")
        deadline = time.monotonic() + 90
        delivered: list[dict[str, Any]] = []
        while not delivered and time.monotonic() < deadline:
            time.sleep(0.5)
            answer = httpx.get(base + "/api/v1/admin/outbox?status=delivered", headers=admin, timeout=30)
            delivered = [m for m in answer.json() if m["request_id"] == rid]
        assert delivered, (tmp_path / "serve.log").read_text()[-3000:]
        assert delivered[0]["target"] == "agriculture"
        done = httpx.get(f"{base}/api/v1/requests/{rid}", headers=bureau, timeout=30)
        assert done.status_code == 200, done.text
        assert done.json()["state"] == "completed"
        pdf = httpx.get(f"{base}/api/v1/requests/{rid}/document", headers=headers("sn.resident"), timeout=30)
        assert pdf.content.startswith(b"%PDF-")
        assert b"/ByteRange" in pdf.content  # sealed, not the document as submitted
