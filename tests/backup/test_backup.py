"""Backups of the embedded default (SQLite, file blobs, development token): what they hold and leave out, the
refusal of a damaged backup naming the damaged file, and the refusal of a target that is not empty."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import pytest

from core.blobs import FileBlobStore
from core.keystore.devtoken import find_softhsm_module
from ledger.note import Ed25519Signer, SoftwareKey, sign_note
from sealgate.backup import manifest
from sealgate.backup.errors import BackupDamaged

pytestmark = pytest.mark.skipif(find_softhsm_module() is None, reason="SoftHSM2 is not installed")

SECRET = "s3cret-webhook-key-for-the-backup-test"


@dataclass(frozen=True)
class Service:
    env: dict[str, str]
    var: Path
    backup: Path  # taken with the development token

    def pin(self) -> str:
        return (self.var / "softhsm" / "sealgate.pin").read_text().strip()


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sealgate", *args], env=env, capture_output=True, text=True, timeout=300, check=False
    )


def _environment(var: Path) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("SEALGATE_")},
        "SEALGATE_VAR_DIR": str(var),
        "SEALGATE_WORKFLOW__NOTIFICATION_WEBHOOK_SECRET": SECRET,
    }


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Service:
    """The demo with a signed checkpoint and a blob, backed up with its development token."""
    root = tmp_path_factory.mktemp("service")
    env = _environment(root / "var")
    for command in (("ca", "init"), ("demo",), ("log", "integrate", "--once")):
        done = _cli(env, *command)
        assert done.returncode == 0, done.stdout + done.stderr
    FileBlobStore(root / "var" / "blobs").put(b"%PDF-1.7 a document under the seal\n")
    done = _cli(env, "backup", str(root / "backup"), "--include-dev-token")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "never its PIN" in done.stderr
    return Service(env, root / "var", root / "backup")


def test_a_backup_holds_the_database_blobs_settings_and_public_parts_and_never_a_pin(service: Service) -> None:
    checked = manifest.read_checked(service.backup)
    names = set(checked.files)
    assert "database/sealgate.db" in names
    assert any(n.startswith("blobs/") for n in names)
    assert {"settings.toml", "public/checkpoint", "public/log.vkey"} <= names
    assert any(n.startswith("public/certificates/root-") for n in names)
    assert any(n.startswith("token/") for n in names)
    assert checked.about["log"]["size"] > 0
    pin, everything = service.pin().encode(), b""
    for name in names:
        everything += (service.backup / name).read_bytes()
    assert pin not in everything
    assert SECRET.encode() not in everything
    with closing(sqlite3.connect(service.backup / "database/sealgate.db")) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert conn.execute("SELECT count(*) FROM users").fetchone()[0] > 0


def test_without_the_flag_the_token_stays_out(service: Service, tmp_path: Path) -> None:
    done = _cli(service.env, "backup", str(tmp_path / "plain"))
    assert done.returncode == 0, done.stderr
    assert not any(n.startswith("token/") for n in manifest.read_checked(tmp_path / "plain").files)


def test_a_backup_goes_only_into_a_new_or_empty_directory(service: Service, tmp_path: Path) -> None:
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "notes.txt").write_text("kept")
    done = _cli(service.env, "backup", str(tmp_path / "old"))
    assert done.returncode == 1
    assert "not an empty directory" in done.stderr
    assert os.listdir(tmp_path / "old") == ["notes.txt"]


def test_every_file_changed_by_one_byte_is_named(service: Service, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    names = [*manifest.read_checked(service.backup).files, manifest.NAME]
    for name in names:
        shutil.rmtree(copy, ignore_errors=True)
        shutil.copytree(service.backup, copy)
        target = copy / name
        data = bytearray(target.read_bytes())
        data[len(data) // 2] ^= 0x01
        target.write_bytes(bytes(data))
        with pytest.raises(BackupDamaged) as refused:
            manifest.read_checked(copy)
        assert name in refused.value.detail


def test_a_file_added_or_taken_away_is_named(service: Service, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(service.backup, copy)
    (copy / "public" / "extra.pem").write_text("-----BEGIN CERTIFICATE-----\n")
    with pytest.raises(BackupDamaged, match=r"public/extra\.pem"):
        manifest.read_checked(copy)
    (copy / "public" / "extra.pem").unlink()
    (copy / "settings.toml").unlink()
    with pytest.raises(BackupDamaged, match=r"settings\.toml is missing"):
        manifest.read_checked(copy)
    (copy / manifest.NAME).unlink()
    with pytest.raises(BackupDamaged, match="never finished"):
        manifest.read_checked(copy)


def test_a_damaged_backup_is_refused_by_restore_and_nothing_is_written(service: Service, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(service.backup, copy)
    blob = next(n for n in manifest.read_checked(copy).files if n.startswith("blobs/"))
    data = bytearray((copy / blob).read_bytes())
    data[0] ^= 0x20
    (copy / blob).write_bytes(bytes(data))
    pin = tmp_path / "pin"
    pin.write_text(service.pin())
    target = _environment(tmp_path / "var")
    done = _cli(target, "restore", str(copy), "--pin-file", str(pin))
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"sealgate: {blob} is damaged: its SHA-256 or size is not the one recorded"
    ]
    assert not (tmp_path / "var").exists()


def test_restore_with_the_token_gives_a_service_whose_log_audits(service: Service, tmp_path: Path) -> None:
    pin = tmp_path / "pin"
    pin.write_text(service.pin())
    target = _environment(tmp_path / "var")
    refused = _cli(target, "restore", str(service.backup))
    assert refused.returncode == 1
    assert "--pin-file" in refused.stderr
    assert not (tmp_path / "var" / "sealgate.db").exists()
    done = _cli(target, "restore", str(service.backup), "--pin-file", str(pin))
    assert done.returncode == 0, done.stderr
    audited = _cli(target, "log", "audit")
    assert audited.returncode == 0, audited.stdout + audited.stderr
    blobs = FileBlobStore(tmp_path / "var" / "blobs")
    assert blobs.get(next(n for n in manifest.read_checked(service.backup).files if n.startswith("blobs/"))[-64:])
    again = _cli(target, "restore", str(service.backup), "--pin-file", str(pin))
    assert again.returncode == 1
    assert "already holds" in again.stderr or "already a token" in again.stderr


def test_a_non_empty_blob_store_or_token_is_refused_before_anything_is_written(
    service: Service, tmp_path: Path
) -> None:
    pin = tmp_path / "pin"
    pin.write_text(service.pin())
    FileBlobStore(tmp_path / "var" / "blobs").put(b"someone else's blob")
    done = _cli(_environment(tmp_path / "var"), "restore", str(service.backup), "--pin-file", str(pin))
    assert done.returncode == 1
    assert f"the blob store {tmp_path / 'var' / 'blobs'} is not empty" in done.stderr
    assert not (tmp_path / "var" / "sealgate.db").exists()
    assert not (tmp_path / "var" / "softhsm").exists()


def test_a_seen_checkpoint_beyond_the_backup_is_refused(service: Service, tmp_path: Path) -> None:
    """An auditor saw a longer log than this backup holds: restoring it would fork what was seen."""
    later = tmp_path / "later"
    shutil.copytree(service.var, later)
    env = _environment(later)
    added = _cli(env, "users", "add", "backup.tester", "--name", "测试员", "--generate-password")
    assert added.returncode == 0, added.stdout + added.stderr
    integrated = _cli(env, "log", "integrate", "--once")
    assert integrated.returncode == 0, integrated.stdout + integrated.stderr
    seen = tmp_path / "seen"
    with closing(sqlite3.connect(later / "sealgate.db")) as conn:
        seen.write_text(conn.execute("SELECT note FROM ledger_checkpoints ORDER BY size DESC LIMIT 1").fetchone()[0])
    size = int(seen.read_text().split("\n")[1])
    assert size > manifest.read_checked(service.backup).about["log"]["size"]
    pin = tmp_path / "pin"
    pin.write_text(service.pin())
    target = _environment(tmp_path / "var")
    done = _cli(target, "restore", str(service.backup), "--pin-file", str(pin), "--seen-checkpoint", str(seen))
    assert done.returncode == 1
    assert f"shows the log at {size} entries" in done.stderr
    assert not (tmp_path / "var").exists()
    assert json.loads((service.backup / manifest.NAME).read_text())["format"] == manifest.FORMAT


def test_restore_onto_a_new_machine_that_names_the_hsm(service: Service, tmp_path: Path) -> None:
    """A backup without the token, onto a machine with no var/ yet, its keys in the HSM the settings name."""
    plain = tmp_path / "plain"
    taken = _cli(service.env, "backup", str(plain))
    assert taken.returncode == 0, taken.stdout + taken.stderr
    token = service.var / "softhsm"
    target = {
        **_environment(tmp_path / "new" / "var"),
        "SEALGATE_KEYSTORE__MODULE": str(find_softhsm_module()),
        "SEALGATE_KEYSTORE__PIN_FILE": str(token / "sealgate.pin"),
        "SOFTHSM2_CONF": str(token / "softhsm2.conf"),
    }
    done = _cli(target, "restore", str(plain))
    assert done.returncode == 0, done.stdout + done.stderr
    audited = _cli(target, "log", "audit")
    assert audited.returncode == 0, audited.stdout + audited.stderr


def test_a_damaged_blob_store_stops_the_backup_and_leaves_nothing(service: Service, tmp_path: Path) -> None:
    var = tmp_path / "var"
    shutil.copytree(service.var, var)
    store = FileBlobStore(var / "blobs")
    name = store.put(b"%PDF-1.7 to be damaged\n").sha256
    store.location(name).write_bytes(b"%PDF-1.7 damaged\n")
    target = tmp_path / "backup"
    done = _cli(_environment(var), "backup", str(target))
    assert done.returncode == 1
    assert f"blob {name}" in done.stderr
    assert "is damaged" in done.stderr
    assert list(target.iterdir()) == []


def test_a_seen_checkpoint_not_signed_by_the_log_is_refused(service: Service, tmp_path: Path) -> None:
    """A checkpoint forged with another key, or no checkpoint at all, cannot stand in for what auditors saw."""
    real = (service.backup / "public" / "checkpoint").read_text()
    origin, size, root = real.split("\n")[:3]
    key = SoftwareKey.generate()
    forged = sign_note(f"{origin}\n{int(size) + 100}\n{root}\n", [Ed25519Signer(origin, key.sign, key.public)])
    pin = tmp_path / "pin"
    pin.write_text(service.pin())
    for name, text in (("forged", forged), ("garbage", "not a checkpoint\n")):
        seen = tmp_path / name
        seen.write_text(text)
        target = _environment(tmp_path / f"{name}-var")
        done = _cli(target, "restore", str(service.backup), "--pin-file", str(pin), "--seen-checkpoint", str(seen))
        assert done.returncode == 1, name
        assert f"{seen} is not a checkpoint of this log" in done.stderr, done.stderr
        assert not (tmp_path / f"{name}-var").exists()
