"""What the executor records in a wasteland's activity log: each successful action (and
the rig it registered and the fork sync it did first), and the workload waking and going
to sleep.

An action's records take their ids from the operation id (``<operation id>:<kind>``), so
however often they are retried each is recorded once. Recording goes through
``wasteland_common.activity``: it never raises and never holds up an answer for long.
"""

from __future__ import annotations

from typing import Final

from wasteland.v1 import common_pb2
from wasteland_common.activity import ActivityKindName, ActivityRecorder, service_actor
from wasteland_common.dolthub.pulls import pull_id_in

from .store import OperationRecord

EXECUTOR: Final = service_actor("executor")
# The activity a successful action of each kind is (join and register_town register a
# rig; see action_succeeded).
OUTCOMES: Final[dict[str, ActivityKindName]] = {
    "post": "posted",
    "claim": "claimed",
    "unclaim": "unclaimed",
    "done": "done",
    "accept": "accepted",
    "reject": "rejected",
    "close": "closed",
    "merge_pull": "merged",
    "close_pull": "pull_closed",
}


def _item(wanted_id: str, result: common_pb2.OperationResult) -> str:
    title = result.item.title if result.HasField("item") else ""
    return f"{wanted_id} {title!r}" if title else wanted_id


def _outcome_detail(
    kind: str, wanted_id: str, args: common_pb2.OperationArgs, result: common_pb2.OperationResult
) -> str:
    item = _item(wanted_id, result)
    if kind == "post":
        return f"posted {item}"
    if kind == "done":
        evidence = f" (evidence {args.evidence})" if args.evidence else ""
        return f"marked {item} done{evidence}"
    if kind == "accept":
        by = result.item.claimed_by if result.HasField("item") else ""
        of = f" by {by}" if by else ""
        return (
            f"accepted the work on {item}{of}"
            f" (quality {args.quality}, reliability {args.reliability})"
        )
    if kind in ("merge_pull", "close_pull"):
        verb = "merged" if kind == "merge_pull" else "closed without merging"
        about = f" ({item})" if wanted_id else ""
        return f"{verb} pull request {result.pull_id or args.pull_id}{about}"
    if kind == "reject":
        return f"rejected the work on {item}" + (f": {args.reason}" if args.reason else "")
    verbs = {"claim": "claimed", "unclaim": "withdrew the claim on", "close": "closed"}
    return f"{verbs[kind]} {item}"


async def action_succeeded(
    log: ActivityRecorder,
    record: OperationRecord,
    args: common_pb2.OperationArgs,
    result: common_pb2.OperationResult,
    *,
    registered_rig: str | None,
) -> None:
    """Record a successful action: the rig it registered first (``registered_rig``), the
    fork sync it did first (or was), then the action itself."""
    wasteland_id, user_id, operation = record.wasteland_id, record.user_id, record.operation_id
    wanted_id = result.wanted_id or record.wanted_id or ""
    pull_id = pull_id_in(result.pull_request_url) or ""
    if registered_rig:
        await log.record(
            wasteland_id,
            "rig_registered",
            actor=user_id,
            detail=f"registered the rig {registered_rig}",
            event_id=f"{operation}:rig_registered",
        )
    if record.kind == "register_town":
        await log.record(
            wasteland_id,
            "rig_registered",
            actor=user_id,
            pull_id=pull_id,
            detail=f"registered the town {args.town_id} as the agent rig {args.rig_handle}",
            event_id=f"{operation}:town_registered",
        )
    synced = result.HasField("fork_sync") and bool(result.fork_sync.pull_request_url)
    if record.kind == "sync" or synced:
        dropped = len(result.fork_sync.branches_removed)
        detail = (
            "brought their fork up to date with the upstream"
            if synced
            else "checked their fork: already up to date"
        )
        if dropped:
            detail += f"; removed {dropped} finished branch{'es' if dropped > 1 else ''}"
        await log.record(
            wasteland_id,
            "fork_synced",
            actor=user_id,
            detail=detail,
            event_id=f"{operation}:fork_synced",
        )
    outcome = OUTCOMES.get(record.kind)
    if outcome is not None:
        await log.record(
            wasteland_id,
            outcome,
            actor=user_id,
            wanted_id=wanted_id,
            pull_id=pull_id,
            detail=_outcome_detail(record.kind, wanted_id, args, result),
            event_id=f"{operation}:{outcome}",
        )


async def woke(log: ActivityRecorder, wasteland_id: str) -> None:
    """The workload started (the actor is the user whose request woke it, if any)."""
    await log.record(wasteland_id, "woke", detail="the workload woke up")


async def slept(
    log: ActivityRecorder, wasteland_id: str, reason: str, *, on_request: bool = False
) -> None:
    """The workload was put to sleep: the executor's own decision (idle, the instance
    cap), or ``on_request`` of whoever stopped it."""
    await log.record(
        wasteland_id,
        "slept",
        actor=None if on_request else EXECUTOR,
        detail=f"the workload went to sleep ({reason})",
    )
