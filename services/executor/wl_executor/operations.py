"""Execute: run one action for a user in the wasteland's workload.

Flow: identify the caller, validate, answer a repeated idempotency key from the store,
ask the registry for the access decision and the caller's token, record the operation,
wake the workload, run the operation in a background task and wait for it up to the
wait budget. The task records the result, registers a newly joined rig and refreshes
board-sync whether or not anyone still waits. The DoltHub token lives only in local
variables of this module for the duration of one operation; it is never stored or
logged.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

import grpc
from wasteland.v1 import board_pb2, common_pb2, control_pb2, executor_pb2
from wasteland_common import activity as activity_log
from wasteland_common import errors
from wasteland_common.auth import CallerIdentity
from wasteland_common.db import run_in_session
from wasteland_common.dolthub.pulls import pull_id_in
from wasteland_common.logs import REDACTED, redact

from . import access, activity, idempotency, reconcile, results, store
from .deps import ExecutorDeps

log = logging.getLogger(__name__)

NEEDS_WANTED_ID = frozenset(
    {
        common_pb2.OPERATION_KIND_CLAIM,
        common_pb2.OPERATION_KIND_UNCLAIM,
        common_pb2.OPERATION_KIND_DONE,
        common_pb2.OPERATION_KIND_ACCEPT,
        common_pb2.OPERATION_KIND_REJECT,
        common_pb2.OPERATION_KIND_CLOSE,
    }
)
# Decisions on upstream pull requests (the review inbox): they name a pull request, and a
# maintainer may make them with the wasteland's upstream credential alone.
PULL_KINDS = frozenset({common_pb2.OPERATION_KIND_MERGE_PULL, common_pb2.OPERATION_KIND_CLOSE_PULL})
MAX_PULL_ID = 20
# Every kind changes what the board shows (a sync removes the rig's finished branches and
# so its pending overlay), so board-sync refreshes after each before the answer goes out.
MUTATIONS = frozenset(results.KIND_NAMES)
MAX_WAIT_SECONDS = 300
MAX_ARGS_BYTES = 64 * 1024


@dataclass(frozen=True)
class Action:
    """A validated Execute request."""

    wasteland_id: str
    kind: common_pb2.OperationKind
    wanted_id: str
    args: common_pb2.OperationArgs
    idempotency_key: str | None
    wait_seconds: float
    request_hash: str

    @property
    def kind_name(self) -> str:
        return results.KIND_NAMES[self.kind]


@dataclass(frozen=True)
class _Grant:
    """The registry's decision, minus the token (which travels separately)."""

    user_id: str
    upstream: str
    role: common_pb2.MemberRole
    rig_handle: str
    dolthub_org: str
    rig_registered: bool


def parse_action(request: executor_pb2.ExecuteRequest, default_wait: float) -> Action:
    """Validate an ExecuteRequest; INVALID_ARGUMENT names the first bad field."""
    wasteland_id = access.wasteland_id(request.wasteland_id)
    kind = request.kind
    if kind not in results.KIND_NAMES:
        raise errors.invalid("kind", f"required: one of {', '.join(results.KIND_NAMES.values())}")
    if kind in NEEDS_WANTED_ID and not request.wanted_id:
        raise errors.invalid("wanted_id", f"required for {results.KIND_NAMES[kind]}")
    if kind in PULL_KINDS:
        pull_id = request.args.pull_id
        if not pull_id.isdigit() or len(pull_id) > MAX_PULL_ID:
            raise errors.invalid("args.pull_id", "must be a pull request number")
        if request.wanted_id:
            raise errors.invalid("wanted_id", "must be empty for this operation")
    wanted_id = access.wanted_id(request.wanted_id) if request.wanted_id else ""
    if request.args.ByteSize() > MAX_ARGS_BYTES:
        raise errors.invalid("args", "too large")
    key = idempotency.parse_key(request.idempotency_key)
    if not 0 <= request.wait_seconds <= MAX_WAIT_SECONDS:
        raise errors.invalid("wait_seconds", f"must be between 0 and {MAX_WAIT_SECONDS}")
    wait = float(request.wait_seconds) if request.wait_seconds else default_wait
    return Action(
        wasteland_id=wasteland_id,
        kind=kind,
        wanted_id=wanted_id,
        args=request.args,
        idempotency_key=key,
        wait_seconds=wait,
        request_hash=idempotency.request_hash(request),
    )


