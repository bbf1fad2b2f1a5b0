"""Envelope encryption of DoltHub tokens at rest (AES-256-GCM).

Each record gets a fresh random 256-bit data key that encrypts the token; the data key
is itself encrypted ("wrapped") by a key-encryption key chosen from a keyring by key id.
Both encryptions carry associated data naming the record's owner (``wasteland_id:user_id``),
so a ciphertext copied onto another row no longer decrypts. Rotation: add a new key to
the ring, make it active, then :func:`rewrap` old records; any key still in the ring
decrypts.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_BYTES = 32
NONCE_BYTES = 12
DEV_KEY_ID = "dev"
# Deterministic so local restarts can still read stored credentials. DEV ONLY: anyone
# with the source code can derive it; server.py warns loudly when it is in use.
_DEV_KEY = hashlib.sha256(b"hosted-wasteland registry DEV-ONLY credential key v1").digest()
_KEY_ID = re.compile(r"[A-Za-z0-9_-]{1,32}")
_FORMAT = b"wl-credential-v1"


class KeyringError(ValueError):
    """The configured keyring is malformed (the message never contains key material)."""


class DecryptionError(Exception):
    """A record could not be decrypted: unknown key id, tampering, or wrong owner."""


@dataclass(frozen=True)
class SealedSecret:
    """What is stored for one encrypted token."""

    key_id: str
    wrapped_key: bytes
    key_nonce: bytes
    nonce: bytes
    ciphertext: bytes


class Keyring:
    """Key-encryption keys by id, and which one new records use."""

    def __init__(self, keys: Mapping[str, bytes], active_key_id: str) -> None:
        if not keys:
            raise KeyringError("the credential keyring is empty")
        for key_id, key in keys.items():
            if not _KEY_ID.fullmatch(key_id):
                raise KeyringError(f"bad credential key id {key_id!r}")
            if len(key) != KEY_BYTES:
                raise KeyringError(f"credential key {key_id!r} must be {KEY_BYTES} bytes")
        if active_key_id not in keys:
            raise KeyringError(f"the active credential key {active_key_id!r} is not in the ring")
        self._keys = dict(keys)
        self.active_key_id = active_key_id

    @property
    def key_ids(self) -> frozenset[str]:
        """Every key id this ring can decrypt with."""
        return frozenset(self._keys)

    @property
    def uses_dev_key(self) -> bool:
        """Whether the built-in development key is the active key."""
        return self._keys.get(self.active_key_id) == _DEV_KEY

    def key(self, key_id: str) -> bytes:
        """The key with ``key_id``; DecryptionError when the ring lacks it."""
        try:
            return self._keys[key_id]
        except KeyError:
            raise DecryptionError(f"credential key {key_id!r} is not in the keyring") from None

    def __repr__(self) -> str:
        return f"Keyring(key_ids={sorted(self._keys)}, active={self.active_key_id!r})"


def dev_keyring() -> Keyring:
    """The built-in development keyring (never for production)."""
    return Keyring({DEV_KEY_ID: _DEV_KEY}, DEV_KEY_ID)


def parse_keyring(spec: str, active_key_id: str = "") -> Keyring:
    """A keyring from ``"kid1:<base64 32 bytes>,kid2:<...>"``.

    An empty ``spec`` gives the development keyring. ``active_key_id`` may be empty only
    when the ring holds one key.
    """
    spec = spec.strip()
    if not spec:
        ring = dev_keyring()
        if active_key_id and active_key_id != DEV_KEY_ID:
            raise KeyringError("CREDENTIAL_ACTIVE_KEY_ID names a key but CREDENTIAL_KEYS is empty")
        return ring
    keys: dict[str, bytes] = {}
    for index, entry in enumerate(part.strip() for part in spec.split(",")):
        key_id, sep, encoded = entry.partition(":")
        key_id = key_id.strip()
        if not sep or not _KEY_ID.fullmatch(key_id):
            raise KeyringError(f"CREDENTIAL_KEYS entry {index + 1}: expected '<key id>:<base64>'")
        if key_id in keys:
            raise KeyringError(f"CREDENTIAL_KEYS: key id {key_id!r} appears twice")
        try:
            key = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise KeyringError(f"CREDENTIAL_KEYS: key {key_id!r} is not valid base64") from None
        if len(key) != KEY_BYTES:
            raise KeyringError(f"CREDENTIAL_KEYS: key {key_id!r} must decode to {KEY_BYTES} bytes")
        keys[key_id] = key
    if not active_key_id:
        if len(keys) != 1:
            raise KeyringError("CREDENTIAL_ACTIVE_KEY_ID is required when there are several keys")
        active_key_id = next(iter(keys))
    return Keyring(keys, active_key_id)


def associated_data(wasteland_id: str, user_id: str) -> bytes:
    """The associated data binding a record to its row's owner."""
    return f"{wasteland_id}:{user_id}".encode()


