"""The executor over real gRPC sockets, with in-process fake registry, board and control
server behind the shared server bootstrap."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from wasteland.v1 import (
    activity_pb2,
    activity_pb2_grpc,
    board_pb2_grpc,
    common_pb2,
    control_pb2_grpc,
    executor_pb2,
    executor_pb2_grpc,
    registry_pb2_grpc,
)
from wasteland_common import errors, grpc_server
from wasteland_common.auth import mint_user_token
from wasteland_common.grpc_client import ServiceCredentials
from wl_executor.server import ExecutorSettings, build_and_start

from .fakes import (
    JWT_SECRET,
    SERVICE_SECRET,
    TOKEN,
    BoardState,
    ControlState,
    FakeActivity,
    FakeBoard,
    FakeControl,
    FakeRegistry,
    FakeRuntime,
    RegistryState,
)

CLAIM = common_pb2.OPERATION_KIND_CLAIM
OWNER = common_pb2.MEMBER_ROLE_OWNER
CONTRIBUTOR = common_pb2.MEMBER_ROLE_CONTRIBUTOR
VIEWER = common_pb2.MEMBER_ROLE_VIEWER


@dataclass
class World:
    executor: Any
    registry: RegistryState
    board: BoardState
    control: ControlState
    runtime: FakeRuntime
    db_dir: Path

    def md(
        self, user: str | None = "alice", service: str = "gateway", *, admin: bool = False
    ) -> Sequence[tuple[str, str]]:
        token = mint_user_token(user, secret=JWT_SECRET, is_admin=admin) if user else None
        return ServiceCredentials(service, SERVICE_SECRET).metadata(token)

    async def execute(self, user: str = "alice", request_id: str = "", **fields: Any) -> Any:
        fields.setdefault("wasteland_id", "w1")
        metadata = [*self.md(user), *([("x-request-id", request_id)] if request_id else [])]
        reply = await self.executor.Execute(
            executor_pb2.ExecuteRequest(**fields), metadata=metadata, timeout=30
        )
        return reply.result

    async def operation(self, operation_id: str, user: str = "alice") -> Any:
        reply = await self.executor.GetOperation(
            executor_pb2.GetOperationRequest(operation_id=operation_id),
            metadata=self.md(user),
            timeout=10,
        )
        return reply.result


async def _serve(register: Any, name: str) -> grpc_server.RunningServer:
    return await grpc_server.start(
        register=register, service_names=[name], host="127.0.0.1", port=0
    )


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    registry = RegistryState(
        # root is a site admin: the registry answers "viewer" for a wasteland it only reads.
        members={
            "w1": {"alice": OWNER, "bob": CONTRIBUTOR},
            "w2": {"alice": OWNER, "root": VIEWER},
        },
        credentials={("w1", "alice"): (TOKEN, "alice", "alice")},
        registered={("w1", "alice")},
    )
    board = BoardState()
    control = ControlState()
    peers = [
        await _serve(
            lambda s: registry_pb2_grpc.add_RegistryServiceServicer_to_server(
                FakeRegistry(registry), s
            ),
            "wasteland.v1.RegistryService",
        ),
        await _serve(
            lambda s: (
                board_pb2_grpc.add_BoardServiceServicer_to_server(FakeBoard(board), s),
                activity_pb2_grpc.add_ActivityServiceServicer_to_server(FakeActivity(board), s),
            ),
            "wasteland.v1.BoardService",
        ),
        await _serve(
            lambda s: control_pb2_grpc.add_ControlServiceServicer_to_server(
                FakeControl(control), s
            ),
            "wasteland.v1.ControlService",
        ),
    ]
    runtime = FakeRuntime(peers[2].port)
    db_dir = tmp_path / "db"
    settings = ExecutorSettings.model_validate(
        {
            "DATABASE_URL": f"sqlite+pysqlite:///{db_dir / 'executor.db'}",
            "GRPC_HOST": "127.0.0.1",
            "GRPC_PORT": 0,
            "KILO_JWT_SECRET": JWT_SECRET,
            "SERVICE_JWT_SECRET": SERVICE_SECRET,
            "REGISTRY_ADDR": f"127.0.0.1:{peers[0].port}",
            "BOARD_ADDR": f"127.0.0.1:{peers[1].port}",
            "WORK_DIR": str(tmp_path / "work"),
            "WAIT_BUDGET_SECONDS": 10,
            "RECONCILE_INTERVAL_SECONDS": 3600,
            "SHUTDOWN_GRACE_SECONDS": 1,
        }
    )
    running, cleanup = await build_and_start(settings, runtime=runtime)
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{running.port}")
    try:
        yield World(
            executor=executor_pb2_grpc.ExecutorServiceStub(channel),
            registry=registry,
            board=board,
            control=control,
            runtime=runtime,
            db_dir=db_dir,
        )
    finally:
        control.release.set()
        await channel.close()
        await running.stop(0)
        await cleanup()
        for peer in peers:
            await peer.stop(0)


def rpc_error_details(exc: grpc.aio.AioRpcError) -> list[Any]:
    status = rpc_status.from_call(exc)
    return list(status.details) if status else []


async def wait_until_finished(world: World, operation_id: str) -> Any:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        result = await world.operation(operation_id)
        if result.status != common_pb2.OPERATION_STATUS_RUNNING:
            return result
        await asyncio.sleep(0.05)
    pytest.fail(f"operation {operation_id} did not finish")


# --- the happy path ----------------------------------------------------------------------


async def test_claim_runs_in_the_workload_and_refreshes_the_board(world: World) -> None:
    result = await world.execute(kind=CLAIM, wanted_id="w-1", idempotency_key="k-1")

    assert result.status == common_pb2.OPERATION_STATUS_SUCCEEDED
    assert result.operation_id.startswith("op_")
    assert result.kind == CLAIM
    assert result.wanted_id == "w-1"
    assert result.branch == "wl/alice/w-1"
    # The control server got the caller's credential and the upstream for this one call.
    [call] = world.control.calls
    assert call.upstream == "hop/wl-commons"
    assert call.credential.dolthub_token == TOKEN
    assert call.credential.dolthub_org == "alice"
    assert call.credential.rig_handle == "alice"
    assert call.role == OWNER
    assert call.operation_id == result.operation_id
    assert world.board.refreshed == ["w1"]
    # GetOperation returns the same stored result.
    assert await world.operation(result.operation_id) == result


async def test_runtime_is_running_after_an_action(world: World) -> None:
    await world.execute(kind=CLAIM, wanted_id="w-1")
    reply = await world.executor.GetRuntime(
        executor_pb2.GetRuntimeRequest(wasteland_id="w1"), metadata=world.md(), timeout=10
    )
    runtime = reply.runtime
    assert runtime.state == common_pb2.RUNTIME_STATE_RUNNING
    assert runtime.wl_version == "0.9-test"
    assert runtime.instance_id.startswith("fake-w1")
    assert runtime.HasField("started_at")
    assert runtime.HasField("last_activity_at")


# --- wait budget -------------------------------------------------------------------------


async def test_slow_operation_answers_running_then_finishes(world: World) -> None:
    world.control.held.add("slow-1")

    first = await world.execute(kind=CLAIM, wanted_id="slow-1", wait_seconds=1)

    assert first.status == common_pb2.OPERATION_STATUS_RUNNING
    assert first.operation_id
    assert (await world.operation(first.operation_id)).status == (
        common_pb2.OPERATION_STATUS_RUNNING
    )
    world.control.release.set()
    final = await wait_until_finished(world, first.operation_id)
    assert final.status == common_pb2.OPERATION_STATUS_SUCCEEDED
    assert final.branch == "wl/alice/slow-1"
    assert world.board.refreshed == ["w1"]


async def test_other_users_cannot_see_an_operation(world: World) -> None:
    result = await world.execute(kind=CLAIM, wanted_id="w-1")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await world.operation(result.operation_id, user="bob")
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as unknown:
        await world.operation("op_doesnotexist")
    assert unknown.value.code() == grpc.StatusCode.NOT_FOUND


# --- idempotency -------------------------------------------------------------------------


async def test_repeat_with_the_same_key_returns_the_first_result(world: World) -> None:
    first = await world.execute(kind=CLAIM, wanted_id="w-1", idempotency_key="key-1")
    again = await world.execute(
        kind=CLAIM, wanted_id="w-1", idempotency_key="key-1", wait_seconds=3
    )

    assert again.operation_id == first.operation_id
    assert again == first
    assert len(world.control.calls) == 1


async def test_repeat_while_running_joins_the_same_operation(world: World) -> None:
    world.control.held.add("slow-2")
    first = await world.execute(
        kind=CLAIM, wanted_id="slow-2", idempotency_key="key-2", wait_seconds=1
    )
    assert first.status == common_pb2.OPERATION_STATUS_RUNNING
    repeat = await world.execute(
        kind=CLAIM, wanted_id="slow-2", idempotency_key="key-2", wait_seconds=1
    )
    assert repeat.operation_id == first.operation_id
    assert repeat.status == common_pb2.OPERATION_STATUS_RUNNING
    world.control.release.set()
    await wait_until_finished(world, first.operation_id)
    assert len(world.control.calls) == 1


async def test_same_key_with_a_different_request_is_refused(world: World) -> None:
    await world.execute(kind=CLAIM, wanted_id="w-1", idempotency_key="key-3")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await world.execute(kind=CLAIM, wanted_id="w-2", idempotency_key="key-3")
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    [detail] = rpc_error_details(caught.value)
    bad = error_details_pb2.BadRequest()
    detail.Unpack(bad)
    assert bad.field_violations[0].field == "idempotency_key"
    assert len(world.control.calls) == 1


# --- failures ----------------------------------------------------------------------------


async def test_failed_result_answers_its_grpc_code_and_is_stored(world: World) -> None:
    world.control.taken.add("taken-1")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await world.execute(kind=CLAIM, wanted_id="taken-1", idempotency_key="key-4")
    assert caught.value.code() == grpc.StatusCode.ABORTED
    assert "already claimed" in (caught.value.details() or "")

    # The repeat gets the same stored failure without running `wl` again.
    with pytest.raises(grpc.aio.AioRpcError) as repeat:
        await world.execute(kind=CLAIM, wanted_id="taken-1", idempotency_key="key-4")
    assert repeat.value.code() == grpc.StatusCode.ABORTED
    assert len(world.control.calls) == 1
    # A failed claim refreshes nothing.
    assert world.board.refreshed == []


async def test_control_server_errors_become_failed_results(world: World) -> None:
    world.control.raise_code["gone-1"] = errors.NotFound("wanted item gone-1 not found")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await world.execute(kind=CLAIM, wanted_id="gone-1")
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert "gone-1 not found" in (caught.value.details() or "")


async def test_board_refresh_failure_does_not_fail_the_operation(world: World) -> None:
    world.board.fail = True
    result = await world.execute(kind=CLAIM, wanted_id="w-1")
    assert result.status == common_pb2.OPERATION_STATUS_SUCCEEDED
    assert world.board.refreshed == ["w1"]  # it was tried
    stored = await world.operation(result.operation_id)
    assert stored.status == common_pb2.OPERATION_STATUS_SUCCEEDED


async def test_registry_refusals_pass_through(world: World) -> None:
    # bob may see w1 but has connected no DoltHub credential.
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await world.execute(user="bob", kind=CLAIM, wanted_id="w-1")
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "connect DoltHub first" in (caught.value.details() or "")
    # carol may not see w1 at all.
    with pytest.raises(grpc.aio.AioRpcError) as hidden:
        await world.execute(user="carol", kind=CLAIM, wanted_id="w-1")
    assert hidden.value.code() == grpc.StatusCode.NOT_FOUND
    assert world.control.calls == []


async def test_workload_that_cannot_start_is_unavailable_and_retryable(world: World) -> None:
    world.runtime.fail_start = True
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await world.execute(kind=CLAIM, wanted_id="w-1", idempotency_key="key-5")
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    assert any(
        d.Is(error_details_pb2.RetryInfo.DESCRIPTOR) for d in rpc_error_details(caught.value)
    )
    status = await world.executor.GetRuntime(
        executor_pb2.GetRuntimeRequest(wasteland_id="w1"), metadata=world.md(), timeout=10
    )
    assert status.runtime.state == common_pb2.RUNTIME_STATE_FAILED
    # Nothing ran, so a retry with the same key runs the operation.
    world.runtime.fail_start = False
    result = await world.execute(kind=CLAIM, wanted_id="w-1", idempotency_key="key-5")
    assert result.status == common_pb2.OPERATION_STATUS_SUCCEEDED
    assert len(world.control.calls) == 1


# --- joins -------------------------------------------------------------------------------


async def test_join_records_the_new_rig(world: World) -> None:
    world.registry.credentials[("w2", "alice")] = (TOKEN, "alice", "alice-w2")
    result = await world.execute(wasteland_id="w2", kind=common_pb2.OPERATION_KIND_JOIN)
    assert result.status == common_pb2.OPERATION_STATUS_SUCCEEDED
    assert world.registry.recorded_rigs == [("w2", "alice", "alice-w2")]
    # Already registered now: a second join records nothing new.
    await world.execute(wasteland_id="w2", kind=common_pb2.OPERATION_KIND_JOIN)
    assert len(world.registry.recorded_rigs) == 1


# --- the activity log ---------------------------------------------------------------------


async def test_actions_are_recorded_with_their_actor_request_id_and_pull_request(
    world: World,
) -> None:
    world.control.pull_request_url = "https://www.dolthub.com/repositories/hop/wl-commons/pulls/7"
    claimed = await world.execute(
        kind=CLAIM, wanted_id="w-1", idempotency_key="k-1", request_id="req-claim"
    )
    # A repeat answered from the idempotency store records nothing again.
    await world.execute(kind=CLAIM, wanted_id="w-1", idempotency_key="k-1", request_id="req-2")
    world.registry.credentials[("w2", "alice")] = (TOKEN, "alice", "alice-w2")
    await world.execute(
        wasteland_id="w2", kind=common_pb2.OPERATION_KIND_JOIN, request_id="req-join"
    )
    await world.execute(kind=common_pb2.OPERATION_KIND_SYNC, request_id="req-sync")
    await world.execute(
        kind=common_pb2.OPERATION_KIND_DONE,
        wanted_id="w-1",
        args=common_pb2.OperationArgs(evidence="https://example.com/pr/1"),
        request_id="req-done",
    )
    K = activity_pb2
    assert [(a.wasteland_id, a.kind, a.actor, a.request_id) for a in world.board.activities] == [
        ("w1", K.ACTIVITY_KIND_WOKE, "alice", "req-claim"),
        ("w1", K.ACTIVITY_KIND_CLAIMED, "alice", "req-claim"),
        ("w2", K.ACTIVITY_KIND_WOKE, "alice", "req-join"),
        ("w2", K.ACTIVITY_KIND_RIG_REGISTERED, "alice", "req-join"),
        ("w1", K.ACTIVITY_KIND_FORK_SYNCED, "alice", "req-sync"),
        ("w1", K.ACTIVITY_KIND_DONE, "alice", "req-done"),
    ]
    claim = world.board.activities[1]
    assert (claim.wanted_id, claim.pull_id) == ("w-1", "7")
    assert claim.event_id == f"{claimed.operation_id}:claimed"
    assert world.board.activities[3].detail == "registered the rig alice-w2"
    assert world.board.activities[4].detail == "checked their fork: already up to date"
    assert world.board.activities[5].detail == "marked w-1 done (evidence https://example.com/pr/1)"
    assert all(TOKEN not in str(a) for a in world.board.activities)


async def test_a_failed_action_records_nothing_but_the_wake(world: World) -> None:
    world.control.taken.add("w-9")
    with pytest.raises(grpc.aio.AioRpcError):
        await world.execute(kind=CLAIM, wanted_id="w-9")
    assert [a.kind for a in world.board.activities] == [activity_pb2.ACTIVITY_KIND_WOKE]


# --- identity and validation -------------------------------------------------------------


async def test_calls_need_a_known_service_and_a_user(world: World) -> None:
    request = executor_pb2.ExecuteRequest(wasteland_id="w1", kind=CLAIM, wanted_id="w-1")
    user_only = [("authorization", "Bearer " + mint_user_token("alice", secret=JWT_SECRET))]
    with pytest.raises(grpc.aio.AioRpcError) as no_service:
        await world.executor.Execute(request, metadata=user_only, timeout=10)
    assert no_service.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.aio.AioRpcError) as no_user:
        await world.executor.Execute(request, metadata=world.md(user=None), timeout=10)
    assert no_user.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert world.control.calls == []


@pytest.mark.parametrize(
    ("fields", "bad_field"),
    [
        ({"kind": CLAIM}, "wanted_id"),
        ({"kind": CLAIM, "wanted_id": "../etc"}, "wanted_id"),
        ({"kind": common_pb2.OPERATION_KIND_UNSPECIFIED}, "kind"),
        ({"kind": CLAIM, "wanted_id": "w-1", "wasteland_id": ""}, "wasteland_id"),
        ({"kind": CLAIM, "wanted_id": "w-1", "wasteland_id": "a/b"}, "wasteland_id"),
        ({"kind": CLAIM, "wanted_id": "w-1", "idempotency_key": "has space"}, "idempotency_key"),
        ({"kind": CLAIM, "wanted_id": "w-1", "wait_seconds": -1}, "wait_seconds"),
    ],
)
async def test_invalid_requests_name_the_field(
    world: World, fields: dict[str, Any], bad_field: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await world.execute(**fields)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    bad = error_details_pb2.BadRequest()
    rpc_error_details(caught.value)[0].Unpack(bad)
    assert bad.field_violations[0].field == bad_field


# --- runtime RPCs ------------------------------------------------------------------------


async def test_wake_get_and_stop_runtime(world: World) -> None:
    before = await world.executor.GetRuntime(
        executor_pb2.GetRuntimeRequest(wasteland_id="w2"), metadata=world.md(), timeout=10
    )
    assert before.runtime.state == common_pb2.RUNTIME_STATE_SLEEPING
    woke = await world.executor.WakeRuntime(
        executor_pb2.WakeRuntimeRequest(wasteland_id="w2"), metadata=world.md(), timeout=10
    )
    assert woke.runtime.state == common_pb2.RUNTIME_STATE_RUNNING
    assert world.runtime.running() == ["w2"]

    # A user who cannot see the wasteland learns nothing about it.
    with pytest.raises(grpc.aio.AioRpcError) as hidden:
        await world.executor.GetRuntime(
            executor_pb2.GetRuntimeRequest(wasteland_id="w2"), metadata=world.md("bob"), timeout=10
        )
    assert hidden.value.code() == grpc.StatusCode.NOT_FOUND

    # A contributor may not stop it; the gateway (on delete) may.
    with pytest.raises(grpc.aio.AioRpcError) as denied:
        await world.executor.StopRuntime(
            executor_pb2.StopRuntimeRequest(wasteland_id="w1"), metadata=world.md("bob"), timeout=10
        )
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
    stopped = await world.executor.StopRuntime(
        executor_pb2.StopRuntimeRequest(wasteland_id="w2"), metadata=world.md(None), timeout=10
    )
    assert stopped.runtime.state == common_pb2.RUNTIME_STATE_SLEEPING
    assert world.runtime.running() == []
    # Woken by alice's request, stopped by a service (no user): both in the log.
    assert [(a.kind, a.actor, a.detail) for a in world.board.activities] == [
        (activity_pb2.ACTIVITY_KIND_WOKE, "alice", "the workload woke up"),
        (
            activity_pb2.ACTIVITY_KIND_SLEPT,
            "service:executor",
            "the workload went to sleep (stopped on request)",
        ),
    ]


async def test_a_site_admin_reads_the_runtime_but_never_wakes_it(world: World) -> None:
    root = world.md("root", admin=True)
    seen = await world.executor.GetRuntime(
        executor_pb2.GetRuntimeRequest(wasteland_id="w2"), metadata=root, timeout=10
    )
    assert seen.runtime.state == common_pb2.RUNTIME_STATE_SLEEPING
    with pytest.raises(grpc.aio.AioRpcError) as denied:
        await world.executor.WakeRuntime(
            executor_pb2.WakeRuntimeRequest(wasteland_id="w2"), metadata=root, timeout=10
        )
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert world.runtime.running() == []
    # An admin who owns the wasteland keeps the owner's rights.
    woke = await world.executor.WakeRuntime(
        executor_pb2.WakeRuntimeRequest(wasteland_id="w2"),
        metadata=world.md("alice", admin=True),
        timeout=10,
    )
    assert woke.runtime.state == common_pb2.RUNTIME_STATE_RUNNING


# --- secrets -----------------------------------------------------------------------------


async def test_token_never_reaches_logs_or_the_database(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    world.control.taken.add("taken-2")
    world.control.raise_code["err-1"] = errors.FailedPrecondition(
        f"credential {TOKEN} was rejected"
    )
    await world.execute(kind=CLAIM, wanted_id="w-1", idempotency_key="key-6")
    with pytest.raises(grpc.aio.AioRpcError):
        await world.execute(kind=CLAIM, wanted_id="taken-2")
    with pytest.raises(grpc.aio.AioRpcError) as leaked:
        await world.execute(kind=CLAIM, wanted_id="err-1")
    assert TOKEN not in (leaked.value.details() or "")
    world.board.fail = True
    await world.execute(kind=CLAIM, wanted_id="w-3")
    assert len(world.control.calls) == 4  # the token did travel to the workload

    assert caplog.records, "expected the executor to log its work"
    assert TOKEN not in caplog.text
    for record in caplog.records:
        assert TOKEN not in record.getMessage()
    files = sorted(world.db_dir.glob("executor.db*"))
    assert files
    for path in files:
        assert TOKEN.encode() not in path.read_bytes(), path.name


async def test_pull_decisions_name_a_pull_request_and_may_use_the_upstream_credential(
    world: World,
) -> None:
    merge = common_pb2.OPERATION_KIND_MERGE_PULL
    with pytest.raises(grpc.aio.AioRpcError) as bad:
        await world.execute(kind=merge)
    assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "args.pull_id" in (bad.value.details() or "")
    with pytest.raises(grpc.aio.AioRpcError) as bad:
        await world.execute(kind=merge, wanted_id="w-1", args=common_pb2.OperationArgs(pull_id="7"))
    assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT

    merged = await world.execute(
        kind=merge, args=common_pb2.OperationArgs(pull_id="7", confirm=True)
    )
    assert merged.status == common_pb2.OPERATION_STATUS_SUCCEEDED
    assert merged.kind == merge
    sent = world.control.calls[-1]
    assert (sent.kind, sent.args.pull_id, sent.args.confirm) == (merge, "7", True)
    assert world.board.refreshed == ["w1"]  # the board shows the merge at once
    assert (await world.operation(merged.operation_id)).kind == merge  # stored

    # A maintainer without a credential of their own: only with an upstream credential.
    world.registry.members["w1"]["carol"] = common_pb2.MEMBER_ROLE_MAINTAINER
    close = common_pb2.OPERATION_KIND_CLOSE_PULL
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await world.execute("carol", kind=close, args=common_pb2.OperationArgs(pull_id="8"))
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    world.registry.upstream_tokens["w1"] = "upstream-token-1234"
    closed = await world.execute("carol", kind=close, args=common_pb2.OperationArgs(pull_id="8"))
    assert closed.status == common_pb2.OPERATION_STATUS_SUCCEEDED
    sent = world.control.calls[-1]
    assert sent.credential.dolthub_token == ""
    assert sent.upstream_credential.dolthub_token == "upstream-token-1234"