async def execute(deps: ExecutorDeps, caller: CallerIdentity, request: Any) -> Any:
    """Run the action for the calling user; the OperationResult when it finished within
    the wait budget, else a RUNNING result with the operation id to poll.

    A FAILED result raises the domain error of its ``error_code`` (e.g. ABORTED
    "already claimed"); the failure is stored with the operation all the same.
    """
    principal, user_token = access.user_call(caller)
    # What this request starts (the wake, the operation's task) is this user's doing.
    activity_log.actor_var.set(principal.user_id)
    action = parse_action(request, deps.limits.wait_budget_seconds)
    if action.idempotency_key is not None:
        earlier = await run_in_session(
            deps.sessions,
            idempotency.lookup,
            principal.user_id,
            action.idempotency_key,
            action.request_hash,
        )
        if earlier is not None:
            return await _answer(deps, earlier, action.wait_seconds)

    answer = await deps.peers.authorize_action(
        user_token, action.wasteland_id, action.kind, action.wanted_id
    )
    token: str = answer.dolthub_token
    upstream_token: str = answer.upstream_token
    grant = _Grant(
        user_id=principal.user_id,
        upstream=answer.wasteland.upstream,
        role=answer.role,
        rig_handle=answer.rig_handle,
        dolthub_org=answer.dolthub_org,
        rig_registered=answer.rig_registered,
    )
    del answer
    if not token and not (action.kind in PULL_KINDS and upstream_token):
        raise errors.FailedPrecondition("connect DoltHub first")
    if not grant.upstream:
        raise errors.FailedPrecondition("the wasteland has no commons yet")

    record = store.OperationRecord(
        operation_id=deps.new_id(),
        wasteland_id=action.wasteland_id,
        user_id=principal.user_id,
        kind=action.kind_name,
        wanted_id=action.wanted_id or None,
        idempotency_key=action.idempotency_key,
        request_hash=action.request_hash,
        status="running",
        result=None,
        created_at=deps.clock(),
        finished_at=None,
    )
    # Recording first claims the idempotency key before anything runs, so a concurrent
    # repeat finds this operation instead of starting a second one, and the reconcile
    # loop sees an operation in flight and leaves the workload awake.
    raced = await run_in_session(deps.sessions, store.insert_operation, record)
    if raced is not None:
        idempotency.ensure_same(raced, action.request_hash)
        return await _answer(deps, raced, action.wait_seconds)
    try:
        endpoint = await reconcile.wake(deps, action.wasteland_id, grant.upstream)
    except BaseException:
        # Nothing ran: forget the operation so a retry with the same key runs it.
        await run_in_session(deps.sessions, store.delete_operation, record.operation_id)
        raise

    rig = grant.rig_handle
    if action.kind == common_pb2.OPERATION_KIND_JOIN and action.args.rig_handle:
        rig = action.args.rig_handle
    run_request = control_pb2.RunOperationRequest(
        upstream=grant.upstream,
        kind=action.kind,
        wanted_id=action.wanted_id,
        args=action.args,
        credential=control_pb2.RigCredential(
            dolthub_token=token, dolthub_org=grant.dolthub_org, rig_handle=rig
        ),
        operation_id=record.operation_id,
        role=grant.role,
        upstream_credential=control_pb2.UpstreamCredential(dolthub_token=upstream_token),
    )
    del token, upstream_token
    log.info(
        "operation %s (%s) started for wasteland %s",
        record.operation_id,
        action.kind_name,
        action.wasteland_id,
    )
    task = asyncio.create_task(_run(deps, record, grant, endpoint, run_request, user_token, rig))
    deps.operation_tasks[record.operation_id] = task
    task.add_done_callback(lambda _t: deps.operation_tasks.pop(record.operation_id, None))
    return await _wait(task, record, action.wait_seconds)