def _wrap_ad(key_id: str, ad: bytes) -> bytes:
    return b"|".join((_FORMAT, b"key", key_id.encode(), ad))


def _data_ad(ad: bytes) -> bytes:
    return b"|".join((_FORMAT, b"data", ad))


def seal(
    plaintext: str,
    keyring: Keyring,
    ad: bytes,
    *,
    random_bytes: Callable[[int], bytes] = os.urandom,
) -> SealedSecret:
    """Encrypt ``plaintext`` under a fresh data key wrapped by the active key."""
    data_key = random_bytes(KEY_BYTES)
    nonce = random_bytes(NONCE_BYTES)
    ciphertext = AESGCM(data_key).encrypt(nonce, plaintext.encode(), _data_ad(ad))
    key_id = keyring.active_key_id
    key_nonce = random_bytes(NONCE_BYTES)
    wrapped = AESGCM(keyring.key(key_id)).encrypt(key_nonce, data_key, _wrap_ad(key_id, ad))
    return SealedSecret(key_id, wrapped, key_nonce, nonce, ciphertext)


def _unwrap(sealed: SealedSecret, keyring: Keyring, ad: bytes) -> bytes:
    kek = keyring.key(sealed.key_id)
    try:
        return AESGCM(kek).decrypt(
            sealed.key_nonce, sealed.wrapped_key, _wrap_ad(sealed.key_id, ad)
        )
    except (InvalidTag, ValueError):
        raise DecryptionError("the credential's data key does not decrypt") from None


def open_sealed(sealed: SealedSecret, keyring: Keyring, ad: bytes) -> str:
    """The plaintext of ``sealed``; DecryptionError if it was tampered with, moved to
    another owner, or wrapped by a key that left the ring."""
    data_key = _unwrap(sealed, keyring, ad)
    try:
        plain = AESGCM(data_key).decrypt(sealed.nonce, sealed.ciphertext, _data_ad(ad))
    except (InvalidTag, ValueError):
        raise DecryptionError("the credential does not decrypt") from None
    return plain.decode()


def rewrap(
    sealed: SealedSecret,
    keyring: Keyring,
    ad: bytes,
    *,
    random_bytes: Callable[[int], bytes] = os.urandom,
) -> SealedSecret:
    """``sealed`` with its data key re-wrapped by the active key (the ciphertext is kept)."""
    if sealed.key_id == keyring.active_key_id:
        return sealed
    data_key = _unwrap(sealed, keyring, ad)
    key_id = keyring.active_key_id
    key_nonce = random_bytes(NONCE_BYTES)
    wrapped = AESGCM(keyring.key(key_id)).encrypt(key_nonce, data_key, _wrap_ad(key_id, ad))
    return SealedSecret(key_id, wrapped, key_nonce, sealed.nonce, sealed.ciphertext)


def token_hint(token: str) -> str:
    """The last four characters of a token, or "" when the token is too short to show any."""
    return token[-4:] if len(token) >= 12 else ""


class SealedColumns(Protocol):
    """A stored row holding a sealed secret in the shared column layout."""

    key_id: str
    wrapped_key: bytes
    key_nonce: bytes
    token_nonce: bytes
    ciphertext: bytes


def sealed_of(row: SealedColumns) -> SealedSecret:
    """The envelope stored in ``row``."""
    return SealedSecret(
        key_id=row.key_id,
        wrapped_key=row.wrapped_key,
        key_nonce=row.key_nonce,
        nonce=row.token_nonce,
        ciphertext=row.ciphertext,
    )


def store_sealed(row: SealedColumns, sealed: SealedSecret) -> None:
    """Write ``sealed`` into ``row``'s columns."""
    row.key_id = sealed.key_id
    row.wrapped_key = sealed.wrapped_key
    row.key_nonce = sealed.key_nonce
    row.token_nonce = sealed.nonce
    row.ciphertext = sealed.ciphertext


def rewrap_row(row: SealedColumns, keyring: Keyring, ad: bytes) -> None:
    """Re-wrap ``row``'s data key under the keyring's active key (rotation)."""
    fresh = rewrap(sealed_of(row), keyring, ad)
    row.key_id = fresh.key_id
    row.wrapped_key = fresh.wrapped_key
    row.key_nonce = fresh.key_nonce
