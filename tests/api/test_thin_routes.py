"""Routes are thin, the pages' as the API's: a route parses, calls one service function of its app and renders.
Queries and permission rules live in the apps' services, so no router file runs SQL or decides who may do what
itself."""

from __future__ import annotations

from pathlib import Path

ROUTERS = Path(__file__).resolve().parents[2] / "api" / "routers"
PAGES = ROUTERS.parent / "pages"
SHARED = {"base.py", "session.py", "__init__.py"}  # the pages' gate (Requires) lives in base, once
SQL = ("select(", "session.execute", "session.scalar", "session.get(", ".query(")
PERMISSION = (".holds(", "Forbidden(")


def _found(markers: tuple[str, ...]) -> list[str]:
    return [
        f"{path.relative_to(ROUTERS.parents[1])}:{number}: {line.strip()}"
        for path in sorted(ROUTERS.glob("*.py")) + sorted(p for p in PAGES.glob("*.py") if p.name not in SHARED)
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if any(marker in line for marker in markers)
    ]


def test_the_routers_are_there() -> None:
    assert len(list(ROUTERS.glob("*.py"))) > 5


def test_no_router_runs_a_query() -> None:
    assert _found(SQL) == []


def test_no_router_decides_permissions() -> None:
    assert _found(PERMISSION) == []
