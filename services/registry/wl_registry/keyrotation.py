"""Keyring rotation, the step operators run: re-wrap every stored DoltHub credential
(members' and upstream) under the active key-encryption key.

The procedure (docs/operations.md): add the new key to ``CREDENTIAL_KEYS`` and roll the
registry out; make it ``CREDENTIAL_ACTIVE_KEY_ID`` and roll out again; run
``wl-registry rotate-keys``; when ``wl-registry rotate-keys --check`` passes, drop the old
key. Only the data keys are re-wrapped (the token ciphertexts stay), in batches, each in
its own transaction with its rows locked, so the registry keeps serving meanwhile.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from . import credentials, upstream_credentials
from .crypto import Keyring
from .store import CredentialRow, UpstreamCredentialRow

Rotator = Callable[..., int]
# What each kind of stored credential is called in reports, and how to re-wrap a batch.
_KINDS: dict[str, tuple[type[CredentialRow] | type[UpstreamCredentialRow], Rotator]] = {
    "member credentials": (CredentialRow, credentials.rotate),
    "upstream credentials": (UpstreamCredentialRow, upstream_credentials.rotate),
}


class MissingKeysError(Exception):
    """Stored credentials are wrapped by keys the keyring lacks: nothing was changed."""

    def __init__(self, missing: dict[str, int]) -> None:
        self.missing = missing
        listed = ", ".join(f"{key_id!r} ({rows} rows)" for key_id, rows in sorted(missing.items()))
        super().__init__(
            f"credentials are wrapped by keys not in CREDENTIAL_KEYS: {listed}; put them"
            " back in the keyring, then rotate"
        )


@dataclass(frozen=True)
class KeyUsage:
    """How many stored credentials of one kind each key id wraps."""

    kind: str
    rows_by_key: dict[str, int]


def usage(session: Session) -> list[KeyUsage]:
    """Stored credentials by kind and key id."""
    result = []
    for kind, (row_type, _) in _KINDS.items():
        counted = session.execute(
            sa.select(row_type.key_id, sa.func.count()).group_by(row_type.key_id)
        ).all()
        result.append(KeyUsage(kind, {str(key_id): int(rows) for key_id, rows in counted}))
    return result


def not_under_active(usages: list[KeyUsage], keyring: Keyring) -> int:
    """How many stored credentials are wrapped by a key other than the active one."""
    return sum(
        rows
        for entry in usages
        for key_id, rows in entry.rows_by_key.items()
        if key_id != keyring.active_key_id
    )


def missing_keys(usages: list[KeyUsage], keyring: Keyring) -> dict[str, int]:
    """Rows per key id that the keyring cannot open."""
    missing: dict[str, int] = {}
    for entry in usages:
        for key_id, rows in entry.rows_by_key.items():
            if key_id not in keyring.key_ids:
                missing[key_id] = missing.get(key_id, 0) + rows
    return missing


def rewrap_all(
    sessions: sessionmaker[Session], keyring: Keyring, *, batch: int = 500
) -> dict[str, int]:
    """Re-wrap every stored credential not under the active key; returns how many per
    kind. Refuses (MissingKeysError, nothing changed) when some are wrapped by a key the
    ring lacks; a row that does not decrypt (tampered) stops it with DecryptionError
    after the batches before it were committed."""
    if batch < 1:
        raise ValueError("batch must be at least 1")
    with sessions.begin() as session:
        missing = missing_keys(usage(session), keyring)
    if missing:
        raise MissingKeysError(missing)
    done: dict[str, int] = {}
    for kind, (_, rotate) in _KINDS.items():
        done[kind] = 0
        while True:
            with sessions.begin() as session:
                rewrapped = rotate(session, keyring, limit=batch)
            done[kind] += rewrapped
            if rewrapped == 0:
                break
    return done