async def get_operation(deps: ExecutorDeps, caller: CallerIdentity, operation_id: str) -> Any:
    """The stored result of the caller's own operation (RUNNING while it runs);
    NOT_FOUND for an unknown id or another user's operation."""
    principal, _ = access.user_call(caller)
    operation_id = access.operation_id(operation_id)
    record = await run_in_session(deps.sessions, store.get_operation, operation_id)
    if record is None or record.user_id != principal.user_id:
        raise errors.NotFound("operation not found")
    return results.stored(record)


async def _answer(deps: ExecutorDeps, record: store.OperationRecord, wait: float) -> Any:
    """What a repeat of ``record`` gets: its result, waiting for it if it runs here."""
    if record.status == "running":
        task = deps.operation_tasks.get(record.operation_id)
        if task is not None:
            return await _wait(task, record, wait)
    return results.raise_if_failed(results.stored(record))


async def _wait(task: asyncio.Task[Any], record: store.OperationRecord, wait: float) -> Any:
    # asyncio.wait never cancels the task: a caller that stops waiting (or gives up on
    # the call) leaves the operation running to completion.
    done, _ = await asyncio.wait({task}, timeout=wait)
    if not done:
        return results.placeholder(record)
    return results.raise_if_failed(task.result())


async def _run(
    deps: ExecutorDeps,
    record: store.OperationRecord,
    grant: _Grant,
    endpoint: Any,
    run_request: Any,
    user_token: str,
    rig: str,
) -> Any:
    """Run the operation in the workload, then store and return its result; never
    raises (every failure becomes a FAILED result)."""
    secrets = [
        s
        for s in (
            run_request.credential.dolthub_token,
            run_request.upstream_credential.dolthub_token,
        )
        if s
    ]
    town_id = run_request.args.town_id
    args = common_pb2.OperationArgs()
    args.CopyFrom(run_request.args)
    try:
        result = await deps.peers.run_operation(
            endpoint, run_request, limit=deps.limits.operation_timeout_seconds
        )
        result = _normalise(result, record, secrets)
    except Exception:
        log.exception("operation %s failed unexpectedly", record.operation_id)
        result = results.failed(
            record, grpc.StatusCode.INTERNAL, "the operation failed unexpectedly"
        )
    finally:
        run_request.credential.Clear()
        run_request.upstream_credential.Clear()
        del run_request
    if result.status == common_pb2.OPERATION_STATUS_SUCCEEDED:
        await _after_success(deps, record, grant, result, user_token, rig, args)
    if record.kind == "register_town":
        await _record_town(deps, record, town_id, result)
    stored_json = results.to_json(result)
    for secret in secrets:  # belt and braces: a token is never stored
        if secret in stored_json:
            stored_json = stored_json.replace(secret, REDACTED)
            result = results.from_json(stored_json)
    del secrets
    status = results.STATUS_NAMES[result.status]
    now = deps.clock()

    def finish(session: Any) -> None:
        store.finish_operation(
            session, record.operation_id, status=status, result=stored_json, now=now
        )
        store.touch_runtime(session, record.wasteland_id, now)

    try:
        await run_in_session(deps.sessions, finish)
    except Exception:
        log.exception("storing the result of operation %s failed", record.operation_id)
    log.info(
        "operation %s (%s) %s%s",
        record.operation_id,
        record.kind,
        status,
        f": {result.error_code}" if result.error_code else "",
    )
    return result


