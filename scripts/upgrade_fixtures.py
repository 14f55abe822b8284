"""Make the databases of earlier migration heads that tests/core/test_upgrades.py upgrades to today.

An earlier head is the newest migration at some commit of main; for each one this takes the last commit of main
at which it was the newest (the code that ran longest on that schema), exports it with ``git archive`` into a
temporary directory and runs THAT code, with this project's virtualenv and its own SQLite database, var/
directory and development SoftHSM2 token: ``db upgrade``, ``ca init`` where the commit had a CA, ``demo``, and
where it had the workflow, a server (``serve``) through which the demo's resident submits the winter-vegetable
subsidy three times: one left at the first level, one approved then rejected at the second, one approved at all
three levels and sealed where the commit could seal (where its demo made no electronic seal, the certificate
administrators add 水南村's first, through the same API). The log's integrator then runs once where the commit
had a log. Head 0007 never landed alone (0007 and 0008 came in one commit), so there is none for it.

What the old code made is then read back generically (SQLAlchemy reflection, no old model) into
``tests/data/upgrades/<head>.json.gz``: each table's columns in row order as reflected (type, nullability), every
row (bytes as ``{"$b": base64}``, datetimes as ``{"$t": ISO in UTC}``), the requests' numbers and the states the
old API answered, and the log's origin and verifier key (``log key``) where there was a log, so that today's
audit can check the old checkpoints. Blobs (documents, sealed files) stay out: they are files, not rows.

Regenerate (every earlier head with no fixture yet, or the ones named; ``--force`` remakes existing ones)::

    .venv/bin/python scripts/upgrade_fixtures.py [--force] [0004 0006 ...]

A database made by some other commit (one whose migrations differ from today's up to its head, as while 0007
and 0008 were empty placeholders) is made with ``--commit``, into ``<head>-<commit>.json.gz``::

    .venv/bin/python scripts/upgrade_fixtures.py --commit df3fff0 [--commit 7a2a9a1 ...]

Such a fixture also holds that commit's migration scripts above the earlier head below its own (0007 and 0008
for df3fff0), which the test runs after today's up to that head to build the schema that code ran on, since
today's alone do not. Every fixture records each table's primary key and indexes as well.

Old commits may import packages this virtualenv no longer has (``segno``, once): they are installed with
``pip --target`` into a temporary directory on the old code's path only, never into the project.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import gzip
import itertools
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import MetaData, create_engine, select

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "tests" / "data" / "upgrades"
VERSIONS = "sealgate/migrations/versions"
OLD_ONLY = ("segno",)  # what old commits import that the project no longer depends on
# The request as the old APIs took it: frozen here, where bench.flow's follows today's API.
SUBSIDY: dict[str, Any] = {
    "matter": "agri.winter-vegetable-subsidy",
    "organisation": "yazhou.shuinan",
    "seal": "village_official",
    "seal_form": "electronic",
    "copies": 1,
    "place": "",
    "purpose": "申请2026年冬季瓜菜种植补贴",
    "form": {"phone": "13876543210", "crop": "辣椒", "cycles": 2, "area": 3.5, "location": "水南村东洋"},
}
APPROVERS = ("sn.g1.leader", "sn.secretary", "sn.sealadmin")  # levels 1, 2 and 3 of the subsidy's chain
CERT_ADMINS = ("yz.certadmin1", "yz.certadmin2")
OFFICIAL_SEAL = {
    "organisation": "yazhou.shuinan",
    "kind": "village_official",
    "form": "electronic",
    "name": "三亚市崖州区水南村村民委员会",
}
FINAL = {"completed", "failed", "rejected", "withdrawn", "cancelled"}
UNCOMMITTED = ""  # where a migration not committed yet lands: after HEAD, which the head before it ran on last


def git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, check=True, capture_output=True, text=True).stdout.strip()


def earlier_heads() -> dict[str, str]:
    """Each earlier head and the last commit of main at which it was the newest migration."""
    added: dict[str, list[str]] = {}
    for name in sorted(p.name for p in (ROOT / VERSIONS).glob("[0-9]*.py")):
        commits = git("log", "--diff-filter=A", "--format=%H", "--", f"{VERSIONS}/{name}").splitlines()
        added.setdefault(commits[-1] if commits else UNCOMMITTED, []).append(name[:4])
    order = [*git("rev-list", "--first-parent", "--reverse", "HEAD").splitlines(), UNCOMMITTED]
    landings = sorted(added.items(), key=lambda item: order.index(item[0]))
    heads: dict[str, str] = {}
    for (_, revisions), (next_commit, _) in itertools.pairwise(landings):
        heads[max(revisions)] = git("rev-parse", f"{next_commit}~1" if next_commit != UNCOMMITTED else "HEAD")
    return heads


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class OldCode:
    """One commit of main exported and run as its own ``sealgate`` command on its own var/ directory."""

    def __init__(self, commit: str, base: Path) -> None:
        self.commit = commit
        self.src = base / "src"
        self.var = base / "var"
        self.extra = base / "extra"
        self.src.mkdir()
        archive = subprocess.run(["git", "archive", commit], cwd=ROOT, check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(self.src)], input=archive, check=True)
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("SEALGATE_")},
            "SEALGATE_VAR_DIR": str(self.var),
            "SEALGATE_LOG_LEVEL": "WARNING",
            "PYTHONPATH": f"{self.src}{os.pathsep}{self.extra}",
        }
        self._old_only_packages()

    def has(self, path: str) -> bool:
        return (self.src / path).exists()

    def _old_only_packages(self) -> None:
        wanted = [name for name in OLD_ONLY if self._imports(name) and not self._importable(name)]
        if wanted:
            pip = [sys.executable, "-m", "pip", "install", "--quiet", "--target", str(self.extra), *wanted]
            subprocess.run(pip, check=True)

    def _imports(self, module: str) -> bool:
        pattern = re.compile(rf"^\s*(import|from) {module}\b", re.M)
        return any(pattern.search(p.read_text("utf-8")) for p in self.src.rglob("*.py") if ".venv" not in p.parts)

    def _importable(self, module: str) -> bool:
        probe = [sys.executable, "-c", f"import {module}"]
        return subprocess.run(probe, env=self.env, cwd=self.src, capture_output=True).returncode == 0

    def run(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "sealgate", *args], env=self.env, cwd=self.src, capture_output=True, text=True
        )
        if done.returncode != 0:
            raise RuntimeError(f"{self.commit[:7]}: sealgate {' '.join(args)}: {done.stderr[-2000:]}")
        return done.stdout

    def serve(self) -> tuple[subprocess.Popen[bytes], str]:
        port = free_port()
        server = subprocess.Popen(
            [sys.executable, "-m", "sealgate", "serve", "--port", str(port)],
            env=self.env,
            cwd=self.src,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                    return server, url
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                server.terminate()
                raise RuntimeError(f"{self.commit[:7]}: the server did not come up")
            time.sleep(0.3)


def requests(url: str, seals: bool, add_seal: bool) -> dict[str, str]:
    """Three subsidy requests through the old API; their numbers and the states it answered last, once the
    approved one is sealed (or failed) where the code ``seals``, at once where an approved request waits. Where
    the demo made no electronic seal (``add_seal``), the district's certificate administrators add 水南村's
    official one first and issue its certificate, the second approving what the first asked for."""
    with httpx.Client(base_url=url, timeout=120) as client:

        def token(username: str) -> dict[str, str]:
            login = {"username": username, "password": "demo-" + username.replace(".", "-")}
            answer = client.post("/api/v1/auth/token", data=login)
            answer.raise_for_status()
            return {"Authorization": f"Bearer {answer.json()['access_token']}"}

        tokens = {name: token(name) for name in ("sn.resident", *APPROVERS, *CERT_ADMINS)}

        def post(who: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
            answer = client.post(path, json=body, headers=tokens[who])
            if answer.status_code not in (200, 201, 202):
                raise RuntimeError(f"POST {path} as {who}: {answer.status_code} {answer.text[:500]}")
            result: dict[str, Any] = answer.json()
            return result

        if add_seal:
            seal = post(CERT_ADMINS[0], "/api/v1/seals", OFFICIAL_SEAL)["id"]
            asked = post(CERT_ADMINS[0], "/api/v1/certificates/operations", {"seal": seal, "kind": "issue"})["id"]
            post(CERT_ADMINS[1], f"/api/v1/certificates/operations/{asked}/approve", {})
        ids = [int(post("sn.resident", "/api/v1/requests", SUBSIDY)["id"]) for _ in range(3)]
        _, rejected, approved = ids  # the first waits at level 1
        post(APPROVERS[0], f"/api/v1/requests/{rejected}/decisions", {"decision": "approve", "level": 1})
        reason = {"decision": "reject", "level": 2, "comment": "种植面积与村里登记不符"}
        post(APPROVERS[1], f"/api/v1/requests/{rejected}/decisions", reason)
        for level, who in enumerate(APPROVERS, start=1):
            post(who, f"/api/v1/requests/{approved}/decisions", {"decision": "approve", "level": level})
        deadline = time.monotonic() + 120
        while True:
            states = {}
            for request_id in ids:
                answer = client.get(f"/api/v1/requests/{request_id}", headers=tokens["sn.resident"])
                answer.raise_for_status()
                states[answer.json()["number"]] = answer.json()["state"]
            final = client.get(f"/api/v1/requests/{approved}", headers=tokens["sn.resident"]).json()["state"]
            if final in FINAL or not seals or time.monotonic() > deadline:
                return states
            time.sleep(0.5)


def encode(value: Any) -> Any:
    if isinstance(value, bytes | memoryview):
        return {"$b": base64.b64encode(bytes(value)).decode()}
    if isinstance(value, dt.datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=dt.UTC)  # SQLite keeps UTC without its zone
        return {"$t": aware.astimezone(dt.UTC).isoformat()}
    if isinstance(value, dt.date):
        return {"$d": value.isoformat()}
    return value


def dump(database: Path) -> dict[str, Any]:
    """Every table's reflected columns and every row, ordered by primary key, of a SQLite database."""
    engine = create_engine(f"sqlite:///{database}")
    try:
        reflected = MetaData()
        reflected.reflect(engine)
        tables: dict[str, Any] = {}
        with engine.connect() as conn:
            for table in reflected.sorted_tables:
                order = list(table.primary_key.columns) or list(table.columns)
                rows = conn.execute(select(table).order_by(*order)).all()
                indexes = [
                    {"name": i.name, "columns": [c.name for c in i.columns], "unique": bool(i.unique)}
                    for i in table.indexes
                ]
                tables[table.name] = {
                    "columns": [{"name": c.name, "type": str(c.type), "nullable": c.nullable} for c in table.columns],
                    "primary_key": [c.name for c in table.primary_key.columns],
                    "indexes": sorted(indexes, key=lambda index: str(index["name"])),
                    "rows": [[encode(v) for v in row] for row in rows],
                }
        return tables
    finally:
        engine.dispose()


