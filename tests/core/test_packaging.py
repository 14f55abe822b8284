"""The wheel carries every file the service reads besides its code, where the code looks for it.

The container image installs a wheel, not the checkout: a catalogue, template or data file left out of it shows
only there, and quietly (the web pages fell back to English when ``locales/`` was missing). The wheel is built from
a copy of the checkout as ``pip install .`` builds it (in an isolated environment: the project asks for a newer
setuptools than the virtualenv's), unpacked, and imported from outside the checkout.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from core import migrate
from sealgate import MIGRATIONS

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
# Files the code reads by its own path: the pages' catalogues and templates, the documents' templates, the shipped
# catalogue, the demo's data, the migrations.
DATA = ("locales", "templates", "workflow/data", "sealgate/cli/yazhou.json", "sealgate/migrations")
# What the wheel is not built from (as .dockerignore), and what would be left in the copy by a build or a test run.
NOT_SOURCE = {".git", ".venv", "var", "build", "tests", "bench", "docs", ".hypothesis"}
CACHES = ("__pycache__", "*.pyc", "*.egg-info", ".*_cache")

# Run in a fresh interpreter with only the unpacked wheel ahead of the virtualenv: the project's own functions find
# their files, and say what they found.
PROBE = """
import json, sys
from importlib import resources
from pathlib import Path
from types import SimpleNamespace

from api import i18n
from core import migrate
from sealgate import MIGRATIONS
from workflow import catalogs, documents

site = Path(sys.argv[1]).resolve()
for module in (i18n, catalogs, documents, migrate):
    assert Path(module.__file__).resolve().is_relative_to(site), f"{module.__name__} imported from {module.__file__}"
catalog = catalogs.check(catalogs.read(catalogs.SHIPPED))  # checks that every matter's template is there
matter = next(m for m in catalog.matters if m.template == "winter_vegetable_subsidy.html")
document = documents.html(matter.template, {
    "matter": matter,
    "organisation": SimpleNamespace(name="水南村民委员会"),
    "form": {},
    "request": SimpleNamespace(number="SG-2026-000001", purpose="种植补贴"),
    "today": "2026年12月6日",
})
print(json.dumps({
    "sign_in": i18n.translations("zh_CN").gettext("Sign in"),
    "page": i18n.pages("zh_CN").get_template("error.html").render(
        status_code=404, said="There is no such page, or you may not see it.", detail="", notice=None
    ),
    "document": document,
    "static": sorted(str(p.relative_to(i18n.PAGES / "static")) for p in (i18n.PAGES / "static").rglob("*.js")),
    "head": migrate.head(MIGRATIONS),
    "demo": sorted(json.loads(resources.files("sealgate.cli").joinpath("yazhou.json").read_text("utf-8"))),
}))
"""


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The built wheel; the copy keeps build/ and *.egg-info out of the shared checkout."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"
    shutil.copytree(ROOT, source, ignore=_not_source)
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(work / "dist"), str(source)],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    (found,) = (work / "dist").glob("sealgate-*.whl")
    return found


def _not_source(directory: str, names: list[str]) -> set[str]:
    ignored = set(shutil.ignore_patterns(*CACHES)(directory, names))
    return ignored | (NOT_SOURCE & set(names) if Path(directory) == ROOT else set())


def _files(path: Path) -> set[str]:
    """The files at or under ``path`` as wheel entries (paths relative to the checkout)."""
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    return {p.relative_to(ROOT).as_posix() for p in files if "__pycache__" not in p.parts and p.suffix != ".pyc"}


def test_the_wheel_carries_every_file_of_its_packages(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        entries = set(archive.namelist())
        (listing,) = (name for name in entries if name.endswith(".dist-info/top_level.txt"))
        top_level = archive.read(listing).decode().split()
    assert {"locales", "templates", "workflow", "sealgate", "api"} <= set(top_level)
    expected = set().union(*(_files(ROOT / name) for name in (*DATA, *top_level)))
    assert "locales/zh_CN/LC_MESSAGES/pages.po" in expected
    assert sorted(expected - entries) == []


def test_the_unpacked_wheel_shows_chinese_pages_and_documents(wheel: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site)}
    ran = subprocess.run(
        [sys.executable, "-P", "-c", PROBE, str(site)],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert ran.returncode == 0, ran.stderr
    found = json.loads(ran.stdout)
    assert found["sign_in"] == "登录"
    assert 'lang="zh-CN"' in found["page"]
    assert "未找到" in found["page"]
    assert "返回首页" in found["page"]
    assert "没有这个页面，或您无权查看。" in found["page"]  # the pages' catalogue of the wheel, pages.po
    assert "冬季瓜菜种植补贴申请表" in found["document"]
    assert {"swagger-init.js", "vendor/htmx/htmx.min.js", "vendor/swagger-ui/swagger-ui-bundle.js"} <= set(
        found["static"]
    )
    assert found["head"] == migrate.head(MIGRATIONS)
    assert found["demo"]
