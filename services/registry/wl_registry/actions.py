"""Whether a user may run an action (``wl`` mutation, or a review decision on an upstream
pull request) now, for the executor.

Only role-based rules live here: per-item rules (poster, claimer) and per-pull-request
rules (nobody merges a stamp of their own work) need DoltHub's data and are checked where
it is read. The answer carries the decrypted DoltHub token for that one call; this is the
only place a token is ever decrypted.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from pydantic import SecretStr
from sqlalchemy.orm import Session
from wasteland_common import errors
from wasteland_common.auth import Principal
from wasteland_common.vocabulary import OperationKindName as OperationKind

from . import crypto, ownership, upstream_credentials
from .credentials import credential_row, reveal
from .crypto import Keyring
from .ownership import Role
from .wastelands import WastelandView, access_to, member_row, view

log = logging.getLogger(__name__)

# Deciding an upstream pull request of the review inbox.
PULL_KINDS: frozenset[OperationKind] = frozenset({"merge_pull", "close_pull"})
# Reviewing someone's completion, or a pull request, is a maintainer's job (owners too).
MAINTAINER_KINDS: frozenset[OperationKind] = frozenset(
    {"accept", "reject", "merge_pull", "close_pull"}
)
CONNECT_FIRST = "connect DoltHub first"
CONNECT_FIRST_TO_REVIEW = (
    "connect DoltHub first, or connect the wasteland's upstream credential"
    " (PUT /v1/wastelands/{id}/upstream-credential)"
)
# Kinds that may bring the caller's fork up to date, so they get the wasteland's upstream
# credential (decrypted for that one call) when one is connected.
SYNCING_KINDS: frozenset[OperationKind] = frozenset(
    {"post", "claim", "unclaim", "done", "accept", "reject", "close", "sync", "register_town"}
)
# Kinds given the upstream credential: the syncing ones, and pull-request decisions (made
# with it when the maintainer's own token cannot write the upstream).
UPSTREAM_KINDS: frozenset[OperationKind] = SYNCING_KINDS | PULL_KINDS


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

    A pull-request decision (merge, close) needs no credential of the caller's own when
    the wasteland has an upstream credential: the token is then empty and the rig is the
    member's, so the executor can still tell whose work a stamp is.
    """
    row, access = access_to(session, principal, wasteland_id)
    ownership.require(
        ownership.can_connect(access), "site admins may read this wasteland but not act in it"
    )
    ownership.require(ownership.can_take_part(access), "only members may act in this wasteland")
    if kind in MAINTAINER_KINDS:
        # Connecting makes a reader a contributor at most, never a maintainer.
        what = "merge or close pull requests" if kind in PULL_KINDS else kind
        ownership.require(
            access.is_member and access.at_least("maintainer"),
            f"only maintainers and owners may {what}",
        )
    if row.status != "active":
        raise errors.FailedPrecondition("the wasteland is not active")
    upstream_token = (
        upstream_credentials.reveal(session, wasteland_id, keyring)
        if kind in UPSTREAM_KINDS
        else None
    )
    credential = credential_row(session, wasteland_id, principal.user_id)
    if credential is None:
        if kind in PULL_KINDS and upstream_token is not None:
            member = member_row(session, wasteland_id, principal.user_id)
            return ActionGrant(
                wasteland=view(row, access.role),
                role=access.role,
                user_id=principal.user_id,
                rig_handle=(member.rig_handle if member is not None else None) or "",
                dolthub_org="",
                token=SecretStr(""),
                rig_registered=member is not None and member.rig_registered_at is not None,
                upstream_token=upstream_token,
            )
        raise errors.FailedPrecondition(
            CONNECT_FIRST_TO_REVIEW if kind in PULL_KINDS else CONNECT_FIRST
        )
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
