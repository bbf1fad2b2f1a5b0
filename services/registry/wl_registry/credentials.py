"""DoltHub credentials: one encrypted token per (wasteland, user).

The token is checked against DoltHub before it is stored, stored only as an envelope
ciphertext (crypto.py) plus a four-character hint, and never returned; the executor
gets it decrypted through actions.authorize for one call.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import sqlalchemy as sa
from pydantic import SecretStr
from sqlalchemy.orm import Session, sessionmaker
from wasteland_common import dolthub, errors, forks
from wasteland_common.auth import Principal

from . import crypto, members, ownership, store
from .crypto import Keyring, SealedSecret
from .store import CredentialRow, WastelandRow
from .validation import UpstreamRef, upstream
from .wastelands import access_to, member_row

log = logging.getLogger(__name__)

# Checks a token against the upstream and the DoltHub org it names (the org must be
# writable: the rig's fork lives there): returns, or raises a dolthub.DoltHubError
# (OrgNotWritable when the token can read the upstream but not write the org).
TokenValidator = Callable[[SecretStr, UpstreamRef, str], Awaitable[None]]
# Whether the org's fork of the upstream lacks upstream commits (None: no fork); raises
# a dolthub.DoltHubError when DoltHub cannot tell.
ForkChecker = Callable[[SecretStr, UpstreamRef, str], Awaitable[bool | None]]
# How long a fork-currency answer is reused before DoltHub is asked again.
FORK_CHECK_TTL = timedelta(seconds=30)


class OrgNotWritable(dolthub.Forbidden):
    """The token may read the upstream but cannot write the DoltHub org it names."""


@dataclass(frozen=True)
class CredentialStatus:
    """What the API shows about a stored credential (never the token)."""

    connected: bool
    dolthub_org: str = ""
    rig_handle: str = ""
    token_hint: str = ""
    connected_at: datetime | None = None
    fork_behind: bool | None = None
    fork_checked_at: datetime | None = None
    # Set by connect when connecting made the caller a member (not part of the API).
    joined: bool = False


@dataclass(frozen=True)
class NewCredential:
    """A checked PutCredential request."""

    wasteland_id: str
    token: SecretStr
    dolthub_org: str
    rig_handle: str | None


def dolthub_validator(client: dolthub.DoltHubClient) -> TokenValidator:
    """A validator that reads the upstream with the token, then proves it can write the
    org: a write that changes nothing on the org's fork (forking the upstream into the
    org first when there is no fork yet, which needs the same permission)."""

    async def validate(token: SecretStr, ref: UpstreamRef, org: str) -> None:
        acting = client.with_token(token)
        await acting.validate_token(ref.owner, ref.database)
        try:
            if not await acting.database_exists(org, ref.database):
                await acting.fork(ref.owner, ref.database, org)
            await acting.probe_write(org, ref.database)
        except (dolthub.Forbidden, dolthub.Unauthorized) as exc:
            raise OrgNotWritable(exc.message, status=exc.status) from None

    return validate


def dolthub_fork_checker(client: dolthub.DoltHubClient) -> ForkChecker:
    """Fork currency read with the member's own token."""

    async def check(token: SecretStr, ref: UpstreamRef, org: str) -> bool | None:
        currency = await forks.fork_currency(client.with_token(token), ref.owner, ref.database, org)
        return currency.behind

    return check


def credential_row(session: Session, wasteland_id: str, user_id: str) -> CredentialRow | None:
    """The stored credential of ``user_id`` for ``wasteland_id``, if any."""
    return session.scalars(
        sa.select(CredentialRow).where(
            CredentialRow.wasteland_id == wasteland_id, CredentialRow.user_id == user_id
        )
    ).one_or_none()


def status_of(row: CredentialRow | None) -> CredentialStatus:
    """The public status of a credential row (not connected when None)."""
    if row is None:
        return CredentialStatus(connected=False)
    return CredentialStatus(
        connected=True,
        dolthub_org=row.dolthub_org,
        rig_handle=row.rig_handle,
        token_hint=row.token_hint,
        connected_at=row.connected_at,
        fork_behind=row.fork_behind,
        fork_checked_at=row.fork_checked_at,
    )


def _connectable(session: Session, principal: Principal, wasteland_id: str) -> UpstreamRef:
    row, access = access_to(session, principal, wasteland_id)
    ownership.require(
        ownership.can_connect(access), "site admins may read this wasteland but not take part"
    )
    if row.status != "active":
        raise errors.FailedPrecondition("the wasteland is not active")
    return upstream(row.upstream)


