"""The wasteland's upstream credential: one DoltHub token that can write the upstream
commons, given by an owner or maintainer.

The service uses it for two things only: to bring members' forks up to date (a pull
request ``upstream:main → fork:main`` opened with it and merged with the member's own
token) and, when a maintainer cannot write the upstream themself, to merge or close
upstream pull requests they decide. Before it is stored it must prove write access on
the upstream (a write that changes nothing, to a scratch branch that is deleted again);
it is stored only as an envelope ciphertext bound to the wasteland, never returned, and
decrypted only inside :func:`reveal` for the one call that needs it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from pydantic import SecretStr
from sqlalchemy.orm import Session, sessionmaker
from wasteland_common import dolthub, errors
from wasteland_common.auth import Principal

from . import crypto, ownership, store
from .crypto import Keyring, SealedSecret
from .store import UpstreamCredentialRow
from .validation import UpstreamRef, upstream
from .wastelands import access_to

log = logging.getLogger(__name__)

# Proves the token can write the upstream; returns the DoltHub user it acts as ("" when
# DoltHub does not say) or raises a dolthub.DoltHubError.
WriteProbe = Callable[[SecretStr, UpstreamRef], Awaitable[str]]
MANAGERS_ONLY = "only the wasteland's owners and maintainers may manage its upstream credential"


@dataclass(frozen=True)
class UpstreamCredentialStatus:
    """What the API shows about the upstream credential (never the token)."""

    connected: bool
    dolthub_user: str = ""
    token_hint: str = ""
    connected_at: datetime | None = None


def dolthub_probe(client: dolthub.DoltHubClient) -> WriteProbe:
    """A probe that writes nothing to a scratch branch of the upstream with the token."""

    async def probe(token: SecretStr, ref: UpstreamRef) -> str:
        return await client.with_token(token).probe_write(ref.owner, ref.database)

    return probe


def associated_data(wasteland_id: str) -> bytes:
    """Binds the ciphertext to its wasteland (a member's credential can never be swapped
    in: their associated data is ``<wasteland>:<user>``)."""
    return f"{wasteland_id}|upstream".encode()


def status_of(row: UpstreamCredentialRow | None) -> UpstreamCredentialStatus:
    """The public status of a row (not connected when None)."""
    if row is None:
        return UpstreamCredentialStatus(connected=False)
    return UpstreamCredentialStatus(
        connected=True,
        dolthub_user=row.dolthub_user,
        token_hint=row.token_hint,
        connected_at=row.connected_at,
    )


def _managed(session: Session, principal: Principal, wasteland_id: str) -> UpstreamRef:
    row, access = access_to(session, principal, wasteland_id)
    ownership.require(access.is_member and access.at_least("maintainer"), MANAGERS_ONLY)
    if row.status != "active":
        raise errors.FailedPrecondition("the wasteland is not active")
    return upstream(row.upstream)


async def connect(
    sessions: sessionmaker[Session],
    principal: Principal,
    wasteland_id: str,
    token: SecretStr,
    *,
    probe: WriteProbe,
    keyring: Keyring,
    now: Callable[[], datetime],
) -> UpstreamCredentialStatus:
    """Check that ``token`` can write the upstream, then store it encrypted (replacing an
    earlier one)."""
    ref = await store.run(sessions, _managed, principal, wasteland_id)
    try:
        dolthub_user = await probe(token, ref)
    except dolthub.Unauthorized:
        raise errors.invalid("dolthub_token", "DoltHub rejected the token") from None
    except dolthub.Forbidden:
        raise errors.invalid(
            "dolthub_token", f"the token cannot write the upstream {ref}"
        ) from None
    except dolthub.NotFound:
        raise errors.FailedPrecondition(
            f"the wasteland's upstream {ref} was not found on DoltHub"
        ) from None
    secret = token.get_secret_value()
    sealed = crypto.seal(secret, keyring, associated_data(wasteland_id))
    saved = await store.run(
        sessions,
        save,
        principal,
        wasteland_id,
        sealed=sealed,
        hint=crypto.token_hint(secret),
        dolthub_user=dolthub_user[: store.HANDLE_LEN],
        now=now(),
    )
    log.info(
        "upstream credential of wasteland %s connected by user %s",
        wasteland_id, principal.user_id, extra={"event": "upstream_credential.connected"},
    )  # fmt: skip
    return saved


def save(
    session: Session,
    principal: Principal,
    wasteland_id: str,
    *,
    sealed: SealedSecret,
    hint: str,
    dolthub_user: str,
    now: datetime,
) -> UpstreamCredentialStatus:
    """Store an already-checked, sealed upstream credential."""
    _managed(session, principal, wasteland_id)
    row = store_row(
        session,
        wasteland_id,
        sealed=sealed,
        hint=hint,
        dolthub_user=dolthub_user,
        connected_by=principal.user_id,
        now=now,
    )
    return status_of(row)


def store_row(
    session: Session,
    wasteland_id: str,
    *,
    sealed: SealedSecret,
    hint: str,
    dolthub_user: str,
    connected_by: str,
    now: datetime,
) -> UpstreamCredentialRow:
    """Write the sealed upstream credential (replacing one); the caller has decided."""
    row = session.get(UpstreamCredentialRow, wasteland_id, with_for_update=True)
    if row is None:
        row = UpstreamCredentialRow(wasteland_id=wasteland_id)
        session.add(row)
    row.dolthub_user = dolthub_user
    row.connected_by = connected_by
    crypto.store_sealed(row, sealed)
    row.token_hint = hint
    row.connected_at = now
    row.updated_at = now
    session.flush()
    return row


def status(session: Session, principal: Principal, wasteland_id: str) -> UpstreamCredentialStatus:
    """Whether the wasteland has an upstream credential (for its members)."""
    _, access = access_to(session, principal, wasteland_id)
    ownership.require(access.is_member, "only members may see the upstream credential's status")
    return status_of(session.get(UpstreamCredentialRow, wasteland_id))


def delete(session: Session, principal: Principal, wasteland_id: str) -> bool:
    """Erase the upstream credential (owners and maintainers); whether there was one."""
    _, access = access_to(session, principal, wasteland_id)
    ownership.require(access.is_member and access.at_least("maintainer"), MANAGERS_ONLY)
    result = session.execute(
        sa.delete(UpstreamCredentialRow).where(UpstreamCredentialRow.wasteland_id == wasteland_id)
    )
    return bool(getattr(result, "rowcount", 0))


def reveal(session: Session, wasteland_id: str, keyring: Keyring) -> SecretStr | None:
    """The decrypted upstream token, or None when none is connected or it no longer
    decrypts (logged: the fix is to connect it again)."""
    row = session.get(UpstreamCredentialRow, wasteland_id)
    if row is None:
        return None
    try:
        secret = crypto.open_sealed(crypto.sealed_of(row), keyring, associated_data(wasteland_id))
        return SecretStr(secret)
    except crypto.DecryptionError:
        log.error(
            "the upstream credential of wasteland %s does not decrypt (key %s)",
            wasteland_id,
            row.key_id,
        )
        return None


def rotate(session: Session, keyring: Keyring, *, limit: int = 500) -> int:
    """Re-wrap up to ``limit`` upstream credentials not under the active key."""
    rows = session.scalars(
        sa.select(UpstreamCredentialRow)
        .where(UpstreamCredentialRow.key_id != keyring.active_key_id)
        .order_by(UpstreamCredentialRow.wasteland_id)
        .limit(limit)
    ).all()
    for row in rows:
        crypto.rewrap_row(row, keyring, associated_data(row.wasteland_id))
    return len(rows)
