"""The benchmarks stand beside the tests, not on them: no module of bench/ imports ``tests``, and each imports."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
MODULES = sorted(path.stem for path in BENCH.glob("*.py") if path.stem != "__init__")


def imported_packages(path: Path) -> set[str]:
    """The top-level packages a module names in its import statements, wherever they stand in it."""
    packages: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            packages.update(alias.name.partition(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module is not None:
            packages.add(node.module.partition(".")[0])
    return packages


def test_bench_imports_nothing_from_tests() -> None:
    offenders = [path.name for path in sorted(BENCH.glob("*.py")) if "tests" in imported_packages(path)]
    assert offenders == []


@pytest.mark.parametrize("module", MODULES)
def test_each_benchmark_imports(module: str) -> None:
    importlib.import_module(f"bench.{module}")
