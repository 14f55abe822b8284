"""The development token: a SoftHSM2 token under ``var/softhsm``, made on first start.

The user PIN is generated and kept in a 0600 file beside the token. That is convenient on a laptop and wrong in
production, so every start on this token logs a warning.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from core.keystore.pool import KeystoreError

SOFTHSM_MODULES = (
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/local/lib/softhsm/libsofthsm2.so",
    "/opt/homebrew/lib/softhsm/libsofthsm2.so",
)


@dataclass(frozen=True)
class DevToken:
    module: Path
    pin: str = field(repr=False)
    pin_file: Path


def find_softhsm_module() -> Path | None:
    for candidate in SOFTHSM_MODULES:
        if Path(candidate).is_file():
            return Path(candidate)
    return None


def provision(directory: Path, label: str) -> DevToken:
    """Make sure the development token exists and point SoftHSM2 at it; returns module and PIN."""
    module = find_softhsm_module()
    if module is None:
        raise KeystoreError("no SoftHSM2 module found for the development token (apt-get install softhsm2)")
    tokens = directory / "tokens"
    tokens.mkdir(parents=True, exist_ok=True, mode=0o700)
    conf = directory / "softhsm2.conf"
    if not conf.exists():
        conf.write_text(
            f"directories.tokendir = {tokens.resolve()}\n"
            "objectstore.backend = file\n"
            "log.level = ERROR\n"
            "slots.removable = false\n"
        )
    os.environ["SOFTHSM2_CONF"] = str(conf.resolve())
    pin_file = directory / f"{label}.pin"
    if not pin_file.exists():
        _init_token(conf, label, pin_file)
    return DevToken(module, pin_file.read_text().strip(), pin_file)


def _init_token(conf: Path, label: str, pin_file: Path) -> None:
    util = shutil.which("softhsm2-util")
    if util is None:
        raise KeystoreError("softhsm2-util is not on PATH (apt-get install softhsm2)")
    pin = secrets.token_urlsafe(24)
    so_pin = secrets.token_urlsafe(24)
    pending = pin_file.with_suffix(".pin.new")
    fd = os.open(pending, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(pin + "\n")
    result = subprocess.run(
        [util, "--init-token", "--free", "--label", label, "--so-pin", so_pin, "--pin", pin],
        env={**os.environ, "SOFTHSM2_CONF": str(conf.resolve())},
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        pending.unlink(missing_ok=True)
        # softhsm2-util's own messages never repeat the PINs it was given; the command line would.
        reason = (result.stderr or result.stdout).strip().splitlines()
        raise KeystoreError(f"softhsm2-util could not create token {label!r}: {reason[-1] if reason else '?'}")
    pending.replace(pin_file)
