"""The architecture contract in pyproject.toml, checked by import-linter in ``make lint``: it holds for the tree,
and an import that points up a floor breaks it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("sealgate", "api", "workflow", "physical_seal", "signer", "ca", "identity", "ledger", "core")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(tree / "pyproject.toml"), "--no-cache"],
        cwd=tree,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def copy_of_the_tree(target: Path) -> Path:
    for package in PACKAGES:
        shutil.copytree(ROOT / package, target / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", target / "pyproject.toml")
    return target


def test_the_tree_keeps_the_contract(tmp_path: Path) -> None:
    checked = lint_imports(copy_of_the_tree(tmp_path))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "2 kept, 0 broken" in checked.stdout


def test_an_upward_import_breaks_it(tmp_path: Path) -> None:
    tree = copy_of_the_tree(tmp_path)
    with (tree / "core" / "clock.py").open("a") as f:
        f.write("\nfrom ledger import merkle  # noqa: E402,F401\n")
    checked = lint_imports(tree)
    assert checked.returncode != 0
    assert "core.clock -> ledger.merkle" in checked.stdout


def test_fastapi_below_the_api_breaks_it(tmp_path: Path) -> None:
    tree = copy_of_the_tree(tmp_path)
    with (tree / "workflow" / "views.py").open("a") as f:
        f.write("\nimport fastapi  # noqa: E402,F401\n")
    checked = lint_imports(tree)
    assert checked.returncode != 0
    assert "workflow.views -> fastapi" in checked.stdout


def test_only_the_top_and_the_tests_import_the_top() -> None:
    """The layers contract covers the apps; the benchmarks, outside it, may not reach the top either."""
    found = []
    for path in sorted(ROOT.glob("*/**/*.py")):
        relative = path.relative_to(ROOT)
        if relative.parts[0] in ("sealgate", "tests", ".venv", "var", "build") or "site-packages" in relative.parts:
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if line.strip().startswith(("from sealgate ", "from sealgate.", "import sealgate")):
                found.append(f"{relative}:{number}: {line.strip()}")
    assert found == []
