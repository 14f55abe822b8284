"""The management commands as an operator runs them."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from sealgate.cli.demo import dataset
from tests.cli.support import run, serving


def ok(result_stdout_stderr: tuple[int, str, str]) -> str:
    code, out, err = result_stdout_stderr
    assert code == 0, err
    return out


def sealgate(cwd: Path, *args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = run(cwd, *args, stdin=stdin)
    return result.returncode, result.stdout, result.stderr


def test_demo_loads_once_and_prints_every_sign_in(tmp_path: Path) -> None:
    first = ok(sealgate(tmp_path, "demo"))
    second = ok(sealgate(tmp_path, "demo"))
    for person in dataset()["users"]:
        assert f"{person['username']} / {person['password']}" in first
    waiting = "Seal machines waiting for enrolment"
    sign_ins, codes = first.split(waiting)
    assert second.split(waiting)[0] == sign_ins  # nothing added twice
    fresh = {line.split()[0]: line.split()[1] for line in codes.splitlines()[1:]}
    again = {line.split()[0]: line.split()[1] for line in second.split(waiting)[1].splitlines()[1:]}
    assert set(fresh) == set(again) == {m["id"] for m in dataset()["machines"]}
    assert all(fresh[m] != again[m] for m in fresh), "each run gives a machine not yet enrolled a new code"
    listed = ok(sealgate(tmp_path, "users", "list"))
    assert "sn.g1.leader" in listed
    assert "group_leader@yazhou.shuinan.g1" in listed
    tree = ok(sealgate(tmp_path, "orgs", "list")).splitlines()
    assert tree[0].startswith("yazhou  三亚市崖州区  [district]")
    assert any(line.startswith("    yazhou.shuinan.g1  ") for line in tree)


def test_demo_has_every_post_and_the_three_villages() -> None:
    data = dataset()
    posts = {post for person in data["users"] for post, _ in person["posts"]}
    assert posts == {
        "staff",
        "group_leader",
        "secretary",
        "committee_member",
        "seal_admin",
        "custodian",
        "inspector",
        "cert_admin",
        "bureau",
        "admin",
    }
    names = {org["name"] for org in data["organisations"]}
    assert {"水南村", "北岭村", "城西村"} <= names


def test_readme_lists_the_demo_sign_ins() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    for person in dataset()["users"]:
        assert f"`{person['username']}` / `{person['password']}`" in readme


def test_init_makes_the_first_administrator_once(tmp_path: Path) -> None:
    args = ("init", "--org-code", "lz", "--org-name", "临安区", "--password-stdin")
    out = ok(sealgate(tmp_path, *args, stdin="first-admin-pw\n"))
    assert "administrator admin of lz created" in out
    code, _, err = sealgate(tmp_path, *args, stdin="first-admin-pw\n")
    assert code == 1
    assert err.strip() == "sealgate: already initialised: admin hold the admin post"


def test_users_and_orgs(tmp_path: Path) -> None:
    ok(sealgate(tmp_path, "init", "--org-code", "yz", "--org-name", "崖州区", "--password-stdin", stdin="adm-pass-1\n"))
    ok(sealgate(tmp_path, "orgs", "add", "yz.sn", "--name", "水南村", "--kind", "village", "--parent", "yz"))
    ok(sealgate(tmp_path, "users", "add", "chen", "--name", "陈明德", "--password-stdin", stdin="chen-pass-1\n"))
    ok(sealgate(tmp_path, "users", "grant", "chen", "secretary", "yz.sn"))
    assert "secretary@yz.sn" in ok(sealgate(tmp_path, "users", "list"))
    ok(sealgate(tmp_path, "users", "end", "chen", "secretary", "yz.sn"))
    ok(sealgate(tmp_path, "users", "disable", "chen"))
    assert "陈明德 [disabled]  -" in ok(sealgate(tmp_path, "users", "list"))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("orgs", "add", "yz.x", "--name", "x", "--kind", "group", "--parent", "yz"), "a group sits under"),
        (
            ("orgs", "add", "bl", "--name", "北岭村", "--kind", "district", "--uscc", "91350203M0001QAY9B"),
            "expected '9'",
        ),
        (("users", "grant", "nobody", "staff", "yz"), "no user named 'nobody'"),
        (("users", "grant", "admin", "staff", "yz", "--from", "yesterday"), "not an ISO 8601"),
    ],
)
def test_refused_input_is_one_line(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    ok(sealgate(tmp_path, "init", "--org-code", "yz", "--org-name", "崖州区", "--password-stdin", stdin="adm-pass-1\n"))
    code, _, err = sealgate(tmp_path, *args)
    assert code == 1
    assert len(err.strip().splitlines()) == 1
    assert message in err


def test_config_show_is_toml(tmp_path: Path) -> None:
    import tomllib

    out = ok(sealgate(tmp_path, "config", "show"))
    shown = tomllib.loads(out)
    assert shown["database"]["url"] == "sqlite:///var/sealgate.db"
    assert shown["keystore"]["token_label"] == "sealgate"


@pytest.mark.slow
def test_the_make_run_sequence_serves_the_demo(tmp_path: Path) -> None:
    """What ``make run`` does after installing: migrate, initialise the CA, load the demo, serve; then a demo user
    signs in."""
    ok(sealgate(tmp_path, "db", "upgrade"))
    ok(sealgate(tmp_path, "ca", "init", "--if-missing"))
    ok(sealgate(tmp_path, "demo"))
    with serving(tmp_path, tmp_path / "serve.log") as base:
        assert httpx.get(base + "/healthz").status_code == 200
        assert httpx.get(base + "/readyz").json()["status"] == "ready"
        token = httpx.post(
            base + "/api/v1/auth/token", data={"username": "sn.secretary", "password": "demo-sn-secretary"}
        )
        assert token.status_code == 200
        me = httpx.get(base + "/api/v1/me", headers={"Authorization": f"Bearer {token.json()['access_token']}"})
        assert me.json()["posts"][0]["organisation_name"] == "水南村"
    lines = [json.loads(line) for line in (tmp_path / "serve.log").read_text().splitlines()]
    access = [line for line in lines if line["logger"] == "sealgate.access"]
    assert all(len(line["request_id"]) == 32 for line in access)
