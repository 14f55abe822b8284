"""The container image as built by ``make image-test``, run under chroot: on the embedded defaults (SQLite and a
development SoftHSM2 token made on first start) and on a fresh PostgreSQL database, each until /readyz answers.

Skipped unless SEALGATE_IMAGE names a built image (``make test`` therefore skips it); needs root for chroot and
the /proc mount. The PostgreSQL server is the one CI uses (SEALGATE_CI_PG_HOST, _PORT, _USER; trust auth).
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from psycopg import sql

from tests.image.rootfs import Account, ImageConfig, chroot_command, empty_directory, environment, exported, serving

IMAGE = os.environ.get("SEALGATE_IMAGE", "")
PG_HOST = os.environ.get("SEALGATE_CI_PG_HOST", "127.0.0.1")
PG_PORT = os.environ.get("SEALGATE_CI_PG_PORT", "5432")
PG_USER = os.environ.get("SEALGATE_CI_PG_USER", "postgres")
ROOTFS_PARENT = Path(os.environ.get("SEALGATE_IMAGE_ROOTFS_PARENT", "/var/tmp"))

pytestmark = pytest.mark.skipif(not IMAGE, reason="no built image: `make image-test` builds one, sets SEALGATE_IMAGE")

# What the service needs of the system at run time, checked as its user: fonts for the seals' lettering and the
# documents, WeasyPrint's Pango, qpdf, SoftHSM2, the time zone the pages show.
RUNTIME_CHECK = """
import shutil, zoneinfo
from signer.outlines import default_face
from weasyprint import HTML
assert shutil.which("qpdf") and shutil.which("softhsm2-util"), "qpdf or softhsm2-util missing"
pdf = HTML(string="<p>水南村 村民委员会</p>").write_pdf()
assert pdf.startswith(b"%PDF"), "WeasyPrint made no PDF"
print(default_face().path, zoneinfo.ZoneInfo("Asia/Shanghai"))
"""


@pytest.fixture(scope="module")
def config() -> ImageConfig:
    if os.geteuid() != 0:
        pytest.fail("running the image under chroot needs root (chroot, mount -t proc, mknod)")
    return ImageConfig.inspect(IMAGE)


@pytest.fixture(scope="module")
def root(config: ImageConfig) -> Iterator[Path]:
    started = time.monotonic()
    with exported(IMAGE, ROOTFS_PARENT) as path:
        print(f"\nexported {IMAGE} to {path} in {time.monotonic() - started:.1f} s")
        yield path


@pytest.fixture
def var_dir(root: Path, config: ImageConfig) -> Path:
    """The image's state directory, empty as a fresh volume is."""
    return empty_directory(root, config, config.env["SEALGATE_VAR_DIR"])


@pytest.fixture
def pg_database() -> Iterator[str]:
    """A new database for the run, dropped afterwards; its URL as the service is given it."""
    name = f"sealgate_image_{os.getpid()}_{int(time.time())}"
    admin = f"host={PG_HOST} port={PG_PORT} user={PG_USER} dbname=postgres connect_timeout=5"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield f"postgresql://{PG_USER}@{PG_HOST}:{PG_PORT}/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def test_the_runtime_has_what_the_service_needs(root: Path, config: ImageConfig) -> None:
    done = subprocess.run(
        chroot_command(root, config, ["python", "-c", RUNTIME_CHECK]),
        env=environment(root, config),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "NotoSerifCJK" in done.stdout


def test_the_entrypoint_serves_on_the_embedded_defaults(
    root: Path, config: ImageConfig, var_dir: Path, tmp_path: Path
) -> None:
    with serving(root, config, tmp_path / "serve.log") as base:
        ready = httpx.get(base + "/readyz", timeout=10).json()
        assert ready["status"] == "ready"
        assert ready["database"] == "sqlite"
        assert httpx.get(base + "/healthz", timeout=10).json() == {"status": "ok"}
        sign_in = httpx.get(base + "/login", timeout=10)
        assert sign_in.status_code == 200
        assert "登录" in sign_in.text  # the Chinese catalogues are in the image
    account = Account.find(root, config.user)
    assert account.uid != 0
    assert (var_dir / "sealgate.db").stat().st_uid == account.uid
    assert (var_dir / "softhsm" / "sealgate.pin").stat().st_uid == account.uid
    assert "development SoftHSM2 token" in (tmp_path / "serve.log").read_text()


def test_the_entrypoint_serves_on_postgresql(
    root: Path, config: ImageConfig, var_dir: Path, pg_database: str, tmp_path: Path
) -> None:
    with serving(root, config, tmp_path / "serve.log", SEALGATE_DATABASE__URL=pg_database) as base:
        ready = httpx.get(base + "/readyz", timeout=10).json()
        assert ready["status"] == "ready"
        assert ready["database"] == "postgresql"
    assert not (var_dir / "sealgate.db").exists()
