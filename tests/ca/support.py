"""What the CA tests share: a fresh key pair in the test token, and the openssl command as an independent check."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

from ca.signing import TokenKey, token_key
from core.keystore import KeyKind, Keystore


def new_key(keystore: Keystore, kind: KeyKind = KeyKind.EC_P256) -> TokenKey:
    label = f"test:{uuid.uuid4().hex[:10]}"
    keystore.generate(label, kind)
    return token_key(keystore, label)


def openssl(*args: str | Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["openssl", *map(str, args)], capture_output=True, text=True, timeout=60, check=False)
    if check and result.returncode != 0:
        raise AssertionError(f"openssl {' '.join(map(str, args))} failed: {result.stdout}{result.stderr}")
    return result
