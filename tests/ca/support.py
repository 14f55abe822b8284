"""What the CA tests share: a fresh key pair in the test token."""

from __future__ import annotations

import uuid

from ca.signing import TokenKey, token_key
from sealgate.keystore import KeyKind, Keystore


def new_key(keystore: Keystore, kind: KeyKind = KeyKind.EC_P256) -> TokenKey:
    label = f"test:{uuid.uuid4().hex[:10]}"
    keystore.generate(label, kind)
    return token_key(keystore, label)
