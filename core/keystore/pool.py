"""PKCS#11 plumbing shared by every keystore in the process: loaded modules, token logins, session pools.

Four facts of PKCS#11 shape this module. A module can be initialised once per process, so loaded modules are
shared. It must be told at ``C_Initialize`` that several threads will call it: python-pkcs11 passes NULL, which
lets SoftHSM2 drop all its locks (and crash under threads), so the module is initialised again here with
CKF_OS_LOCKING_OK through ctypes, the one call python-pkcs11 does not offer. Login state belongs to the
application, not the session: a second ``C_Login`` fails and closing a logged-in session logs every session out,
so one login session per token is kept, counted, and closed last. A session must not be used by two threads at
once, so each caller borrows a whole session from a pool.
"""

from __future__ import annotations

import ctypes
import hmac
import os
import queue
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar, TypeVarTuple, cast

import pkcs11
import pkcs11.exceptions as p11e

if TYPE_CHECKING:
    from pkcs11._pkcs11 import lib as Pkcs11Module


class KeystoreError(Exception):
    """The keystore cannot do what was asked; the message never carries a PIN."""


class ModuleLoadError(KeystoreError):
    pass


class TokenNotFound(KeystoreError):
    pass


class PinRejected(KeystoreError):
    pass


# Errors after which a session is no longer usable and is replaced rather than returned to the pool.
SESSION_LOST = (
    p11e.SessionHandleInvalid,
    p11e.SessionClosed,
    p11e.DeviceRemoved,
    p11e.DeviceError,
    p11e.TokenNotPresent,
    p11e.UserNotLoggedIn,
)


@dataclass
class _Module:
    lib: Pkcs11Module
    softhsm_conf: str | None
    users: int = 0


@dataclass
class _Login:
    session: pkcs11.Session
    pin: str = field(repr=False)
    users: int = 0

    def renew(self, token: pkcs11.Token) -> None:
        """Log in again after the token forgot us (an HSM restart); a failure surfaces on the next use."""
        _close_quietly(self.session)
        try:
            self.session = token.open(rw=True, user_pin=self.pin)
        except p11e.UserAlreadyLoggedIn:
            self.session = token.open(rw=True)
        except p11e.PKCS11Error:
            pass


T = TypeVar("T")
Ts = TypeVarTuple("Ts")

CKF_OS_LOCKING_OK = 0x00000002


class _InitArgs(ctypes.Structure):
    _fields_ = (
        ("create_mutex", ctypes.c_void_p),
        ("destroy_mutex", ctypes.c_void_p),
        ("lock_mutex", ctypes.c_void_p),
        ("unlock_mutex", ctypes.c_void_p),
        ("flags", ctypes.c_ulong),
        ("reserved", ctypes.c_void_p),
    )


class _Version(ctypes.Structure):
    _fields_ = (("major", ctypes.c_ubyte), ("minor", ctypes.c_ubyte))


_EntryPoint = ctypes.CFUNCTYPE(ctypes.c_ulong, ctypes.c_void_p)


class _FunctionListHead(ctypes.Structure):
    """The first members of CK_FUNCTION_LIST, the only ones used here."""

    _fields_ = (("version", _Version), ("initialize", _EntryPoint), ("finalize", _EntryPoint))


def _initialise_for_threads(path: str, *, finalize_first: bool) -> None:
    """(Re)initialise the module with OS locking, the way a multi-threaded application must."""
    library = ctypes.CDLL(path)  # the same handle python-pkcs11 holds: dlopen counts references
    get_list = library.C_GetFunctionList
    get_list.argtypes = (ctypes.POINTER(ctypes.POINTER(_FunctionListHead)),)
    get_list.restype = ctypes.c_ulong
    functions = ctypes.POINTER(_FunctionListHead)()
    if get_list(ctypes.byref(functions)) != 0:
        raise ModuleLoadError(f"C_GetFunctionList failed in {path}")
    if finalize_first:
        functions.contents.finalize(None)
    args = _InitArgs(flags=CKF_OS_LOCKING_OK)
    rv = functions.contents.initialize(ctypes.addressof(args))
    if rv != 0:
        raise ModuleLoadError(f"C_Initialize with OS locking failed in {path}: CKR 0x{rv:08x}")


_lock = threading.Lock()
_modules: dict[str, _Module] = {}
_logins: dict[tuple[str, str], _Login] = {}


def _acquire_module(path: Path) -> tuple[str, _Module]:
    key = str(path.resolve())
    conf = os.environ.get("SOFTHSM2_CONF")
    module = _modules.get(key)
    if module is None:
        if not path.is_file():
            raise ModuleLoadError(f"no PKCS#11 module at {path}")
        try:
            loaded = pkcs11.lib(key)
        except p11e.PKCS11Error as exc:
            raise ModuleLoadError(f"cannot load PKCS#11 module {path}: {exc}") from None
        loaded.finalize()
        _initialise_for_threads(key, finalize_first=False)
        module = _modules[key] = _Module(loaded, conf)
    elif module.users == 0 and module.softhsm_conf != conf:
        # Nobody holds a session, and the token directory changed: start the module afresh.
        _initialise_for_threads(key, finalize_first=True)
        module.softhsm_conf = conf
    module.users += 1
    return key, module


