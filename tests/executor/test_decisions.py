"""Workload decisions and idempotency over the real store, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
import pytest
import sqlalchemy as sa
from wasteland.v1 import common_pb2
from wasteland_common import errors
from wasteland_common.vocabulary import OperationStatusName
from wl_executor import idempotency, reconcile, results, store
from wl_executor.runtime import Endpoint

from .conftest import FakeClock

Tx = Callable[..., Any]


def op(
    operation_id: str,
    clock: FakeClock,
    *,
    wasteland_id: str = "w1",
    user_id: str = "alice",
    key: str | None = None,
    digest: str = "h1",
    status: OperationStatusName = "running",
) -> store.OperationRecord:
    return store.OperationRecord(
        operation_id=operation_id,
        wasteland_id=wasteland_id,
        user_id=user_id,
        kind="claim",
        wanted_id="w-1",
        idempotency_key=key,
        request_hash=digest,
        status=status,
        result=None,
        created_at=clock(),
        finished_at=None,
    )


def awake(tx: Tx, clock: FakeClock, wasteland_id: str, *, port: int = 5000) -> None:
    """Record ``wasteland_id`` as admitted and running at the clock's time."""
    tx(reconcile.admit, wasteland_id, now=clock(), max_instances=10_000)
    tx(
        reconcile.mark_running,
        wasteland_id,
        Endpoint("127.0.0.1", port, f"i-{wasteland_id}"),
        now=clock(),
    )


def state(tx: Tx, wasteland_id: str) -> str | None:
    record = tx(store.get_runtime, wasteland_id)
    return record.state if record else None


# --- admission and the cap -------------------------------------------------------------


def test_admit_below_cap_records_starting(tx: Tx, clock: FakeClock) -> None:
    admission = tx(reconcile.admit, "w1", now=clock(), max_instances=2)
    assert admission == reconcile.Admission(already_running=False, victims=())
    record = tx(store.get_runtime, "w1")
    assert record.state == "starting"
    assert record.last_activity_at == clock()


def test_admit_already_running_only_touches(tx: Tx, clock: FakeClock) -> None:
    awake(tx, clock, "w1")
    later = clock.advance(60)
    admission = tx(reconcile.admit, "w1", now=later, max_instances=1)
    assert admission.already_running
    record = tx(store.get_runtime, "w1")
    assert record.state == "running"
    assert record.last_activity_at == later


def test_cap_evicts_least_recently_used_idle(tx: Tx, clock: FakeClock) -> None:
    awake(tx, clock, "old")
    clock.advance(10)
    awake(tx, clock, "busy-but-older-than-new", port=5001)
    clock.advance(10)
    awake(tx, clock, "new", port=5002)
    # "busy..." is older than "new" but has an operation in flight.
    tx(store.insert_operation, op("op1", clock, wasteland_id="busy-but-older-than-new"))
    clock.advance(10)
    tx(store.touch_runtime, "old", clock.advance(0))  # now "old" is the most recent...
    clock.advance(10)

    admission = tx(reconcile.admit, "w4", now=clock(), max_instances=3)

    # ...so the least recently used idle one is "new".
    assert admission.victims == ("new",)
    assert state(tx, "new") == "stopping"
    assert state(tx, "old") == "running"
    assert state(tx, "busy-but-older-than-new") == "running"
    assert state(tx, "w4") == "starting"


def test_cap_with_every_workload_busy_is_resource_exhausted(tx: Tx, clock: FakeClock) -> None:
    awake(tx, clock, "a")
    awake(tx, clock, "b", port=5001)
    tx(store.insert_operation, op("op-a", clock, wasteland_id="a"))
    tx(store.insert_operation, op("op-b", clock, wasteland_id="b"))

    with pytest.raises(errors.ResourceExhausted) as caught:
        tx(reconcile.admit, "c", now=clock(), max_instances=2)

    assert caught.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert caught.value.retry_after
    # The refused wake changed nothing.
    assert state(tx, "c") is None
    assert state(tx, "a") == "running"
    assert state(tx, "b") == "running"


def test_starting_workloads_count_against_the_cap(tx: Tx, clock: FakeClock) -> None:
    tx(reconcile.admit, "a", now=clock(), max_instances=1)
    with pytest.raises(errors.ResourceExhausted):
        tx(reconcile.admit, "b", now=clock(), max_instances=1)


def test_finished_operations_do_not_keep_a_workload_busy(tx: Tx, clock: FakeClock) -> None:
    awake(tx, clock, "a")
    tx(store.insert_operation, op("op-a", clock, wasteland_id="a"))
    tx(store.finish_operation, "op-a", status="succeeded", result="{}", now=clock())
    admission = tx(reconcile.admit, "b", now=clock.advance(1), max_instances=1)
    assert admission.victims == ("a",)


# --- idle sleep --------------------------------------------------------------------------


def test_idle_workloads_are_chosen_to_sleep(tx: Tx, clock: FakeClock) -> None:
    awake(tx, clock, "idle")
    awake(tx, clock, "idle-but-busy", port=5001)
    tx(store.insert_operation, op("op1", clock, wasteland_id="idle-but-busy"))
    clock.advance(1700)
    awake(tx, clock, "recent", port=5002)
    clock.advance(101)  # "idle" is now 1801 s without activity, "recent" 101 s

    chosen = tx(reconcile.select_idle, now=clock(), sleep_after_seconds=1800)

    assert chosen == ["idle"]
    assert state(tx, "idle") == "stopping"
    assert state(tx, "idle-but-busy") == "running"
    assert state(tx, "recent") == "running"
    # A second decider does not pick it again.
    assert tx(reconcile.select_idle, now=clock(), sleep_after_seconds=1800) == []


