"""What the registry records in a wasteland's activity log, and in which words.

Called by the servicer after the change is committed. Recording goes through
``wasteland_common.activity`` (request id stamped, detail redacted, retried in the
background, never raising), so a log that cannot be written never fails the request.
Tokens never reach a detail: only the DoltHub org, user and rig handle do.
"""

from __future__ import annotations

from wasteland_common.activity import ActivityRecorder
from wasteland_common.auth import Principal

from .credentials import CredentialStatus
from .members import MemberView
from .upstream_credentials import UpstreamCredentialStatus
from .wastelands import WastelandView


async def created(log: ActivityRecorder, principal: Principal, wasteland: WastelandView) -> None:
    """A wasteland joined to an existing commons was created."""
    await log.record(
        wasteland.wasteland_id,
        "created",
        actor=principal.user_id,
        detail=f"created the wasteland {wasteland.name!r} on the commons {wasteland.upstream}",
    )


async def created_with_new_commons(
    log: ActivityRecorder, principal: Principal, wasteland: WastelandView, *, creator_org: str
) -> None:
    """A wasteland whose commons is being provisioned from the template was created; the
    credential that provisions it is connected (``creator_org`` empty: the operator's)."""
    await log.record(
        wasteland.wasteland_id,
        "created",
        actor=principal.user_id,
        detail=f"created the wasteland {wasteland.name!r} with a new commons {wasteland.upstream}",
    )
    detail = (
        f"connected DoltHub as {creator_org} (rig {wasteland.my_rig_handle}),"
        " also as the upstream credential"
        if creator_org
        else "connected the operator's provisioning credential as the upstream credential"
    )
    await log.record(
        wasteland.wasteland_id, "credential_connected", actor=principal.user_id, detail=detail
    )


async def provisioned(
    log: ActivityRecorder, user_id: str, wasteland: WastelandView, *, rig_handle: str
) -> None:
    """Provisioning finished: the creator's rig is registered on the new commons (when
    they provisioned with their own credential) and the wasteland is active."""
    if rig_handle:
        await log.record(
            wasteland.wasteland_id,
            "rig_registered",
            actor=user_id,
            detail=f"registered the rig {rig_handle} on the new commons",
        )
    await log.record(
        wasteland.wasteland_id,
        "provisioned",
        actor=user_id,
        detail=f"provisioned the commons {wasteland.upstream} from the template",
    )


async def credential_connected(
    log: ActivityRecorder, principal: Principal, wasteland_id: str, status: CredentialStatus
) -> None:
    """A member connected (or replaced) their DoltHub credential; connecting to a public
    wasteland may have made them a member first."""
    if status.joined:
        await log.record(
            wasteland_id,
            "member_added",
            actor=principal.user_id,
            detail=f"{principal.user_id} joined as a contributor",
        )
    await log.record(
        wasteland_id,
        "credential_connected",
        actor=principal.user_id,
        detail=f"connected DoltHub as {status.dolthub_org} (rig {status.rig_handle})",
    )


async def credential_removed(
    log: ActivityRecorder, principal: Principal, wasteland_id: str
) -> None:
    """A member removed their DoltHub credential."""
    await log.record(
        wasteland_id,
        "credential_removed",
        actor=principal.user_id,
        detail="removed their DoltHub credential",
    )


async def upstream_credential_connected(
    log: ActivityRecorder,
    principal: Principal,
    wasteland_id: str,
    status: UpstreamCredentialStatus,
) -> None:
    """An owner or maintainer connected the wasteland's upstream credential."""
    who = f" (DoltHub user {status.dolthub_user})" if status.dolthub_user else ""
    await log.record(
        wasteland_id,
        "credential_connected",
        actor=principal.user_id,
        detail=f"connected the upstream credential{who}",
    )


async def upstream_credential_removed(
    log: ActivityRecorder, principal: Principal, wasteland_id: str
) -> None:
    """An owner or maintainer removed the wasteland's upstream credential."""
    await log.record(
        wasteland_id,
        "credential_removed",
        actor=principal.user_id,
        detail="removed the upstream credential",
    )


async def member_added(
    log: ActivityRecorder, principal: Principal, wasteland_id: str, member: MemberView
) -> None:
    """A maintainer or owner added a member."""
    await log.record(
        wasteland_id,
        "member_added",
        actor=principal.user_id,
        detail=f"added {member.user_id} as {member.role} (trust level {member.trust_level})",
    )


async def member_removed(
    log: ActivityRecorder, principal: Principal, wasteland_id: str, user_id: str
) -> None:
    """A member was removed (or left)."""
    detail = f"{user_id} left" if user_id == principal.user_id else f"removed {user_id}"
    await log.record(wasteland_id, "member_removed", actor=principal.user_id, detail=detail)