def _find_token(key: str, module: _Module, label: str) -> pkcs11.Token:
    try:
        return module.lib.get_token(token_label=label)
    except p11e.NoSuchToken:
        if module.users > 1:
            raise
    # Tokens created after the module was initialised are invisible until it is initialised again.
    _initialise_for_threads(key, finalize_first=True)
    return module.lib.get_token(token_label=label)


def _acquire_login(key: str, token: pkcs11.Token, pin: str) -> _Login:
    login = _logins.get((key, token.label))
    if login is not None:
        if not hmac.compare_digest(login.pin.encode(), pin.encode()):
            raise PinRejected("the token refused the PIN")
        login.users += 1
        return login
    try:
        session = token.open(rw=True, user_pin=pin)
    except (p11e.PinIncorrect, p11e.PinInvalid, p11e.PinLenRange):
        raise PinRejected("the token refused the PIN") from None
    except p11e.PinLocked:
        raise PinRejected("the token's user PIN is locked") from None
    except p11e.UserPinNotInitialized:
        raise PinRejected("the token has no user PIN yet") from None
    login = _Login(session, pin, users=1)
    _logins[(key, token.label)] = login
    return login


class SessionPool:
    """A fixed set of read-write sessions on one logged-in token, borrowed one caller at a time."""

    def __init__(self, module_path: Path, token_label: str, pin: str, size: int) -> None:
        self._closed = False
        with _lock:
            self._key, self._module = _acquire_module(module_path)
            try:
                try:
                    self.token = _find_token(self._key, self._module, token_label)
                except p11e.NoSuchToken:
                    raise TokenNotFound(f"no token labelled {token_label!r} in {module_path}") from None
                self._login = _acquire_login(self._key, self.token, pin)
            except BaseException:
                self._module.users -= 1
                raise
        self._idle: queue.SimpleQueue[PooledSession] = queue.SimpleQueue()
        self._refill = threading.Lock()
        self._missing = 0
        self._size = size
        for _ in range(size):
            self._idle.put(PooledSession(self.token.open(rw=True)))

    @property
    def size(self) -> int:
        return self._size

    def call(self, operation: Callable[[PooledSession, *Ts], T], *args: *Ts) -> T:
        """Run ``operation(session, *args)`` on a borrowed session: the hot path, without a generator."""
        pooled = self._borrow(30.0)
        try:
            result = operation(pooled, *args)
        except SESSION_LOST as exc:
            self._discard(pooled, exc)
            raise
        except BaseException:
            self._give_back(pooled)
            raise
        self._give_back(pooled)
        return result

    @contextmanager
    def session(self, timeout: float = 30.0) -> Iterator[PooledSession]:
        pooled = self._borrow(timeout)
        try:
            yield pooled
        except SESSION_LOST as exc:
            self._discard(pooled, exc)
            raise
        except BaseException:
            self._give_back(pooled)
            raise
        self._give_back(pooled)

    def _give_back(self, pooled: PooledSession) -> None:
        if self._closed:
            _close_quietly(pooled.session)
        else:
            self._idle.put(pooled)

    def _discard(self, pooled: PooledSession, exc: BaseException) -> None:
        """The session died with the token (HSM restart, network loss): drop it, open a new one next time."""
        _close_quietly(pooled.session)
        with self._refill:
            self._missing += 1
        if isinstance(exc, p11e.UserNotLoggedIn):
            with _lock:
                self._login.renew(self.token)

    def _borrow(self, timeout: float) -> PooledSession:
        if self._missing:
            self._refill_one()
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            pass
        if self._closed:
            raise KeystoreError("the keystore is closed")
        try:
            return self._idle.get(timeout=timeout)
        except queue.Empty:
            raise KeystoreError(f"no keystore session became free within {timeout:g} s") from None

    def _refill_one(self) -> None:
        with self._refill:
            if self._missing and not self._closed:
                try:
                    self._idle.put(PooledSession(self.token.open(rw=True)))
                except p11e.PKCS11Error as exc:
                    raise KeystoreError(f"cannot open a session on the token: {exc}") from None
                self._missing -= 1

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        while True:
            try:
                _close_quietly(self._idle.get_nowait().session)
            except queue.Empty:
                break
        with _lock:
            self._login.users -= 1
            if self._login.users == 0:
                _close_quietly(self._login.session)
                del _logins[(self._key, self.token.label)]
            self._module.users -= 1


class PooledSession:
    """A session and the private-key handles already looked up in it."""

    __slots__ = ("keys", "session")

    def __init__(self, session: pkcs11.Session) -> None:
        self.session = session
        self.keys: dict[str, pkcs11.PrivateKey] = {}

    def private_key(self, label: str) -> pkcs11.PrivateKey:
        key = self.keys.get(label)
        if key is None:
            found = self.session.get_key(object_class=pkcs11.ObjectClass.PRIVATE_KEY, label=label)
            key = self.keys[label] = cast(pkcs11.PrivateKey, found)
        return key


def _close_quietly(session: pkcs11.Session) -> None:
    with suppress(p11e.PKCS11Error):
        session.close()
