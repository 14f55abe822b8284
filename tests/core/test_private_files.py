"""What the service makes under var/ is private to its user: files 0600, directories 0700, whatever the umask."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from sqlalchemy import text
from typer.testing import CliRunner

from core.keystore import KeyKind
from core.runtime import Runtime
from core.settings import load_settings
from sealgate import MIGRATIONS
from sealgate.cli import app
from sealgate.cli.state import CliState, state

PERMISSIVE = 0o022
PROJECT = Path(__file__).resolve().parents[2]


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    before = os.umask(PERMISSIVE)
    try:
        yield
    finally:
        os.umask(before)


def _modes(root: Path) -> dict[str, int]:
    found = {".": stat.S_IMODE(root.lstat().st_mode)}
    for path in root.rglob("*"):
        found[str(path.relative_to(root))] = stat.S_IMODE(path.lstat().st_mode)
    return found


def _public(root: Path) -> dict[str, str]:
    """Every path under root that its group or others may use."""
    return {path: oct(mode) for path, mode in _modes(root).items() if mode & 0o077}


def open_and_use(var: str) -> None:
    """Open a runtime on ``var`` and write to it after opening: a blob, a key in the token, a database row."""
    runtime = Runtime.open(load_settings(var_dir=Path(var)), migrations=MIGRATIONS)
    try:
        if os.umask(PERMISSIVE) != PERMISSIVE:
            raise SystemExit("opening did not give the process umask back")
        runtime.blobs.put(b"%PDF-1.7 a resident's document")
        runtime.keystore.generate("private-files-test", KeyKind.ED25519)
        with runtime.engine.begin() as conn:
            conn.execute(text("CREATE TABLE written_after_opening (x INTEGER)"))
    finally:
        runtime.close()


def _in_a_fresh_process(var: Path) -> None:
    """SoftHSM2 reads its configuration once per process, and this one has opened the tests' token already."""
    done = subprocess.run(
        [sys.executable, "-c", f"from tests.core.test_private_files import open_and_use; open_and_use({str(var)!r})"],
        cwd=PROJECT,
        umask=PERMISSIVE,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def test_a_runtime_opened_on_an_empty_var_makes_everything_private(tmp_path: Path) -> None:
    var = tmp_path / "var"
    _in_a_fresh_process(var)
    made = _modes(var)
    assert "sealgate.db" in made
    assert any(p.startswith("blobs/") and len(Path(p).name) == 64 for p in made)
    assert any(p.endswith(".pin") for p in made)
    assert any(p.startswith("softhsm/tokens/") for p in made)
    assert _public(var) == {}


def test_what_exists_keeps_its_mode(tmp_path: Path) -> None:
    """A narrower umask never loosens anything; modes an operator chose stay."""
    var = tmp_path / "var"
    var.mkdir(mode=0o750)
    var.chmod(0o750)
    readable = var / "note.txt"
    readable.write_text("left by the operator")
    readable.chmod(0o440)
    _in_a_fresh_process(var)
    assert stat.S_IMODE(var.stat().st_mode) == 0o750
    assert stat.S_IMODE(readable.stat().st_mode) == 0o440
    assert {p: m for p, m in _public(var).items() if p not in (".", "note.txt")} == {}


def test_a_command_makes_its_state_private(tmp_path: Path, permissive_umask: None) -> None:
    """A ``sealgate`` command runs with a private umask, and gives the caller's back when it ends."""
    seen: list[int] = []
    done = CliRunner().invoke(app, ["db", "upgrade"], env={"SEALGATE_VAR_DIR": str(tmp_path / "var")})
    assert done.exit_code == 0, done.output
    seen.append(os.umask(PERMISSIVE))
    assert seen == [PERMISSIVE]
    assert (tmp_path / "var" / "sealgate.db").exists()
    assert _public(tmp_path / "var") == {}


def test_the_command_umask_holds_while_it_runs(permissive_umask: None) -> None:
    """What a command writes after opening (audit state, sealing files) is private too."""
    ctx = typer.Context(typer.main.get_command(app), obj=CliState(None))
    with ctx:
        state(ctx)
        inside = os.umask(PERMISSIVE)
        os.umask(inside)
    assert inside & 0o077 == 0o077
    assert os.umask(PERMISSIVE) == PERMISSIVE
