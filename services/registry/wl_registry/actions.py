"""Whether a user may run an action (``wl`` mutation) now, for the executor.

Only role-based rules live here: per-item rules (poster, claimer) need the item and are
checked where the item is read. The answer carries the decrypted DoltHub token for that
one call; this is the only place a token is ever decrypted.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

from pydantic import SecretStr
from sqlalchemy.orm import Session
from wasteland_common import errors
from wasteland_common.auth import Principal

from . import crypto, ownership, upstream_credentials
from .credentials import credential_row, reveal
from .crypto import Keyring
from .ownership import Role
from .wastelands import WastelandView, access_to, member_row, view

log = logging.getLogger(__name__)

OperationKind = Literal[
    "join",
    "post",
    "claim",
    "unclaim",
    "done",
    "accept",
    "reject",
    "close",
    "sync",
    "register_town",
]
# Reviewing someone's completion is a maintainer's job (owners included).
MAINTAINER_KINDS: frozenset[OperationKind] = frozenset({"accept", "reject"})
CONNECT_FIRST = "connect DoltHub first"
# Kinds that may bring the caller's fork up to date, so they get the wasteland's upstream
# credential (decrypted for that one call) when one is connected.
SYNCING_KINDS: frozenset[OperationKind] = frozenset(
    {"post", "claim", "unclaim", "done", "accept", "reject", "close", "sync", "register_town"}
)


@dataclass(frozen=True)
class ActionGrant:
    """Permission to run one action, with what the executor needs to run it."""

    wasteland: WastelandView
    role: Role
    user_id: str
    rig_handle: str
    dolthub_org: str
    token: SecretStr
    rig_registered: bool
    upstream_token: SecretStr | None = None


def authorize(
    session: Session,
    principal: Principal,
    wasteland_id: str,
    kind: OperationKind,
    keyring: Keyring,
) -> ActionGrant:
    """Decide whether the caller may run ``kind`` in the wasteland.

    NOT_FOUND when it is invisible; PERMISSION_DENIED for readers who may not act;
    FAILED_PRECONDITION when it is not active or the caller has no credential.
    Permission is decided before any precondition: a caller who may not run ``kind``
    hears so even without a credential (connecting would not change the answer).
    """
    row, access = access_to(session, principal, wasteland_id)
    ownership.require(
        ownership.can_connect(access), "site admins may read this wasteland but not act in it"
    )
    ownership.require(ownership.can_take_part(access), "only members may act in this wasteland")
    if kind in MAINTAINER_KINDS:
        # Connecting makes a reader a contributor at most, never a maintainer.
        ownership.require(
            access.is_member and access.at_least("maintainer"),
            f"only maintainers and owners may {kind}",
        )
    if row.status != "active":
        raise errors.FailedPrecondition("the wasteland is not active")
    credential = credential_row(session, wasteland_id, principal.user_id)
    if credential is None:
        raise errors.FailedPrecondition(CONNECT_FIRST)
    # Connecting made the caller a member; a credential without a membership is stale.
    ownership.require(access.is_member, "only members may act in this wasteland")
    try:
        token = reveal(credential, keyring)
    except crypto.DecryptionError:
        log.error(
            "stored DoltHub credential of user %s in wasteland %s does not decrypt (key %s)",
            principal.user_id,
            wasteland_id,
            credential.key_id,
        )
        raise errors.FailedPrecondition(
            "the stored DoltHub credential cannot be read; connect DoltHub again"
        ) from None
    member = member_row(session, wasteland_id, principal.user_id)
    registered = (
        member is not None
        and member.rig_handle is not None
        and member.rig_registered_at is not None
    )
    rig_handle = member.rig_handle if registered and member and member.rig_handle else None
    upstream_token = (
        upstream_credentials.reveal(session, wasteland_id, keyring)
        if kind in SYNCING_KINDS
        else None
    )
    return ActionGrant(
        wasteland=view(row, access.role),
        role=access.role,
        user_id=principal.user_id,
        rig_handle=rig_handle or credential.rig_handle,
        dolthub_org=credential.dolthub_org,
        token=token,
        rig_registered=registered,
        upstream_token=upstream_token,
    )