def _normalise(result: Any, record: store.OperationRecord, secrets: list[str]) -> Any:
    """The workload's answer made consistent with the operation (ids, a final status,
    no secret in the error text)."""
    fixed = common_pb2.OperationResult()
    fixed.CopyFrom(result)
    fixed.operation_id = record.operation_id
    fixed.kind = results.KIND_VALUES[record.kind]
    if not fixed.wanted_id and record.wanted_id:
        fixed.wanted_id = record.wanted_id
    if fixed.status not in (
        common_pb2.OPERATION_STATUS_SUCCEEDED,
        common_pb2.OPERATION_STATUS_FAILED,
    ):
        log.warning("operation %s came back without a final status", record.operation_id)
        return results.failed(record, grpc.StatusCode.INTERNAL, "the workload returned no outcome")
    if fixed.status == common_pb2.OPERATION_STATUS_FAILED:
        message = fixed.error
        for secret in secrets:
            message = message.replace(secret, REDACTED)
        fixed.error = redact(message)
        if not fixed.error_code:
            fixed.error_code = grpc.StatusCode.FAILED_PRECONDITION.name
    else:
        fixed.error = ""
        fixed.error_code = ""
    return fixed


async def _record_town(
    deps: ExecutorDeps, record: store.OperationRecord, town_id: str, result: Any
) -> None:
    """Tell the registry how the town's registration ended (it forgets a failed one)."""
    succeeded = result.status == common_pb2.OPERATION_STATUS_SUCCEEDED
    try:
        await deps.peers.record_town(
            record.wasteland_id,
            town_id,
            registered=succeeded,
            pull_request_url=result.pull_request_url if succeeded else "",
        )
    except Exception as exc:
        log.warning(
            "recording town %s of operation %s failed: %s", town_id, record.operation_id, exc
        )


def verified_change(kind: int, result: Any, rig: str) -> board_pb2.VerifiedChange | None:
    """What a succeeded item action changed on its rig's fork branch without moving the
    upstream, for board-sync to record without reading DoltHub: the item as verified and
    the open pull request that carries it, or, for an unclaim whose branch `wl` removed,
    the rig's withdrawn proposal. None for anything else (board-sync then syncs)."""
    rig = result.rig_handle or rig
    if kind not in NEEDS_WANTED_ID or not result.wanted_id or not rig:
        return None
    if result.pull_request_url:
        pull_id = pull_id_in(result.pull_request_url)
        if pull_id is None or not result.HasField("item"):
            return None
        return board_pb2.VerifiedChange(
            wanted_id=result.wanted_id,
            rig_handle=rig,
            pull_id=pull_id,
            status=result.item.status,
            claimed_by=result.item.claimed_by,
        )
    if kind == common_pb2.OPERATION_KIND_UNCLAIM and not result.branch:
        return board_pb2.VerifiedChange(wanted_id=result.wanted_id, rig_handle=rig)
    return None


async def _after_success(
    deps: ExecutorDeps,
    record: store.OperationRecord,
    grant: _Grant,
    result: Any,
    user_token: str,
    rig: str,
    args: common_pb2.OperationArgs,
) -> None:
    """Register a newly joined rig, record the action in the activity log, refresh the
    board after a mutation. Best effort: none of them can fail the operation, which
    already happened on DoltHub."""
    kind = results.KIND_VALUES[record.kind]
    joined_rig = result.rig_handle or (rig if kind == common_pb2.OPERATION_KIND_JOIN else "")
    is_join = kind == common_pb2.OPERATION_KIND_JOIN or bool(result.rig_handle)
    registers = is_join and bool(joined_rig) and not grant.rig_registered
    if registers:
        try:
            await deps.peers.record_rig(user_token, record.wasteland_id, grant.user_id, joined_rig)
        except Exception as exc:
            log.warning(
                "recording rig %s of operation %s failed: %s",
                joined_rig,
                record.operation_id,
                exc,
            )
    await activity.action_succeeded(
        deps.activity, record, args, result, registered_rig=joined_rig if registers else None
    )
    if kind in MUTATIONS:
        try:
            await deps.peers.refresh_board(record.wasteland_id, verified_change(kind, result, rig))
        except Exception as exc:
            log.warning("board refresh after operation %s failed: %s", record.operation_id, exc)
