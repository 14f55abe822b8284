"""The log explorer, open to anyone: the checkpoint /log/checkpoint serves, with the key to audit it by, and each
entry with an inclusion proof that verifies against it; an index past the end, or past 64 bits, is not found."""

from __future__ import annotations

import base64
import html
import json
import re

import pytest
from fastapi.testclient import TestClient

from ledger.merkle import leaf_hash, verify_inclusion
from tests.web.conftest import sign_in
from tests.web.test_translations import messages

ENGLISH = [m for m in messages() if re.search(r"[A-Za-z]{3,} [A-Za-z]{2,}", m) and "%(" not in m]


def untranslated(page: str) -> list[str]:
    """The pages' English messages left in a page's visible text (its markup, styles and attributes aside)."""
    visible = html.unescape(re.sub(r"<[^>]+>", "\n", re.sub(r"<style\b.*?</style>", " ", page, flags=re.S)))
    return [m for m in ENGLISH if m in visible]


@pytest.fixture
def published(browser: TestClient) -> list[str]:
    """The demo data in a published checkpoint; the lines of that checkpoint as served."""
    browser.app.state.log.integrator.run_until_idle()  # type: ignore[attr-defined]
    served: str = browser.get("/log/checkpoint").text
    return served.split("\n")


def test_the_explorer_shows_the_checkpoint_served(browser: TestClient, published: list[str]) -> None:
    origin, size, root = published[:3]
    page = browser.get("/explorer", params={"lang": "en"})
    assert page.status_code == 200
    text = html.unescape(page.text)
    assert f"<strong>{size}</strong> entries" in text
    assert root in text
    assert origin in text
    signature = next(line for line in published[3:] if line.startswith("— "))
    assert signature in text
    vkey = browser.get("/api/v1/log/key").json()["vkey"]
    assert f"sealgate log audit --url http://127.0.0.1:8000 --vkey '{vkey}'" in text
    assert "verified here with the log's key" in text
    opened = browser.get("/explorer", params={"index": "3"})
    assert opened.status_code == 303
    assert opened.headers["location"] == "/explorer/entries/3"
    sign_in(browser, "yz.inspector")
    signed_in = browser.get("/explorer")
    assert signed_in.status_code == 200
    assert 'action="/logout"' in signed_in.text  # the site's header, with the signed-in menu


def test_an_entry_with_a_proof_that_verifies_and_none_past_the_end(browser: TestClient, published: list[str]) -> None:
    size = int(published[1])
    page = browser.get("/explorer/entries/0", params={"lang": "en"})
    assert page.status_code == 200
    entry = browser.get("/api/v1/log/entries/0").json()
    raw = base64.b64decode(entry["raw"])
    assert json.dumps(json.loads(raw), ensure_ascii=False, indent=2) in html.unescape(page.text)
    assert entry["leaf_hash"] == leaf_hash(raw).hex()
    assert entry["leaf_hash"] in page.text
    assert "the proof leads from this entry to the root of the latest checkpoint" in page.text
    proof = re.findall(r"<li><code>([A-Za-z0-9+/=]{44})</code></li>", page.text)
    assert proof, "the proof's hashes are shown"
    root = base64.b64decode(published[2])
    verify_inclusion(leaf_hash(raw), 0, size, [base64.b64decode(h) for h in proof], root)
    assert 'href="/explorer/entries/1" rel="next"' in page.text
    assert 'rel="prev"' not in page.text
    last = browser.get(f"/explorer/entries/{size - 1}").text
    assert f'href="/explorer/entries/{size - 2}" rel="prev"' in last
    assert 'rel="next"' not in last
    chinese = browser.get("/explorer/entries/0", params={"lang": "zh_CN"}).text
    assert "已在本页核验" in chinese
    assert "包含性证明" in chinese
    assert untranslated(chinese) == []
    assert untranslated(browser.get("/explorer").text) == []
    missing = browser.get(f"/explorer/entries/{size}")
    assert missing.status_code == 404
    assert f"没有条目 #{size}" in missing.text
    assert untranslated(missing.text) == []
    huge = browser.get("/explorer/entries/99999999999999999999999")
    assert huge.status_code == 422
    assert browser.get("/explorer/entries/-1").status_code == 422
    assert browser.get(f"/explorer/entries/{2**63 - 1}").status_code == 404
    assert browser.get("/explorer", params={"index": "99999999999999999999999"}).status_code == 422


def test_before_any_checkpoint_the_explorer_says_so(browser: TestClient) -> None:
    page = browser.get("/explorer")
    assert page.status_code == 200
    assert "日志尚未发布检查点" in page.text
    assert browser.get("/explorer/entries/0").status_code == 404
