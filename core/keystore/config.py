"""From the settings in force to an open keystore, with errors that name the setting at fault."""

from __future__ import annotations

import logging
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path

from filelock import FileLock

from core.errors import ConfigError
from core.keystore import devtoken
from core.keystore.pool import KeystoreError, ModuleLoadError, PinRejected, TokenNotFound
from core.keystore.store import Keystore
from core.private import private_files
from core.settings import Settings, env_name

MODULE = env_name("keystore", "module")
TOKEN_LABEL = env_name("keystore", "token_label")
PIN = env_name("keystore", "pin")
PIN_FILE = env_name("keystore", "pin_file")
VAR_DIR = env_name("var_dir")

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _PinSource:
    pin: str = field(repr=False)
    setting: str
    where: str


def open_keystore(settings: Settings) -> Keystore:
    """The keystore in force; the development token, its configuration and PIN are made private."""
    ks = settings.keystore
    with private_files(), _opening(settings):
        module, source = _module_and_pin(settings)
        keystore = _open(module, ks.token_label, source, ks.pool_size)
    if ks.module is None:
        log.warning(
            "using the development SoftHSM2 token %r under %s, its PIN in a file beside it; "
            "set %s and a PIN source for production",
            ks.token_label,
            settings.softhsm_dir,
            MODULE,
        )
    return keystore


def _opening(settings: Settings) -> AbstractContextManager[object]:
    """Processes that open the development token at the same moment take turns.

    A process that opens a SoftHSM2 file token while another opens and logs in to it may find no token or get
    CKR_GENERAL_ERROR (seen about one start in three with four processes), and two processes making the token
    at once would make two with one label.
    """
    if settings.keystore.module is not None:
        return nullcontext()
    try:
        settings.softhsm_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    except PermissionError as exc:
        raise ConfigError(
            VAR_DIR, f"cannot write the development token under {settings.softhsm_dir}: {exc.strerror}"
        ) from None
    return FileLock(str(settings.softhsm_dir / "open.lock"), mode=0o600)


def _open(module: Path, token_label: str, source: _PinSource, pool_size: int) -> Keystore:
    try:
        return Keystore(module, token_label, source.pin, pool_size)
    except ModuleLoadError as exc:
        raise ConfigError(MODULE, str(exc)) from None
    except TokenNotFound as exc:
        raise ConfigError(TOKEN_LABEL, str(exc)) from None
    except PinRejected as exc:
        raise ConfigError(source.setting, f"{exc} (PIN from {source.where})") from None


def _module_and_pin(settings: Settings) -> tuple[Path, _PinSource]:
    ks = settings.keystore
    given: _PinSource | None = None
    if ks.pin is not None:
        given = _PinSource(ks.pin.get_secret_value(), PIN, PIN)
    elif ks.pin_file is not None:
        given = _PinSource(_read_pin_file(ks.pin_file), PIN_FILE, str(ks.pin_file))
    if ks.module is not None:
        if given is None:
            raise ConfigError(PIN, f"a PIN is needed for token {ks.token_label!r}: set {PIN} or {PIN_FILE}")
        return ks.module, given
    try:
        dev = devtoken.provision(settings.softhsm_dir, ks.token_label)
    except PermissionError as exc:
        raise ConfigError(
            VAR_DIR, f"cannot write the development token under {settings.softhsm_dir}: {exc.strerror}"
        ) from None
    except KeystoreError as exc:
        raise ConfigError(MODULE, f"unset, and the development token cannot be made: {exc}") from None
    return dev.module, given or _PinSource(dev.pin, VAR_DIR, str(dev.pin_file))


def _read_pin_file(path: Path) -> str:
    try:
        pin = path.read_text().strip()
    except OSError as exc:
        raise ConfigError(PIN_FILE, f"cannot read {path}: {exc.strerror}") from None
    if not pin:
        raise ConfigError(PIN_FILE, f"{path} is empty")
    return pin