def test_idle_boundary_is_inclusive(tx: Tx, clock: FakeClock) -> None:
    awake(tx, clock, "w1")
    assert tx(reconcile.select_idle, now=clock.advance(1799), sleep_after_seconds=1800) == []
    assert tx(reconcile.select_idle, now=clock.advance(1), sleep_after_seconds=1800) == ["w1"]


def test_finish_sleep_only_from_stopping(tx: Tx, clock: FakeClock) -> None:
    awake(tx, clock, "w1")
    assert tx(reconcile.finish_sleep, "w1", now=clock()) is False
    assert state(tx, "w1") == "running"
    tx(reconcile.select_idle, now=clock.advance(2000), sleep_after_seconds=1800)
    assert tx(reconcile.finish_sleep, "w1", now=clock()) is True
    record = tx(store.get_runtime, "w1")
    assert record.state == "sleeping"
    assert record.endpoint is None
    assert record.instance_id is None


def test_mark_running_keeps_started_at_for_the_same_instance(tx: Tx, clock: FakeClock) -> None:
    first = clock()
    awake(tx, clock, "w1")
    tx(reconcile.mark_running, "w1", Endpoint("127.0.0.1", 5000, "i-w1"), now=clock.advance(5))
    assert tx(store.get_runtime, "w1").started_at == first
    restarted = clock.advance(5)
    tx(reconcile.mark_running, "w1", Endpoint("127.0.0.1", 5009, "i-other"), now=restarted)
    record = tx(store.get_runtime, "w1")
    assert record.started_at == restarted
    assert record.endpoint == "127.0.0.1:5009"


# --- crash recovery ----------------------------------------------------------------------


def test_recovery_after_restart(tx: Tx, clock: FakeClock) -> None:
    awake(tx, clock, "running")
    tx(reconcile.admit, "starting", now=clock(), max_instances=10)
    tx(reconcile.mark_failed, "failed", "boom", now=clock())
    tx(store.insert_operation, op("op-live", clock, wasteland_id="running"))
    tx(store.insert_operation, op("op-done", clock, wasteland_id="running"))
    tx(store.finish_operation, "op-done", status="succeeded", result="{}", now=clock())

    recovery = tx(reconcile.recover_after_restart, now=clock.advance(1))

    assert set(recovery.runtimes_put_to_sleep) == {"running", "starting"}
    assert recovery.operations_failed == ("op-live",)
    assert state(tx, "running") == "sleeping"
    assert state(tx, "starting") == "sleeping"
    assert state(tx, "failed") == "failed"
    live = tx(store.get_operation, "op-live")
    assert live.status == "failed"
    result = results.from_json(live.result)
    assert result.status == common_pb2.OPERATION_STATUS_FAILED
    assert result.error_code == "UNAVAILABLE"
    assert result.operation_id == "op-live"
    assert tx(store.get_operation, "op-done").status == "succeeded"


# --- idempotency -------------------------------------------------------------------------


def test_same_key_same_request_returns_the_first_operation(tx: Tx, clock: FakeClock) -> None:
    assert tx(store.insert_operation, op("op1", clock, key="k1", digest="h1")) is None
    again = tx(store.insert_operation, op("op2", clock, key="k1", digest="h1"))
    assert again is not None
    assert again.operation_id == "op1"
    assert tx(store.get_operation, "op2") is None
    found = tx(idempotency.lookup, "alice", "k1", "h1")
    assert found.operation_id == "op1"


def test_same_key_different_request_is_invalid_argument(tx: Tx, clock: FakeClock) -> None:
    tx(store.insert_operation, op("op1", clock, key="k1", digest="h1"))
    with pytest.raises(errors.InvalidArgument) as caught:
        tx(idempotency.lookup, "alice", "k1", "h2")
    assert caught.value.violations[0].field == "idempotency_key"
    assert "different request" in caught.value.violations[0].description


def test_keys_are_per_user_and_optional(tx: Tx, clock: FakeClock) -> None:
    tx(store.insert_operation, op("op1", clock, key="k1"))
    assert tx(store.insert_operation, op("op2", clock, key="k1", user_id="bob")) is None
    assert tx(idempotency.lookup, "carol", "k1", "h1") is None
    # Operations without a key never collide.
    assert tx(store.insert_operation, op("op3", clock)) is None
    assert tx(store.insert_operation, op("op4", clock)) is None


def test_request_hash_ignores_key_and_wait() -> None:
    from wasteland.v1 import executor_pb2

    base = executor_pb2.ExecuteRequest(
        wasteland_id="w1", kind=common_pb2.OPERATION_KIND_CLAIM, wanted_id="w-1"
    )
    same = executor_pb2.ExecuteRequest()
    same.CopyFrom(base)
    same.idempotency_key = "k"
    same.wait_seconds = 7
    other = executor_pb2.ExecuteRequest()
    other.CopyFrom(base)
    other.wanted_id = "w-2"
    assert idempotency.request_hash(base) == idempotency.request_hash(same)
    assert idempotency.request_hash(base) != idempotency.request_hash(other)


def test_database_refuses_unknown_states(tx: Tx, clock: FakeClock) -> None:
    with pytest.raises(sa.exc.IntegrityError):
        tx(store.set_runtime, "w1", state="dozing", now=clock())
    with pytest.raises(sa.exc.IntegrityError):
        tx(store.insert_operation, op("op1", clock, status="maybe"))  # type: ignore[arg-type]
