"""``sealgate serve`` refuses a bad setting with one line naming it, and never shows the PIN."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
import pytest

from core.keystore.devtoken import find_softhsm_module
from tests.cli.support import run, serving

SOFTHSM = str(find_softhsm_module())
SECRET_PIN = "pin-that-must-stay-secret-8841"


def one_line_error(result: subprocess.CompletedProcess[str], setting: str) -> str:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert lines[0].startswith(f"sealgate: {setting}: "), lines[0]
    assert SECRET_PIN not in result.stderr + result.stdout
    return lines[0]


def test_wrong_module_path(tmp_path: Path) -> None:
    result = run(
        tmp_path,
        "serve",
        SEALGATE_KEYSTORE__MODULE="/opt/nowhere/libpkcs11.so",
        SEALGATE_KEYSTORE__PIN=SECRET_PIN,
    )
    assert "/opt/nowhere/libpkcs11.so" in one_line_error(result, "SEALGATE_KEYSTORE__MODULE")


def test_module_that_is_not_pkcs11(tmp_path: Path) -> None:
    not_a_module = tmp_path / "libfake.so"
    not_a_module.write_bytes(b"\x7fELF this is not a library")
    result = run(tmp_path, "serve", SEALGATE_KEYSTORE__MODULE=str(not_a_module), SEALGATE_KEYSTORE__PIN=SECRET_PIN)
    assert "cannot load" in one_line_error(result, "SEALGATE_KEYSTORE__MODULE")


def test_wrong_pin(tmp_path: Path) -> None:
    result = run(tmp_path, "serve", SEALGATE_KEYSTORE__PIN=SECRET_PIN)
    assert "refused the PIN" in one_line_error(result, "SEALGATE_KEYSTORE__PIN")


def test_wrong_pin_from_a_file(tmp_path: Path) -> None:
    pin_file = tmp_path / "pin"
    pin_file.write_text(SECRET_PIN + "\n")
    result = run(tmp_path, "serve", SEALGATE_KEYSTORE__PIN_FILE=str(pin_file))
    assert str(pin_file) in one_line_error(result, "SEALGATE_KEYSTORE__PIN_FILE")


def test_missing_token(tmp_path: Path) -> None:
    tokens = tmp_path / "tokens"
    tokens.mkdir()
    conf = tmp_path / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {tokens}\nobjectstore.backend = file\n")
    result = run(
        tmp_path,
        "serve",
        SOFTHSM2_CONF=str(conf),
        SEALGATE_KEYSTORE__MODULE=SOFTHSM,
        SEALGATE_KEYSTORE__TOKEN_LABEL="seal-office",
        SEALGATE_KEYSTORE__PIN=SECRET_PIN,
    )
    assert "'seal-office'" in one_line_error(result, "SEALGATE_KEYSTORE__TOKEN_LABEL")


def test_production_module_without_a_pin(tmp_path: Path) -> None:
    result = run(tmp_path, "serve", SEALGATE_KEYSTORE__MODULE=SOFTHSM)
    one_line_error(result, "SEALGATE_KEYSTORE__PIN")


def test_unreachable_database(tmp_path: Path) -> None:
    result = run(
        tmp_path,
        "serve",
        SEALGATE_DATABASE__URL="postgresql://sealgate:db-secret@127.0.0.1:1/sealgate",
        SEALGATE_DATABASE__CONNECT_TIMEOUT_SECONDS="2",
    )
    line = one_line_error(result, "SEALGATE_DATABASE__URL")
    assert "db-secret" not in line
    assert "127.0.0.1:1" in line


def test_unwritable_var_dir(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result = run(tmp_path, "serve", SEALGATE_VAR_DIR=str(blocker / "var"))
    assert "not writable" in one_line_error(result, "SEALGATE_VAR_DIR")


def test_unwritable_blob_dir(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result = run(tmp_path, "serve", SEALGATE_BLOBS__PATH=str(blocker / "blobs"))
    one_line_error(result, "SEALGATE_BLOBS__PATH")


def test_bad_setting_value(tmp_path: Path) -> None:
    result = run(tmp_path, "serve", SEALGATE_KEYSTORE__POOL_SIZE="many")
    one_line_error(result, "SEALGATE_KEYSTORE__POOL_SIZE")


@pytest.mark.slow
def test_the_pin_never_reaches_the_logs(tmp_path: Path) -> None:
    """Serve at DEBUG with the PIN given explicitly, use the keystore, and search every line written."""
    first = run(tmp_path, "db", "upgrade")
    assert first.returncode == 0, first.stderr
    with serving(tmp_path, tmp_path / "first.log") as base:
        assert httpx.get(base + "/readyz").status_code == 200
    pin = (tmp_path / "var/softhsm/sealgate.pin").read_text().strip()
    assert len(pin) >= 16

    log = tmp_path / "serve.log"
    with serving(tmp_path, log, SEALGATE_KEYSTORE__PIN=pin, SEALGATE_LOG_LEVEL="DEBUG") as base:
        assert httpx.get(base + "/readyz").status_code == 200
        httpx.post(base + "/api/v1/auth/token", data={"username": "x", "password": pin})
    shown = run(tmp_path, "config", "show", SEALGATE_KEYSTORE__PIN=pin)
    assert shown.returncode == 0
    written = log.read_text()
    assert '"logger": "sealgate.access"' in written
    assert pin not in written
    assert pin not in shown.stdout + shown.stderr