async def connect(
    sessions: sessionmaker[Session],
    principal: Principal,
    credential: NewCredential,
    *,
    validate: TokenValidator,
    keyring: Keyring,
    now: Callable[[], datetime],
    new_id: Callable[[], str],
) -> CredentialStatus:
    """Validate the token with DoltHub, then store it encrypted for the caller (replacing
    an earlier one). A reader of a public wasteland becomes a contributor."""
    ref = await store.run(sessions, _connectable, principal, credential.wasteland_id)
    try:
        await validate(credential.token, ref, credential.dolthub_org)
    except OrgNotWritable:
        raise errors.invalid(
            "dolthub_org", f"the token cannot write the DoltHub org {credential.dolthub_org}"
        ) from None
    except dolthub.Unauthorized:
        raise errors.invalid("dolthub_token", "DoltHub rejected the token") from None
    except dolthub.Forbidden:
        raise errors.invalid(
            "dolthub_token", f"the token may not read the upstream {ref}"
        ) from None
    except dolthub.NotFound:
        raise errors.FailedPrecondition(
            f"the wasteland's upstream {ref} was not found on DoltHub"
        ) from None
    token = credential.token.get_secret_value()
    sealed = crypto.seal(
        token, keyring, crypto.associated_data(credential.wasteland_id, principal.user_id)
    )
    connected = await store.run(
        sessions,
        save,
        principal,
        credential,
        sealed=sealed,
        hint=crypto.token_hint(token),
        now=now(),
        new_id=new_id,
    )
    log.info(
        "DoltHub credential of user %s connected to wasteland %s",
        principal.user_id, credential.wasteland_id, extra={"event": "credential.connected"},
    )  # fmt: skip
    return connected


def save(
    session: Session,
    principal: Principal,
    credential: NewCredential,
    *,
    sealed: SealedSecret,
    hint: str,
    now: datetime,
    new_id: Callable[[], str],
) -> CredentialStatus:
    """Save an already-validated, sealed credential for the caller."""
    wasteland_id = credential.wasteland_id
    row, access = access_to(session, principal, wasteland_id, for_update=True)
    ownership.require(
        ownership.can_connect(access), "site admins may read this wasteland but not take part"
    )
    if row.status != "active":
        raise errors.FailedPrecondition("the wasteland is not active")
    # Connecting makes a reader of a public wasteland a contributor.
    joined = (
        access.source == "public" and member_row(session, wasteland_id, principal.user_id) is None
    )
    member = members.ensure_member(session, principal, wasteland_id, access, now=now, new_id=new_id)
    rig_handle = credential.rig_handle or member.rig_handle or credential.dolthub_org
    if member.rig_handle is not None and rig_handle != member.rig_handle:
        raise errors.FailedPrecondition(
            f"rig_handle: your rig is already registered here as {member.rig_handle}"
        )
    if _handle_taken(session, wasteland_id, rig_handle, principal.user_id):
        raise errors.AlreadyExists(
            "rig_handle: already used by another rig in this wasteland",
            [errors.FieldViolation("rig_handle", "already used in this wasteland")],
        )
    cred = store_row(
        session,
        wasteland_id,
        principal.user_id,
        dolthub_org=credential.dolthub_org,
        rig_handle=rig_handle,
        sealed=sealed,
        hint=hint,
        now=now,
        new_id=new_id,
    )
    return replace(status_of(cred), joined=joined)


def store_row(
    session: Session,
    wasteland_id: str,
    user_id: str,
    *,
    dolthub_org: str,
    rig_handle: str,
    sealed: SealedSecret,
    hint: str,
    now: datetime,
    new_id: Callable[[], str],
) -> CredentialRow:
    """Write a sealed credential into the user's row (created when missing); the caller
    has decided the user may have it."""
    cred = credential_row(session, wasteland_id, user_id)
    if cred is None:
        cred = CredentialRow(
            credential_id=new_id(), wasteland_id=wasteland_id, user_id=user_id, connected_at=now
        )
        session.add(cred)
    cred.dolthub_org = dolthub_org
    cred.rig_handle = rig_handle
    crypto.store_sealed(cred, sealed)
    cred.token_hint = hint
    cred.connected_at = now
    cred.updated_at = now
    cred.fork_behind = None
    cred.fork_checked_at = None
    session.flush()
    return cred


@dataclass(frozen=True)
class LastCredential:
    """A user's most recently connected credential, decrypted (for creating a commons)."""

    token: SecretStr
    dolthub_org: str
    rig_handle: str


def last_connected(session: Session, user_id: str, keyring: Keyring) -> LastCredential | None:
    """The DoltHub credential ``user_id`` connected last in any wasteland still alive, or
    None (also when it no longer decrypts)."""
    rows = session.scalars(
        sa.select(CredentialRow)
        .join(WastelandRow, WastelandRow.wasteland_id == CredentialRow.wasteland_id)
        .where(CredentialRow.user_id == user_id, WastelandRow.status != "deleted")
        .order_by(CredentialRow.connected_at.desc())
        .limit(1)
    ).all()
    for row in rows:
        try:
            return LastCredential(reveal(row, keyring), row.dolthub_org, row.rig_handle)
        except crypto.DecryptionError:
            return None
    return None