def newest_migration(commit: str) -> str:
    """The head of a commit: its newest migration."""
    names = git("ls-tree", "--name-only", f"{commit}:{VERSIONS}").splitlines()
    return max(name[:4] for name in names if name[:4].isdigit())


def migrations(commit: str, head: str) -> dict[str, str]:
    """A commit's migration scripts by file name, those newer than the earlier head below its own: up to that
    head, today's build what the commit's did (its fixture shows), and the commit's older ones import modules
    since moved."""
    below = max((earlier for earlier in earlier_heads() if earlier < head), default="0000")
    names = git("ls-tree", "--name-only", f"{commit}:{VERSIONS}").splitlines()
    return {name: git("show", f"{commit}:{VERSIONS}/{name}") + "\n" for name in names if below < name[:4] <= head}


def make(head: str, commit: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix=f"upgrade-{head}-") as tmp:
        old = OldCode(commit, Path(tmp))
        made: list[str] = []
        print(old.run("db", "upgrade").strip(), flush=True)
        if old.has("sealgate/cli/ca_cmd.py"):
            old.run("ca", "init")
            made.append("ca init")
        old.run("demo")
        made.append("demo")
        log: dict[str, str] | None = None
        if old.has("sealgate/cli/log_cmd.py"):
            vkey = old.run("log", "key").strip().splitlines()[-1]
            log = {"vkey": vkey, "origin": vkey.split("+", 1)[0]}
        states: dict[str, str] = {}
        if old.has("workflow/requests.py"):
            seals = old.has("signer")
            add_seal = seals and "_electronic_seals" not in (old.src / "sealgate/cli/demo.py").read_text("utf-8")
            server, url = old.serve()
            try:
                states = requests(url, seals=seals, add_seal=add_seal)
            finally:
                server.terminate()
                server.wait(timeout=60)
            if add_seal:
                made.append("水南村's electronic official seal and its certificate through the API")
            made.append("three subsidy requests through the API")
        if log is not None:
            old.run("log", "integrate", "--once")
            made.append("log integrate --once")
        return {
            "head": head,
            "commit": commit,
            "made": made,
            "log": log,
            "requests": states,
            "tables": dump(old.var / "sealgate.db"),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("heads", nargs="*", help="the heads to make (default: every earlier head missing)")
    parser.add_argument("--force", action="store_true", help="remake fixtures that exist")
    parser.add_argument(
        "--commit", action="append", default=[], help="make the database of this commit instead (repeatable)"
    )
    options = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    if options.commit:
        if options.heads:
            parser.error("name either heads or --commit, not both")
        for name in options.commit:
            try:
                commit = git("rev-parse", "--verify", f"{name}^{{commit}}")
            except subprocess.CalledProcessError:
                parser.error(f"not a commit: {name}")
            head = newest_migration(commit)
            write(OUT / f"{head}-{commit[:7]}.json.gz", head, commit, options.force, pinned=True)
        return
    heads = earlier_heads()
    unknown = set(options.heads) - set(heads)
    if unknown:
        parser.error(f"not an earlier head: {', '.join(sorted(unknown))} (earlier heads: {', '.join(heads)})")
    for head, commit in heads.items():
        if not options.heads or head in options.heads:
            write(OUT / f"{head}.json.gz", head, commit, options.force, pinned=False)


def write(target: Path, head: str, commit: str, force: bool, *, pinned: bool) -> None:
    """One fixture, unless it exists and is not to be remade; a ``pinned`` one holds its commit's migrations."""
    if target.exists() and not force:
        return
    print(f"{head}: {commit[:7]}", flush=True)
    fixture = make(head, commit)
    if pinned:
        fixture["migrations"] = migrations(commit, head)
    text = json.dumps(fixture, ensure_ascii=False, separators=(",", ":"))
    target.write_bytes(gzip.compress(text.encode(), mtime=0))
    print(f"{head}: {fixture['requests']} -> {target.relative_to(ROOT)} ({target.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