def _handle_taken(session: Session, wasteland_id: str, rig_handle: str, user_id: str) -> bool:
    if members.rig_handle_taken(session, wasteland_id, rig_handle, except_user=user_id):
        return True
    other = session.scalars(
        sa.select(CredentialRow.user_id).where(
            CredentialRow.wasteland_id == wasteland_id,
            CredentialRow.rig_handle == rig_handle,
            CredentialRow.user_id != user_id,
        )
    ).first()
    return other is not None


def status(session: Session, principal: Principal, wasteland_id: str) -> CredentialStatus:
    """The caller's credential status for a wasteland they may see."""
    access_to(session, principal, wasteland_id)
    return status_of(credential_row(session, wasteland_id, principal.user_id))


@dataclass(frozen=True)
class _ForkCheck:
    ref: UpstreamRef
    org: str
    token: SecretStr


def _due_check(
    session: Session, principal: Principal, wasteland_id: str, keyring: Keyring, now: datetime
) -> _ForkCheck | None:
    row, _ = access_to(session, principal, wasteland_id)
    cred = credential_row(session, wasteland_id, principal.user_id)
    if cred is None or row.status != "active":
        return None
    # A current fork only falls behind when the upstream moves, so that answer is kept for
    # a while; "behind" (or unknown) is read again every time, since a sync ends it.
    fresh = cred.fork_checked_at is not None and now - cred.fork_checked_at < FORK_CHECK_TTL
    if fresh and cred.fork_behind is False:
        return None
    try:
        token = reveal(cred, keyring)
    except crypto.DecryptionError:
        return None
    return _ForkCheck(upstream(row.upstream), cred.dolthub_org, token)


def record_fork_check(
    session: Session, wasteland_id: str, user_id: str, behind: bool | None, now: datetime
) -> None:
    """Remember a fork-currency answer on the member's credential."""
    cred = credential_row(session, wasteland_id, user_id)
    if cred is not None:
        cred.fork_behind = behind
        cred.fork_checked_at = now


async def status_with_fork(
    sessions: sessionmaker[Session],
    principal: Principal,
    wasteland_id: str,
    *,
    check_fork: ForkChecker,
    keyring: Keyring,
    now: Callable[[], datetime],
) -> CredentialStatus:
    """The caller's credential status with ``fork_behind`` read from DoltHub (a "current"
    answer is reused for FORK_CHECK_TTL; the last answer is kept when DoltHub cannot tell
    now)."""
    due = await store.run(sessions, _due_check, principal, wasteland_id, keyring, now())
    if due is not None:
        try:
            behind = await check_fork(due.token, due.ref, due.org)
        except dolthub.DoltHubError as exc:
            log.info("fork currency of %s in %s unknown: %s", due.org, wasteland_id, exc)
        else:
            await store.run(
                sessions, record_fork_check, wasteland_id, principal.user_id, behind, now()
            )
        del due
    return await store.run(sessions, status, principal, wasteland_id)


def delete(session: Session, principal: Principal, wasteland_id: str) -> bool:
    """Erase the caller's credential; whether there was one (nothing happens when there
    is none). A site admin without a membership changes nothing here either."""
    _, access = access_to(session, principal, wasteland_id)
    ownership.require(
        ownership.can_connect(access), "site admins may read this wasteland but not change it"
    )
    result = session.execute(
        sa.delete(CredentialRow).where(
            CredentialRow.wasteland_id == wasteland_id,
            CredentialRow.user_id == principal.user_id,
        )
    )
    return bool(getattr(result, "rowcount", 0))


def reveal(row: CredentialRow, keyring: Keyring) -> SecretStr:
    """The decrypted token of ``row`` (raises crypto.DecryptionError)."""
    ad = crypto.associated_data(row.wasteland_id, row.user_id)
    return SecretStr(crypto.open_sealed(crypto.sealed_of(row), keyring, ad))


def rotate(session: Session, keyring: Keyring, *, limit: int = 500) -> int:
    """Re-wrap up to ``limit`` credentials not under the active key; returns how many.

    Run it until it returns 0, then the old key can leave the ring.
    """
    rows = session.scalars(
        sa.select(CredentialRow)
        .where(CredentialRow.key_id != keyring.active_key_id)
        .order_by(CredentialRow.credential_id)
        .limit(limit)
    ).all()
    for row in rows:
        crypto.rewrap_row(row, keyring, crypto.associated_data(row.wasteland_id, row.user_id))
    return len(rows)
